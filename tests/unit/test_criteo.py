"""Criteo TSV: parsed in blocks, dense log(1 + x), stable hashed ids, malformed lines named by file and line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from unseen.datasets import criteo

LINE = "\t".join(["1", "5", "-2", "", *["0"] * 10, "68fd1e64", "", *["deadbeef"] * 24])


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_a_line_is_parsed_as_documented(tmp_path: Path) -> None:
    (batch,) = criteo.iter_parsed(_write(tmp_path / "day.tsv", [LINE]), vocab_sizes=1000)
    assert batch.labels.tolist() == [1.0]
    np.testing.assert_allclose(batch.dense[0, :3], [np.log(6), 0.0, 0.0])  # negative clipped, empty = 0
    assert batch.sparse.dtype == np.int32
    assert batch.sparse[0, 1] == criteo.EMPTY_ID
    assert 1 <= batch.sparse[0, 0] < 1000 and len(set(batch.sparse[0, 2:].tolist())) == 1
    # stable: a fixed value, not Python's per-process salted hash()
    expected = int(criteo._splitmix64(np.array([0x68FD1E64], dtype=np.uint64))[0]) % 999 + 1
    assert batch.sparse[0, 0] == expected


def test_blocks_and_batches_stream_the_whole_file(tmp_path: Path) -> None:
    labels, dense, sparse = criteo.synthetic(1000, seed=2)
    path = tmp_path / "day.tsv"
    criteo.write_tsv(path, labels, dense, sparse)
    parts = list(criteo.iter_parsed(path, 500, block_bytes=4096))  # many small blocks cut at line ends
    assert len(parts) > 10 and sum(len(p) for p in parts) == 1000
    whole = list(criteo.iter_parsed(path, 500))
    assert np.array_equal(np.concatenate([p.sparse for p in parts]), whole[0].sparse)
    with criteo.batches(path, 64, vocab_sizes=500) as stream:
        sizes = [len(b) for b in stream]
    assert sizes == [64] * 15 + [40]
    assert [len(b) for b in criteo.rebatch(iter(parts), 64, drop_last=True)] == [64] * 15
    assert np.array_equal(np.concatenate([p.labels for p in parts]), labels.astype(np.float32))
    assert (whole[0].sparse < 500).all() and (whole[0].sparse >= 0).all()


def test_a_last_line_without_newline_is_read(tmp_path: Path) -> None:
    path = tmp_path / "day.tsv"
    path.write_text(LINE + "\n" + LINE)
    assert sum(len(b) for b in criteo.iter_parsed(path)) == 2


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("\t".join(LINE.split("\t")[:-1]), "line 3 has 39 tab-separated fields, not 40"),
        (LINE.replace("68fd1e64", "68fd1e6z"), "line 3 has C1 = b'68fd1e6z', not a hexadecimal hash"),
        ("2" + LINE[1:], "line 3 has label b'2'; the label must be 0 or 1"),
        (LINE.replace("\t5\t", "\t5.5\t", 1), "line 3 has I1 = b'5.5', not an integer"),
        ("", "line 3 has 1 tab-separated fields"),
    ],
)
def test_a_malformed_line_is_named(tmp_path: Path, bad: str, message: str) -> None:
    path = _write(tmp_path / "day_0.tsv", [LINE, LINE, bad, LINE])
    with pytest.raises(criteo.CriteoFormatError, match=re.escape(f"day_0.tsv: {message}")):
        list(criteo.iter_parsed(path))


def test_line_numbers_count_across_blocks(tmp_path: Path) -> None:
    path = _write(tmp_path / "day.tsv", [LINE] * 200 + [LINE.replace("deadbeef", "xyz", 1)])
    with pytest.raises(criteo.CriteoFormatError, match=re.escape("day.tsv: line 201 has C3")):
        list(criteo.iter_parsed(path, block_bytes=1000))


def test_an_endless_line_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "day.tsv"
    path.write_bytes(b"1" * (criteo.MAX_LINE_BYTES + 10))
    with pytest.raises(criteo.CriteoFormatError, match="line 1 is longer than"):
        list(criteo.iter_parsed(path, block_bytes=4096))


def test_vocab_sizes_are_checked() -> None:
    assert criteo.vocabulary(10).tolist() == [10] * 26
    with pytest.raises(ValueError, match="26 sizes"):
        criteo.vocabulary([10, 10])


def test_the_synthetic_set_is_learnable(tmp_path: Path) -> None:
    """The click depends on I1 and C1: a linear model on the parsed features beats chance clearly."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    labels, dense, sparse = criteo.synthetic(4000, seed=5)
    criteo.write_tsv(tmp_path / "day.tsv", labels, dense, sparse)
    (batch,) = criteo.iter_parsed(tmp_path / "day.tsv", 1000)
    features = np.column_stack([batch.dense, np.eye(1000)[batch.sparse[:, 0]]])
    model = LogisticRegression(max_iter=500).fit(features[:3000], batch.labels[:3000])
    assert roc_auc_score(batch.labels[3000:], model.predict_proba(features[3000:])[:, 1]) > 0.75
