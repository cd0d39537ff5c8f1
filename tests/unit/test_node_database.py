"""Tests for how a node opens its database at start (unseen.node.server._open_database): every way it can
fail is one clear NodeStartError, never a traceback; the claim is released when the start fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from unseen.config.node import NodeConfig
from unseen.node.server import NodeStartError, _open_database
from unseen.storage.database import claim_database, migrate, open_engine


def node_config(tmp_path: Path, url: str) -> NodeConfig:
    return NodeConfig.model_validate(
        {
            "party_id": 9999,
            "home": str(tmp_path),
            "rest_port": 19380,
            "federation_port": 19381,
            "database_url": url,
            "tls": {"cert": "c.pem", "key": "k.pem"},
        }
    )


def test_a_schema_newer_than_this_version_is_refused_with_the_way_out(database_url: str, tmp_path: Path) -> None:
    engine = open_engine(database_url)
    migrate(engine)
    with engine.begin() as connection:  # as a later version of Unseen would leave it
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(NodeStartError, match=r"schema is newer than this version.*'0099'.*operations.md"):
        _open_database(node_config(tmp_path, database_url))
    claim_database(database_url, "unseen node 9999").release()  # the failed start let go of its claim


def test_an_unreachable_postgresql_server_is_one_line(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://unseen@/unseen?host={tmp_path / 'no-server-here'}"
    with pytest.raises(NodeStartError, match=r"cannot use the database: .*no-server-here") as refused:
        _open_database(node_config(tmp_path, url))
    assert "\n" not in str(refused.value)


def test_the_node_opens_a_migrated_database_and_holds_its_claim(database_url: str, tmp_path: Path) -> None:
    engine, claim = _open_database(node_config(tmp_path, database_url))
    try:
        with pytest.raises(NodeStartError, match=r"in use by .?unseen node 9999"):
            _open_database(node_config(tmp_path, database_url))
    finally:
        claim.release()
        engine.dispose()
