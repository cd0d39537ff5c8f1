"""Who may use the board: users with argon2-hashed passwords, server-side sessions, CSRF tokens, rate limits.

Why it is built this way:

- **No default password.** A well-known default is the first thing an attacker tries, so the first start
  makes ``admin`` with a random password, logs it once and writes it to a file only the node's owner can
  read. ``unseen board passwd`` replaces it and deletes that file.
- **argon2id** (``argon2-cffi``) makes each guess slow and memory-hungry; hashes carry their own salt and
  parameters, and are upgraded on the next login when the parameters change.
- **Server-side sessions.** The cookie is a random id; the database keeps only its SHA-256, so sessions
  can be ended at once (logout, new password, idle time) and a database copy holds no usable cookie.
- **CSRF.** Cookies are ``SameSite=Strict`` and every state-changing form also carries a per-session token
  that a foreign page cannot read.
- **Rate limit.** Failed logins are counted per (user name, client address) in the database, so guessing
  stays slow across restarts; unknown user names are counted and hashed like real ones, so answers and
  timing do not reveal which users exist. Failures are also counted per user name over all addresses, so
  a guesser with many addresses (or forged ones) locks the account instead of getting 5 tries for each;
  while locked, the right password is refused too. The client address is the TCP peer unless the node
  lists trusted proxies (``trusted_proxies``): a forwarding header from anyone else is ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from unseen.storage.board_tables import BoardSession, BoardUser, LoginAttempt

ADMIN_USER = "admin"
PASSWORD_FILE = "board-admin.password"  # noqa: S105 - a file name, not a secret
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024  # hashing cost grows with length; nobody types more
SESSION_IDLE_S = 8 * 3600.0
SESSION_MAX_S = 7 * 24 * 3600.0
SESSION_TOUCH_S = 60.0  # how stale last_seen_at may get before it is written again
LOGIN_WINDOW_S = 15 * 60.0
LOGIN_MAX_FAILURES = 5  # per (user name, client address)
LOGIN_MAX_USER_FAILURES = 20  # per user name, from all addresses together: the account is then locked
HASHING_AT_ONCE = 4  # each argon2 hash takes 64 MiB: bound the memory a burst of logins can take


class LoginError(Exception):
    """A login was refused; the message is safe to show (it never says whether the user exists)."""


class WrongPasswordError(LoginError):
    def __init__(self) -> None:
        super().__init__("wrong user name or password")


class RateLimitedError(LoginError):
    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = max(1, int(retry_after_s + 0.999))
        minutes = max(1, round(self.retry_after_s / 60))
        super().__init__(f"too many wrong passwords for this user; try again in about {minutes} min")


class WeakPasswordError(ValueError):
    """A new password does not meet the policy; the message says what to change."""


class UnknownUserError(LookupError):
    pass


@dataclass(frozen=True)
class ActiveSession:
    """A valid session, as a request sees it."""

    user_id: int
    username: str
    csrf_token: str


@dataclass(frozen=True)
class NewSession:
    """What a successful login hands the browser: the cookie value (shown once) and the CSRF token."""

    session_id: str
    csrf_token: str
    username: str


def check_password_policy(username: str, password: str) -> None:
    """Long enough to resist guessing offline should hashes leak; the policy stays simple so people follow it."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPasswordError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise WeakPasswordError(f"the password must have at most {MAX_PASSWORD_CHARS} characters")
    if password.strip().lower() == username.strip().lower():
        raise WeakPasswordError("the password must differ from the user name")
    if password != password.strip():
        raise WeakPasswordError("the password must not start or end with spaces (they are easy to mistype)")


def generate_password() -> str:
    """A random password a person can still copy: 16 URL-safe characters, about 96 bits."""
    return secrets.token_urlsafe(12)


def _session_key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _normal(username: str) -> str:
    return username.strip().lower()[:64]


def write_secret_file(path: Path, text: str) -> None:
    """Write ``text`` to a file created readable by its owner only (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


class BoardAuth:
    """Users, sessions and login attempts, in the node's database.

    ``sessions`` opens a database session (``NodeStore.session``); ``clock`` and ``hasher`` are injectable
    so tests can move time and hash fast.
    """

    def __init__(
        self,
        sessions: Callable[[], Session],
        hasher: PasswordHasher | None = None,
        clock: Callable[[], float] = time.time,
        idle_s: float = SESSION_IDLE_S,
        max_age_s: float = SESSION_MAX_S,
        window_s: float = LOGIN_WINDOW_S,
        max_failures: int = LOGIN_MAX_FAILURES,
        max_user_failures: int = LOGIN_MAX_USER_FAILURES,
    ) -> None:
        self._sessions = sessions
        self._hasher = hasher or PasswordHasher()
        self._clock = clock
        self.idle_s = idle_s
        self.max_age_s = max_age_s
        self.window_s = window_s
        self.max_failures = max_failures
        self.max_user_failures = max_user_failures
        self._dummy_hash: str | None = None
        self._hashing = threading.BoundedSemaphore(HASHING_AT_ONCE)

    # users ----------------------------------------------------------------------------------------------
    def has_users(self) -> bool:
        with self._sessions() as db:
            return bool(db.scalar(select(func.count()).select_from(BoardUser)))

    def ensure_admin(self, password_file: Path) -> str | None:
        """On a node's first start, create ``admin`` with a random password; returns it then, else None.

        The password is also written (mode 0600) to ``password_file`` so the node's owner can find it with
        ``unseen board open`` after the log has scrolled away.
        """
        if self.has_users():
            return None
        password = generate_password()
        self.add_user(ADMIN_USER, password, check_policy=False)
        write_secret_file(password_file, password + "\n")
        return password

    def add_user(self, username: str, password: str, check_policy: bool = True) -> None:
        name = _normal(username)
        if not name:
            raise ValueError("a user name is required")
        if check_policy:
            check_password_policy(name, password)
        now = self._clock()
        with self._sessions() as db, db.begin():
            db.add(
                BoardUser(username=name, password_hash=self._hash(password), created_at=now, password_changed_at=now)
            )

    def set_password(self, username: str, password: str) -> None:
        """Replace a user's password and end all of their sessions (a stolen cookie dies with the old password)."""
        name = _normal(username)
        check_password_policy(name, password)
        digest = self._hash(password)
        with self._sessions() as db, db.begin():
            user = db.scalars(select(BoardUser).where(BoardUser.username == name)).first()
            if user is None:
                raise UnknownUserError(f"no board user named '{name}'")
            user.password_hash = digest
            user.password_changed_at = self._clock()
            db.execute(delete(BoardSession).where(BoardSession.user_id == user.id))

    def _hash(self, password: str) -> str:
        with self._hashing:
            return self._hasher.hash(password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        if password_hash is None:
            # Spend the same time as for a real user, so timing does not reveal which names exist.
            if self._dummy_hash is None:
                self._dummy_hash = self._hash(secrets.token_urlsafe(16))
            with self._hashing, contextlib.suppress(VerificationError):
                self._hasher.verify(self._dummy_hash, password)
            return False
        try:
            with self._hashing:
                return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    # logging in -----------------------------------------------------------------------------------------
    def retry_after(self, username: str, ip: str) -> float | None:
        """Seconds until ``username`` may try again from ``ip``, or None if it may try now.

        Two limits: ``max_failures`` for this user from this address, and ``max_user_failures`` for this
        user from all addresses together. In both, the oldest of the counted failures must leave the window
        before another try."""
        now = self._clock()
        since = now - self.window_s
        name = _normal(username)
        with self._sessions() as db:
            recent = select(LoginAttempt.at).where(LoginAttempt.username == name, LoginAttempt.at > since)
            pair = list(
                db.scalars(
                    recent.where(LoginAttempt.ip == ip[:64]).order_by(LoginAttempt.at.desc()).limit(self.max_failures)
                )
            )
            user = list(db.scalars(recent.order_by(LoginAttempt.at.desc()).limit(self.max_user_failures)))
        waits = [
            failures[-1] + self.window_s - now
            for failures, limit in ((pair, self.max_failures), (user, self.max_user_failures))
            if len(failures) >= limit
        ]
        return max(waits) if waits else None

    def login(self, username: str, password: str, ip: str) -> NewSession:
        """Check a password and open a session; raises ``RateLimitedError`` or ``WrongPasswordError``."""
        name, ip = _normal(username), ip[:64]
        wait = self.retry_after(name, ip)
        if wait is not None:
            raise RateLimitedError(wait)
        if len(password) > MAX_PASSWORD_CHARS:
            password = password[:MAX_PASSWORD_CHARS]  # refused below all the same, without hashing megabytes
        with self._sessions() as db:
            found = db.execute(select(BoardUser.id, BoardUser.password_hash).where(BoardUser.username == name)).first()
        user_id, password_hash = (found[0], found[1]) if found is not None else (None, None)
        now = self._clock()
        if not self._verify(password_hash, password) or user_id is None or password_hash is None:
            with self._sessions() as db, db.begin():
                db.add(LoginAttempt(username=name, ip=ip, at=now))
                db.execute(delete(LoginAttempt).where(LoginAttempt.at <= now - self.window_s))
            raise WrongPasswordError()
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        with self._sessions() as db, db.begin():
            if self._hasher.check_needs_rehash(password_hash):
                db.execute(update(BoardUser).where(BoardUser.id == user_id).values(password_hash=self._hash(password)))
            db.execute(delete(LoginAttempt).where(LoginAttempt.username == name, LoginAttempt.ip == ip))
            self._prune(db, now)
            db.add(
                BoardSession(
                    id_hash=_session_key(session_id), user_id=user_id, csrf_token=csrf, created_at=now, last_seen_at=now
                )
            )
        return NewSession(session_id, csrf, name)

    def _prune(self, db: Session, now: float) -> None:
        db.execute(
            delete(BoardSession).where(
                (BoardSession.last_seen_at <= now - self.idle_s) | (BoardSession.created_at <= now - self.max_age_s)
            )
        )

    # sessions -------------------------------------------------------------------------------------------
    def session(self, session_id: str | None) -> ActiveSession | None:
        """The live session behind a cookie, or None; an expired one is deleted, a live one is kept alive."""
        if not session_id or len(session_id) > 128:
            return None
        key = _session_key(session_id)
        now = self._clock()
        with self._sessions() as db, db.begin():
            row = db.execute(
                select(BoardSession, BoardUser.username)
                .join(BoardUser, BoardUser.id == BoardSession.user_id)
                .where(BoardSession.id_hash == key)
            ).first()
            if row is None:
                return None
            record, username = row
            if now - record.last_seen_at >= self.idle_s or now - record.created_at >= self.max_age_s:
                db.delete(record)
                return None
            if now - record.last_seen_at >= SESSION_TOUCH_S:
                record.last_seen_at = now
            return ActiveSession(record.user_id, username, record.csrf_token)

    def logout(self, session_id: str | None) -> None:
        if session_id:
            with self._sessions() as db, db.begin():
                db.execute(delete(BoardSession).where(BoardSession.id_hash == _session_key(session_id)))


def csrf_ok(active: ActiveSession, presented: str | None) -> bool:
    """Whether a form carried its session's CSRF token (compared in constant time)."""
    return bool(presented) and secrets.compare_digest(active.csrf_token.encode(), (presented or "").encode())
