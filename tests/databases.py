"""The databases the storage and a few integration tests run on: SQLite always, PostgreSQL when
``UNSEEN_TEST_POSTGRES_URL`` names a server (CI always sets it: ``scripts/with-postgres`` starts a private
cluster). Each test gets a database of its own on that server, dropped after it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

POSTGRES_ENV = "UNSEEN_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]
SKIP_REASON = f"PostgreSQL: {POSTGRES_ENV} is not set (run `bash scripts/with-postgres bash scripts/test` to set it)"


def postgres_server_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """The URL of a new, empty database on the test server; dropped (connections and all) afterwards."""
    server = postgres_server_url()
    if server is None:
        if os.environ.get("UNSEEN_REQUIRE_POSTGRES"):
            pytest.fail(f"UNSEEN_REQUIRE_POSTGRES is set, but {POSTGRES_ENV} is not", pytrace=False)
        pytest.skip(SKIP_REASON)
    name = f"unseen_test_{secrets.token_hex(6)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """A new, empty database of ``backend`` ('sqlite': a file in ``folder``; 'postgresql')."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'node.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url
