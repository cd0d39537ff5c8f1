"""Uploaded files: what becomes a table, and the error (naming problem and fix) for what cannot."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from unseen.datasets.upload import UploadError, check_utf8, parse_upload


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
        (csv("id,x\na,1\nb,oops"), {}, "column 'x' is not numeric: 'oops' in row 2 (line 3, id 'b')"),
        (csv("id,x\na,1\nb,"), {}, "column 'x' has 1 empty values, the first in row 2 (line 3, id 'b')"),
        (csv("id,x\na,1\n,2"), {}, "id column 'id' has 1 empty values, the first in row 2 (line 3)"),
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


@pytest.mark.parametrize(
    ("cell", "label_type", "expected"),
    [
        ("inf", "binary", "'inf' in row 2 (line 3, id 'u2'); an infinite value cannot be trained on"),
        ("-inf", "binary", "'-inf' in row 2 (line 3, id 'u2'); an infinite value cannot be trained on"),
        ("1e400", "binary", "'1e400' in row 2 (line 3, id 'u2'); it is beyond the range of a 64-bit float"),
        ("nan", "binary", "'nan' in row 2 (line 3, id 'u2'); NaN marks a missing value: fill it or drop the row"),
    ],
)
def test_a_non_finite_feature_is_refused_with_its_column_row_id_and_text(
    cell: str, label_type: str, expected: str
) -> None:
    with pytest.raises(UploadError) as caught:
        parse_upload(csv(f"id,y,x\nu1,1,0.5\nu2,0,{cell}\nu3,1,2"), "csv", "id", "y", label_type)  # type: ignore[arg-type]
    assert str(caught.value).startswith("column 'x' has a value that is not a finite number: ")
    assert expected in str(caught.value)


@pytest.mark.parametrize("cell", ["inf", "-inf", "1e400", "nan"])
def test_a_non_finite_regression_label_is_refused(cell: str) -> None:
    with pytest.raises(UploadError) as caught:
        parse_upload(csv(f"id,y,x\nu1,0.5,1\nu2,{cell},2"), "csv", "id", "y", "regression")
    message = str(caught.value)
    assert message.startswith(f"label column 'y' has a value that is not a finite number: '{cell}' in row 2 ")
    assert "id 'u2'" in message


def test_a_non_finite_binary_label_is_named_as_such_not_as_non_integer() -> None:
    with pytest.raises(UploadError) as caught:
        parse_upload(csv("id,y\nu1,1\nu2,nan"), "csv", "id", "y")
    assert "label column 'y' has a value that is not a finite number: 'nan'" in str(caught.value)


def test_missing_value_markers_are_named_as_missing_not_as_empty() -> None:
    with pytest.raises(UploadError) as caught:
        parse_upload(csv("id,x\nu1,1\nu2,NA"), "csv", "id")
    assert "column 'x' is not numeric: 'NA' in row 2 (line 3, id 'u2'); 'NA' marks a missing value" in str(caught.value)


def test_many_non_finite_values_are_counted_and_the_first_is_shown() -> None:
    with pytest.raises(UploadError) as caught:
        parse_upload(csv("id,x\nu1,1\nu2,inf\nu3,nan"), "csv", "id")
    assert "(2 such values): 'inf' in row 2" in str(caught.value)


def test_a_parquet_non_finite_value_is_refused_with_its_row_and_id() -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"id": ["a", "b"], "x": [1.0, float("inf")]}), buffer)
    with pytest.raises(UploadError) as caught:
        parse_upload(buffer.getvalue(), "parquet", "id")
    assert "column 'x' has a value that is not a finite number: 'inf' in row 2 (id 'b')" in str(caught.value)


def test_ids_are_text_leading_zeros_and_all() -> None:
    table = parse_upload(csv("id,x\n007,1\n7,2\n0x1F,3\n1e3,4\ntrue,5"), "csv", "id")
    assert table.columns["id"].tolist() == ["007", "7", "0x1F", "1e3", "true"]


def test_a_latin1_csv_is_refused_naming_the_encoding_and_the_line() -> None:
    content = "id,x\nu1,1\nJosé,2\n".encode("latin-1")
    with pytest.raises(UploadError) as caught:
        parse_upload(content, "csv", "id")
    message = str(caught.value)
    assert message.startswith("the file is not UTF-8 text: line 3, byte 4 is 0xe9")
    assert "save the file as UTF-8" in message


def test_the_utf8_check_finds_a_bad_byte_past_its_first_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices end on character boundaries: a valid multi-byte character across a slice edge is not an error."""
    monkeypatch.setattr("unseen.datasets.upload._UTF8_SLICE", 7)
    check_utf8("id,x\né,1\n€,2\n".encode())
    with pytest.raises(UploadError, match="line 4, byte 1 is 0xff"):
        check_utf8("id,x\né,1\n€,2\n".encode() + b"\xff,3\n")


def test_a_parquet_binary_id_that_is_not_utf8_is_refused() -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"id": pa.array([b"a", b"\xe9"], pa.binary()), "x": [1.0, 2.0]}), buffer)
    with pytest.raises(UploadError, match="id column 'id' is not UTF-8 text: row 2"):
        parse_upload(buffer.getvalue(), "parquet", "id")
