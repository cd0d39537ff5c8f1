"""The stored layouts of CIFAR-10 and Criteo uploads: written in a stream, read back exactly, format checked."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from unseen.datasets import cifar10, criteo, record_tables
from unseen.storage.tables import TableStore


def test_cifar_round_trip(tmp_path: Path) -> None:
    data = cifar10.synthetic(30, seed=2)
    cifar10.write_batch(tmp_path / "b.bin", data.images, data.labels)
    written = record_tables.write_cifar_table(tmp_path / "b.bin", tmp_path / "b.parquet", "b.bin")
    assert written.rows == 30 and written.label_type == "multiclass"
    assert written.columns == [
        {"name": "label", "dtype": "int64"},
        {"name": "image", "dtype": "fixed_size_binary[3072]"},
    ]
    back = record_tables.load_cifar_table(tmp_path / "b.parquet")
    assert np.array_equal(back.images, data.images) and np.array_equal(back.labels, data.labels)


def test_criteo_round_trip_and_vocabulary(tmp_path: Path) -> None:
    labels, dense, sparse = criteo.synthetic(500, seed=3)
    criteo.write_tsv(tmp_path / "d.tsv", labels, dense, sparse)
    written = record_tables.write_criteo_table(tmp_path / "d.tsv", tmp_path / "d.parquet", "d.tsv", 777)
    assert written.rows == 500 and len(written.columns) == 40 and written.metadata["vocab_sizes"] == [777] * 26
    assert record_tables.criteo_vocab_sizes(tmp_path / "d.parquet") == [777] * 26
    (parsed,) = criteo.iter_parsed(tmp_path / "d.tsv", 777)
    stored = list(record_tables.iter_criteo_table(tmp_path / "d.parquet", 128))
    assert [len(b) for b in stored] == [128, 128, 128, 116]
    assert np.array_equal(np.concatenate([b.sparse for b in stored]), parsed.sparse)
    assert np.array_equal(np.concatenate([b.dense for b in stored]), parsed.dense)


def test_a_failed_conversion_leaves_the_installed_table(tmp_path: Path) -> None:
    store = TableStore(tmp_path / "tables")
    data = cifar10.synthetic(5)
    cifar10.write_batch(tmp_path / "b.bin", data.images, data.labels)
    staged = store.staging_path("cifar.x")
    record_tables.write_cifar_table(tmp_path / "b.bin", staged, "b.bin")
    store.install("cifar.x", staged)
    (tmp_path / "cut.bin").write_bytes((tmp_path / "b.bin").read_bytes()[:-1])
    again = store.staging_path("cifar.x")
    with pytest.raises(cifar10.CifarFormatError, match="record 5 is truncated"):
        record_tables.write_cifar_table(tmp_path / "cut.bin", again, "cut.bin")
    again.unlink()
    assert len(record_tables.load_cifar_table(store.path("cifar.x"))) == 5
    assert [p.name for p in store.path("cifar.x").parent.iterdir()] == ["x.parquet"]


def test_a_table_of_another_format_is_refused(tmp_path: Path) -> None:
    data = cifar10.synthetic(3)
    cifar10.write_batch(tmp_path / "b.bin", data.images, data.labels)
    record_tables.write_cifar_table(tmp_path / "b.bin", tmp_path / "b.parquet", "b.bin")
    with pytest.raises(ValueError, match=re.escape("b.parquet is not a criteo-tsv table")):
        record_tables.criteo_vocab_sizes(tmp_path / "b.parquet")
    assert record_tables.record_format("criteo-tsv") == "criteo-tsv" and record_tables.record_format("csv") is None
