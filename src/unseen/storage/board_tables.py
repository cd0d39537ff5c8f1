"""The board's tables: users, their login sessions, and recent login attempts (for rate limiting).

They live in the node's database beside jobs and tasks (migration 0003), so a node keeps one source of
truth and a restart keeps users and sessions. They are declared here, in storage, with every other table:
migrations see them without importing the board (which sits above storage and the node). Passwords are
stored as argon2 hashes only; sessions are stored as the SHA-256 of their id, so a copy of the database does
not yield a usable cookie.
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from unseen.storage.models import Base


class BoardUser(Base):
    """A person who may log in to this node's board."""

    __tablename__ = "board_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[float] = mapped_column(Float)
    password_changed_at: Mapped[float] = mapped_column(Float)


class BoardSession(Base):
    """A logged-in browser: found by the hash of its cookie, ended by idle time, age, logout or a new password."""

    __tablename__ = "board_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie value
    user_id: Mapped[int] = mapped_column(ForeignKey("board_users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    last_seen_at: Mapped[float] = mapped_column(Float)


class LoginAttempt(Base):
    """A failed login, kept for the rate-limit window; a successful login clears its (user, address) pair."""

    __tablename__ = "board_login_attempts"
    __table_args__ = (Index("ix_board_login_attempts_who", "username", "ip", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float)
