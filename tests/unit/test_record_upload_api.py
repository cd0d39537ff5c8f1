"""The record-upload endpoint: a chunked body (no Content-Length) is still held to the upload limit, and nothing of
a refused upload stays on disk."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from unseen.datasets import cifar10
from unseen.ids import IdentifierError
from unseen.node import data_api
from unseen.node.api import identifier_refused
from unseen.node.data import DataService
from unseen.storage.database import migrate, open_engine
from unseen.storage.repository import NodeStore
from unseen.storage.tables import TableStore


@contextmanager
def _client(tmp_path: Path, limit: int = 2 * 1024**3) -> Iterator[tuple[TestClient, TableStore]]:
    """A table router over a real database and table store, uploads limited to ``limit`` bytes."""
    engine = open_engine(f"sqlite:///{tmp_path / 'node.db'}")
    migrate(engine)
    tables = TableStore(tmp_path / "tables")
    app = FastAPI()
    app.add_exception_handler(IdentifierError, identifier_refused)
    app.include_router(data_api.data_router(DataService(NodeStore(engine), tables), tmp_path / "uploads", limit))
    with TestClient(app) as http:
        yield http, tables
    engine.dispose()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, TableStore]]:
    with _client(tmp_path) as made:
        yield made


def _chunks(content: bytes, size: int = 4096) -> Iterator[bytes]:
    for start in range(0, len(content), size):
        yield content[start : start + size]


def test_a_chunked_body_over_the_limit_is_refused(tmp_path: Path) -> None:
    data = cifar10.synthetic(5)
    cifar10.write_batch(tmp_path / "b.bin", data.images, data.labels)
    content = (tmp_path / "b.bin").read_bytes()
    params = {"id_column": "id", "format": "cifar10-bin", "source": "b.bin"}
    with _client(tmp_path, limit=len(content) - 1) as (http, tables):
        refused = http.put("/tables/cifar.big", content=_chunks(content), params=params)
        assert refused.status_code == 413 and "limited to" in refused.json()["detail"]
        assert not tables.exists("cifar.big")
        assert [p.name for p in tables.root.rglob("*") if p.is_file()] == []
    with _client(tmp_path, limit=len(content)) as (http, _):
        stored = http.put("/tables/cifar.big", content=_chunks(content), params=params)
        assert stored.status_code == 201, stored.text
        assert stored.json()["rows"] == 5 and stored.json()["label_column"] == "label"


def test_a_hostile_source_name_is_not_echoed(client: tuple[TestClient, TableStore]) -> None:
    http, _ = client
    params = {"id_column": "id", "format": "criteo-tsv", "source": "../../etc/passwd\nFAKE LOG LINE"}
    refused = http.put("/tables/criteo.x", content=b"1\t2\n", params=params)
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("the uploaded file: line 1 has 2 tab-separated fields")
    bad_name = http.put("/tables/no_namespace", content=b"", params=params)
    assert bad_name.status_code == 422 and "namespace.name" in bad_name.json()["detail"]["message"]
