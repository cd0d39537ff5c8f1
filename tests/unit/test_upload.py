"""Uploaded files: what becomes a table, and the error (naming problem and fix) for what cannot."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from unseen.datasets.upload import UploadError, parse_upload


def csv(text: str) -> bytes:
    return text.strip().encode() + b"\n"


GOOD = csv("""
id,y,x0,x1
a,1,0.5,3
b,0,1.5,4
c,1,-2.0,5
""")


def test_a_good_csv_becomes_typed_columns() -> None:
    table = parse_upload(GOOD, "csv", "id", "y")
    assert table.rows == 3
    assert table.columns["id"].tolist() == ["a", "b", "c"]
    assert table.columns["y"].dtype == np.int64 and table.columns["y"].tolist() == [1, 0, 1]
    assert table.columns["x1"].dtype == np.float64
    assert [c["name"] for c in table.schema()] == ["id", "y", "x0", "x1"]
    assert table.schema()[0]["dtype"] == "string"


def test_numeric_ids_are_kept_as_strings() -> None:
    table = parse_upload(csv("id,x\n10,1\n2,2"), "csv", "id")
    assert table.columns["id"].tolist() == ["10", "2"]


def test_parquet_is_read_the_same_way() -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"id": ["a", "b"], "x": [1.0, 2.0]}), buffer)
    table = parse_upload(buffer.getvalue(), "parquet", "id")
    assert table.columns["x"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("content", "kwargs", "expected"),
    [
        (b"", {}, "the file is empty"),
        (csv("id,x"), {}, "has a header but no rows"),
        (GOOD, {"id_column": "uid"}, "id column 'uid' is not in the file (columns: id, y, x0, x1); pass --id-column"),
        (GOOD, {"label_column": "label"}, "label column 'label' is not in the file"),
        (csv("id,x\na,1\nb,2\na,3"), {}, "1 duplicate ids (e.g. a)"),
        (csv("id,x\na,1\nb,oops"), {}, "column 'x' is not numeric ('oops' in row 2)"),
        (csv("id,x\na,1\nb,"), {}, "column 'x' has 1 empty values"),
        (csv("id,y\na,1\nb,2"), {"label_column": "y"}, "label column 'y' is not binary (values: 1, 2)"),
        (csv("id,y\na,0.5\nb,1"), {"label_column": "y"}, "non-integer values; for a continuous label"),
        (csv("id,x,x\na,1,2"), {}, "column names repeat"),
        (b"\x00\x01\x02garbage", {"file_format": "parquet"}, "not valid PARQUET"),
    ],
)
def test_each_bad_file_gets_its_own_clear_error(content: bytes, kwargs: dict[str, object], expected: str) -> None:
    arguments: dict[str, object] = {"file_format": "csv", "id_column": "id", "label_column": None}
    arguments.update(kwargs)
    with pytest.raises(UploadError) as caught:
        parse_upload(content, **arguments)  # type: ignore[arg-type]
    assert expected in str(caught.value)


def test_multiclass_and_regression_labels_are_accepted_when_declared() -> None:
    three = csv("id,y\na,0\nb,1\nc,2")
    assert parse_upload(three, "csv", "id", "y", "multiclass").columns["y"].tolist() == [0, 1, 2]
    real = csv("id,y\na,0.25\nb,1.5")
    assert parse_upload(real, "csv", "id", "y", "regression").columns["y"].tolist() == [0.25, 1.5]
