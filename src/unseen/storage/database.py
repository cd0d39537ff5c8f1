"""Opening the node's database, claiming it for one node, and bringing its schema up to date with Alembic.

Two databases are supported, with one migration history: SQLite (the default, a file in the node's home) and
PostgreSQL through psycopg 3 (``postgresql+psycopg://...``, the ``postgres`` extra). A node owns its database:
it keeps job statuses in memory as it writes them (``NodeStore.job_status``), which is only right while no
other process writes the same rows. So a node claims the database at start (``claim_database``) and a second
node pointed at the same database is refused before it migrates or writes anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, MetaData, create_engine, event, text
from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from unseen.storage.urls import DatabaseError, parse_database_url

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# PostgreSQL: connections one node opens at most (pool plus overflow), besides the one that holds its claim.
PG_POOL_SIZE = 5
PG_MAX_OVERFLOW = 15
PG_CONNECT_TIMEOUT_S = 10
# The advisory lock that marks a PostgreSQL schema as a node's: (class, object) = (this, hash of the schema).
_ADVISORY_CLASS = 0x756E73  # "uns"


def open_engine(url: str) -> Engine:
    """An engine tuned for a node: SQLite in WAL mode so the API reads while tasks' states are written;
    PostgreSQL with a bounded pool, a connect timeout and dead connections replaced."""
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    else:
        try:
            engine = create_engine(
                parsed,
                pool_pre_ping=True,
                pool_size=PG_POOL_SIZE,
                max_overflow=PG_MAX_OVERFLOW,
                connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
            )
        except (ModuleNotFoundError, NoSuchModuleError):
            raise DatabaseError(
                "database_url names PostgreSQL, but its driver is not installed: pip install 'unseen[postgres]'"
            ) from None
    event.listen(engine, "before_cursor_execute", _no_nul_in_text, retval=True)
    return engine


def _no_nul_in_text(
    _connection: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _executemany: bool
) -> tuple[str, Any]:
    """PostgreSQL's text cannot hold U+0000 (psycopg refuses the whole statement). Text that reaches the
    database from a partner (a task's failure reason) or a browser (a login name) may contain it, so every
    parameter has it replaced by U+FFFD, on both databases alike: they store the same string, and a NUL in
    received text never turns a write into an error."""
    return statement, _clean(parameters)


def _clean(parameters: Any) -> Any:
    if isinstance(parameters, str):
        return parameters.replace("\x00", "\ufffd") if "\x00" in parameters else parameters
    if isinstance(parameters, Mapping):
        return {key: _clean(value) for key, value in parameters.items()}
    if isinstance(parameters, Sequence) and not isinstance(parameters, bytes | bytearray | memoryview):
        return type(parameters)(_clean(value) for value in parameters)  # type: ignore[call-arg]
    return parameters


class DatabaseClaim:
    """Proof that this process is the one node using a database, held until ``release`` or process exit.

    PostgreSQL: a session-level advisory lock on the node's schema, held by a connection of its own (the
    server drops it when that connection ends, so a killed node frees its database at once). SQLite: an
    exclusive ``flock`` on ``<database>.lock`` beside the file (the kernel drops it when the process ends).
    """

    def __init__(self, connection: Connection | None = None, lock_file: int | None = None) -> None:
        self._connection = connection
        self._lock_file = lock_file

    def renew(self) -> bool:
        """Check that the claim still holds; True if it had been lost and was taken again.

        A PostgreSQL restart (or an administrator's ``pg_terminate_backend``) ends the connection that held
        the lock, and the lock with it. This takes it again on a new connection, or raises DatabaseError if
        another node took it meanwhile (SQLAlchemyError if the server cannot be reached yet)."""
        if self._connection is None:
            return False  # SQLite's file lock cannot be lost while the process lives
        try:
            self._connection.execute(text("SELECT 1")).scalar_one()
            self._connection.rollback()
            return False
        except SQLAlchemyError:
            engine = self._connection.engine
            with contextlib.suppress(SQLAlchemyError):
                self._connection.close()
            self._connection = _take_advisory_lock(engine)
            return True

    def release(self) -> None:
        if self._connection is not None:
            engine = self._connection.engine
            self._connection.close()
            engine.dispose()
            self._connection = None
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None


def claim_database(url: str, who: str) -> DatabaseClaim:
    """Claim the database at ``url`` for this node (``who`` names it to a second node), or raise
    DatabaseError naming who holds it. An in-memory SQLite database is private to its process already."""
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            return DatabaseClaim()
        return DatabaseClaim(lock_file=_flock(Path(parsed.database + ".lock"), who))
    engine = create_engine(
        parsed, poolclass=NullPool, connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S, "application_name": who}
    )
    try:
        return DatabaseClaim(connection=_take_advisory_lock(engine))  # the lock lives as long as the connection
    except BaseException:
        engine.dispose()
        raise


def _take_advisory_lock(engine: Engine) -> Connection:
    connection = engine.connect()
    try:
        key = {"cls": _ADVISORY_CLASS}
        taken = connection.execute(
            text("SELECT pg_try_advisory_lock(:cls, hashtext(current_schema()))"), key
        ).scalar_one()
        if not taken:
            holder = connection.execute(
                text(
                    "SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.classid = :cls AND l.objid = hashtext(current_schema())::oid "
                    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                key,
            ).first()
            named = f"'{holder[0]}' (server pid {holder[1]})" if holder else "another node"
            raise DatabaseError(
                f"the database is in use by {named}: a node owns its database alone; "
                "stop that node, or give this one a database (or schema) of its own"
            )
        connection.commit()
    except BaseException:
        connection.close()
        raise
    return connection


def _flock(path: Path, who: str) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise DatabaseError(f"the SQLite database cannot be opened in {path.parent}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 256, 0).decode("utf-8", "replace").strip() or "another node"
        os.close(fd)
        raise DatabaseError(
            f"the database is in use by {holder} (it holds {path}): a node owns its database alone; "
            "stop that node, or give this one a database of its own"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{who} (pid {os.getpid()})\n".encode(), 0)
    return fd


def all_metadata() -> MetaData:
    """Every table the node's database holds, the board's included: what migrations must create, and what
    Alembic's autogenerate compares against (a model it cannot see would be dropped by the next revision)."""
    import unseen.storage.board_tables  # noqa: F401  (registers the board's tables on Base)
    from unseen.storage.models import Base

    return Base.metadata


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Apply every migration not yet applied; an up-to-date database is left untouched."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Undo migrations down to ``revision`` (an operator's way back to an older version, see operations.md)."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
