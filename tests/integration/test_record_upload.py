"""CIFAR-10 binary and Criteo TSV uploads on real nodes: stored as tables, malformed files refused by record/line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.integration.conftest import Site
from unseen.datasets import cifar10, criteo, record_tables
from unseen.storage.tables import TableStore

pytestmark = pytest.mark.integration


def _tables(site: Site) -> TableStore:
    return TableStore(site.standalone.node_config(9999).tables_dir)


def _leftovers(site: Site) -> list[str]:
    return sorted(p.name for p in _tables(site).root.rglob("*.tmp"))


def test_a_cifar_batch_is_stored_and_a_truncated_one_refused(site: Site, tmp_path: Path) -> None:
    data = cifar10.synthetic(40, seed=1)
    good = tmp_path / "data_batch_1.bin"
    cifar10.write_batch(good, data.images, data.labels)
    up = site.cli("data", "upload", "-f", str(good), "-t", "cifar.part1", "--format", "cifar10-bin", "-p", "9999")
    assert up.returncode == 0, up.stderr
    assert "uploaded cifar.part1: 40 rows, 2 columns [label:int64 (label), image:fixed_size_binary[3072]]" in up.stdout
    stored = record_tables.load_cifar_table(_tables(site).path("cifar.part1"))
    assert np.array_equal(stored.images, data.images) and np.array_equal(stored.labels, data.labels)
    assert _tables(site).read("cifar.part1").label_column == "label"
    before = site.cli("data", "show", "-t", "cifar.part1", "-p", "9999").stdout

    cut = tmp_path / "data_batch_2.bin"
    cut.write_bytes(good.read_bytes()[:-10])
    args = ("-t", "cifar.part1", "--format", "cifar10-bin", "--overwrite", "-p", "9999")
    refused = site.cli("data", "upload", "-f", str(cut), *args)
    assert refused.returncode == 1
    assert "data_batch_2.bin: 122910 bytes is not a whole number" in refused.stderr
    assert "record 40 is truncated" in refused.stderr
    raw = bytearray(good.read_bytes())
    raw[5 * 3073] = 10
    (tmp_path / "cifar100.bin").write_bytes(bytes(raw))
    bad_label = site.cli("data", "upload", "-f", str(tmp_path / "cifar100.bin"), *args)
    assert bad_label.returncode == 1 and "cifar100.bin: record 6 has label 10" in bad_label.stderr
    assert site.cli("data", "show", "-t", "cifar.part1", "-p", "9999").stdout == before
    assert np.array_equal(record_tables.load_cifar_table(_tables(site).path("cifar.part1")).labels, data.labels)
    assert _leftovers(site) == []


def test_a_criteo_file_is_stored_and_a_malformed_line_refused(site: Site, tmp_path: Path) -> None:
    labels, dense, sparse = criteo.synthetic(300, seed=4)
    good = tmp_path / "day_0_part0.tsv"
    criteo.write_tsv(good, labels, dense, sparse)
    args = ("-t", "criteo.part0", "--format", "criteo-tsv", "--vocab-size", "1000", "-p", "9999")
    up = site.cli("data", "upload", "-f", str(good), *args)
    assert up.returncode == 0, up.stderr
    assert "uploaded criteo.part0: 300 rows, 40 columns [label:int64 (label), I1:float" in up.stdout
    path = _tables(site).path("criteo.part0")
    assert record_tables.criteo_vocab_sizes(path) == [1000] * 26
    (expected,) = criteo.iter_parsed(good, 1000)
    (stored,) = record_tables.iter_criteo_table(path, 300)
    assert np.array_equal(stored.sparse, expected.sparse) and np.array_equal(stored.labels, labels.astype(np.float32))
    rows = pq.ParquetFile(path).metadata.num_rows

    lines = good.read_text().splitlines()
    fields = lines[149].split("\t")
    fields[18] = "nothex!!"  # C5
    lines[149] = "\t".join(fields)
    bad = tmp_path / "day_1.tsv"
    bad.write_text("\n".join(lines) + "\n")
    refused = site.cli("data", "upload", "-f", str(bad), *args, "--overwrite")
    assert refused.returncode == 1
    assert "day_1.tsv: line 150 has C5 = b'nothex!!', not a hexadecimal hash" in refused.stderr
    short = tmp_path / "day_2.tsv"
    short.write_text("1\t2\t3\n")
    refused = site.cli("data", "upload", "-f", str(short), *args, "--overwrite")
    assert refused.returncode == 1 and "day_2.tsv: line 1 has 3 tab-separated fields, not 40" in refused.stderr
    assert pq.ParquetFile(path).metadata.num_rows == rows
    assert "300 rows" in site.cli("data", "show", "-t", "criteo.part0", "-p", "9999").stdout
    again = site.cli("data", "upload", "-f", str(good), *args)
    assert again.returncode == 1 and "already exists; pass --overwrite" in again.stderr
    assert _leftovers(site) == []
