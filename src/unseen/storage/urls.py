"""Which database URLs a node accepts: checked when its config is read, before anything connects."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import URL

SUPPORTED = "sqlite:///path/to/node.db or postgresql+psycopg://user@host/database"


class DatabaseError(RuntimeError):
    """The node's database cannot be used: an unsupported URL, a missing driver, or another node owns it."""


def parse_database_url(url: str) -> URL:
    """The URL as SQLAlchemy reads it, if it names a supported database; ``postgresql://`` means psycopg 3.

    The error never repeats the URL: it may carry a password. SQLAlchemy is imported here, not at the top: the
    CLI reads node configs and must not pay for it."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"database_url is not a database URL; expected {SUPPORTED}") from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "sqlite" and driver == "pysqlite":
        return parsed
    if backend == "postgresql" and (driver == "psycopg" or parsed.drivername == "postgresql"):
        return parsed.set(drivername="postgresql+psycopg")
    raise DatabaseError(f"database_url names {parsed.drivername!r}, which Unseen does not support; use {SUPPORTED}")
