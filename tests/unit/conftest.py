"""Fixtures the unit tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from unseen.storage.database import migrate, open_engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite node database of this test's own (test_repository runs on every backend instead)."""
    engine = open_engine(f"sqlite:///{tmp_path / 'node.db'}")
    migrate(engine)
    yield engine
    engine.dispose()
