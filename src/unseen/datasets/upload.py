"""Reading an uploaded CSV or Parquet file into a table, refusing what later components cannot use.

Every problem is found before anything is stored, and each error names the problem and its fix: a
missing id column, duplicate ids, a non-numeric feature, a label that is not what its type says.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

LabelType = Literal["binary", "multiclass", "regression"]
FileFormat = Literal["csv", "parquet"]
_SHOWN = 5


class UploadError(ValueError):
    """The file cannot become a table; the message says what to change."""


@dataclass(frozen=True)
class ParsedTable:
    columns: dict[str, np.ndarray]
    id_column: str
    label_column: str | None

    @property
    def rows(self) -> int:
        return len(self.columns[self.id_column])

    def schema(self) -> list[dict[str, str]]:
        return [
            {"name": name, "dtype": "string" if values.dtype.kind == "U" else values.dtype.name}
            for name, values in self.columns.items()
        ]


def _read(content: bytes | Path, file_format: FileFormat) -> pa.Table:
    """``content`` is the file's bytes, or the path of a file (an upload spooled to disk, read from there)."""
    if (content.stat().st_size == 0) if isinstance(content, Path) else not content:
        raise UploadError("the file is empty; upload a file with a header row and at least one data row")
    source = str(content) if isinstance(content, Path) else io.BytesIO(content)
    try:
        if file_format == "parquet":
            return pq.read_table(source)
        return pacsv.read_csv(source, convert_options=pacsv.ConvertOptions(strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise UploadError(f"the file is not valid {file_format.upper()}: {exc}") from None


def _first_bad_value(column: pa.ChunkedArray) -> str:
    """A value that does not parse as a number, to show the user where to look."""
    for index, value in enumerate(column.to_pylist()):
        try:
            float(value)
        except (TypeError, ValueError):
            return f"{value!r} in row {index + 1}"
    return "a non-numeric value"


def parse_upload(
    content: bytes | Path,
    file_format: FileFormat,
    id_column: str,
    label_column: str | None = None,
    label_type: LabelType = "binary",
) -> ParsedTable:
    table = _read(content, file_format)
    names = table.column_names
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise UploadError(f"column names repeat: {duplicated}; give each column its own name")
    for role, wanted, flag in (("id", id_column, "--id-column"), ("label", label_column, "--label-column")):
        if wanted is not None and wanted not in names:
            raise UploadError(f"{role} column '{wanted}' is not in the file (columns: {', '.join(names)}); pass {flag}")
    if table.num_rows == 0:
        raise UploadError("the file has a header but no rows")

    ids = pc.cast(table.column(id_column), pa.string())
    if ids.null_count:
        raise UploadError(f"id column '{id_column}' has {ids.null_count} empty values; every row needs an id")
    counts = pc.value_counts(ids)
    repeated = [str(item["values"]) for item in counts.to_pylist() if item["counts"] > 1]
    if repeated:
        raise UploadError(
            f"id column '{id_column}' has {len(repeated)} duplicate ids (e.g. {', '.join(repeated[:_SHOWN])}); "
            "ids must be unique: remove or merge the repeated rows"
        )

    columns: dict[str, np.ndarray] = {id_column: np.asarray(ids.to_pylist(), dtype=object).astype(str)}
    for name in names:
        if name == id_column:
            continue
        column = table.column(name)
        if not (
            pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_boolean(column.type)
        ):
            raise UploadError(
                f"column '{name}' is not numeric ({_first_bad_value(column)}); features and labels must be numbers: "
                "encode or drop it before uploading"
            )
        if column.null_count:
            raise UploadError(
                f"column '{name}' has {column.null_count} empty values; fill or drop them before uploading"
            )
        values = column.to_numpy()
        columns[name] = values if name == label_column else values.astype(np.float64)
    if label_column is not None:
        columns[label_column] = _check_label(columns[label_column], label_column, label_type)
    return ParsedTable(columns, id_column, label_column)


def _check_label(values: np.ndarray, name: str, label_type: LabelType) -> np.ndarray:
    if label_type == "regression":
        return values.astype(np.float64)
    if not np.all(np.equal(np.mod(values, 1), 0)):
        raise UploadError(
            f"label column '{name}' has non-integer values; for a continuous label pass --label-type regression"
        )
    classes = np.unique(values).astype(np.int64)
    if label_type == "binary" and not set(classes.tolist()) <= {0, 1}:
        shown = ", ".join(map(str, classes[:_SHOWN]))
        raise UploadError(
            f"label column '{name}' is not binary (values: {shown}); map it to 0/1, "
            "or pass --label-type multiclass or regression"
        )
    return values.astype(np.int64)
