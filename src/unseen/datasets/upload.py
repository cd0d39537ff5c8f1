"""Reading an uploaded CSV or Parquet file into a table, refusing what later components cannot use.

Every problem is found before anything is stored, and each error names the problem and its fix: a file
that is not UTF-8 (with its line), a missing id column, duplicate ids, a non-numeric or non-finite value
(with its column, row, line, id and text), a label that is not what its type says.

Ids are text: the id column is always read as strings, so ``007`` stays ``007`` and is not ``7``. A CSV
cell is missing only when it is empty; ``nan``, ``NA`` or ``null`` are read as what they say and refused
with their own message, not lumped in with empty cells.
"""

from __future__ import annotations

import io
import mmap
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
_SHOWN_CHARS = 64  # an id or a cell longer than this is cut in error messages
_UTF8_SLICE = 16 * 1024 * 1024


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


def check_utf8(content: bytes | memoryview | mmap.mmap) -> None:
    """Refuse text that is not UTF-8, naming the line and the byte, before any parser sees it.

    Decoded a slice at a time (slices end on a character boundary), so checking a large file holds one
    slice's text in memory, not the whole file's. ``content`` may be a mapping of a spooled upload; the
    view of it is released before any error leaves, so the caller can close the mapping.
    """
    problem = None
    with memoryview(content) as view:
        start = 0
        while start < len(view) and problem is None:
            stop = min(start + _UTF8_SLICE, len(view))
            while stop < len(view) and view[stop] & 0xC0 == 0x80:  # never cut a character in two
                stop -= 1
            try:
                str(view[start:stop], "utf-8")
            except UnicodeDecodeError as exc:
                problem = _utf8_problem(view, start + exc.start)
            start = stop
    if problem is not None:
        raise UploadError(problem)


def _utf8_problem(view: memoryview, offset: int) -> str:
    """The message for a bad byte at ``offset``: its line and its byte in that line, counted a slice at a time."""
    slices = range(0, offset, _UTF8_SLICE)
    line = 1 + sum(view[i : min(i + _UTF8_SLICE, offset)].tobytes().count(b"\n") for i in slices)
    line_start = 0
    for i in reversed(slices):
        newline = view[i : min(i + _UTF8_SLICE, offset)].tobytes().rfind(b"\n")
        if newline >= 0:
            line_start = i + newline + 1
            break
    column = offset - line_start + 1
    return (
        f"the file is not UTF-8 text: line {line}, byte {column} is 0x{view[offset]:02x}, which UTF-8 does "
        "not allow (a Latin-1 or Windows-1252 file looks like this); save the file as UTF-8, e.g. "
        "`iconv -f latin1 -t utf-8 in.csv > out.csv`, and upload it again"
    )


def _source(content: bytes | Path) -> str | io.BytesIO:
    """What pyarrow reads: the path of a spooled upload, or the bytes of a small one."""
    return str(content) if isinstance(content, Path) else io.BytesIO(content)


def _check_utf8_of(content: bytes | Path) -> None:
    if not isinstance(content, Path):
        check_utf8(content)
        return
    with content.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        check_utf8(mapped)


def _read(content: bytes | Path, file_format: FileFormat, id_column: str) -> pa.Table:
    """``content`` is the file's bytes, or the path of a file (an upload spooled to disk, read from there)."""
    if (content.stat().st_size == 0) if isinstance(content, Path) else not content:
        raise UploadError("the file is empty; upload a file with a header row and at least one data row")
    if file_format == "csv":
        _check_utf8_of(content)
    try:
        if file_format == "parquet":
            return pq.read_table(_source(content))
        return pacsv.read_csv(_source(content), convert_options=_csv_options({id_column: pa.string()}))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise UploadError(f"the file is not valid {file_format.upper()}: {exc}") from None


def _csv_options(column_types: dict[str, pa.DataType], include: list[str] | None = None) -> pacsv.ConvertOptions:
    """Only an empty cell is missing (``nan`` parses as NaN and is refused as such); ids are text."""
    return pacsv.ConvertOptions(
        column_types=column_types,
        null_values=[""],
        strings_can_be_null=False,
        include_columns=include or [],
    )


@dataclass(frozen=True)
class _Where:
    """Where a value sits, in the words a user can find it by: the row, the CSV line, the row's id."""

    file_format: FileFormat
    ids: list[str]

    def __call__(self, row: int) -> str:
        line = f"line {row + 2}, " if self.file_format == "csv" else ""  # the header is line 1
        return f"row {row + 1} ({line}id {_shown(self.ids[row])})"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _source_text(content: bytes | Path, file_format: FileFormat, column: str, row: int, parsed: object) -> str:
    """The cell as the file wrote it (``1e400``, not the ``inf`` it parsed to); for Parquet, the value."""
    if file_format != "csv":
        return str(parsed)
    try:
        raw = pacsv.read_csv(_source(content), convert_options=_csv_options({column: pa.string()}, [column]))
        return str(raw.column(column)[row].as_py())
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, IndexError):
        return str(parsed)


_MISSING_MARKERS = frozenset({"na", "n/a", "nan", "null", "none", "nil", "-", "?", "#n/a"})


def _first_bad_value(column: pa.ChunkedArray, where: _Where) -> tuple[str, str | None]:
    """A value that does not parse as a number, where it is, and a hint if it is a missing-value marker."""
    for index, value in enumerate(column.to_pylist()):
        try:
            float(value)
        except (TypeError, ValueError):
            missing = isinstance(value, str) and value.strip().lower() in _MISSING_MARKERS
            hint = f"{_shown(value)} marks a missing value: fill it or drop the row" if missing else None
            return f"{_shown(value)} in {where(index)}", hint
    return "a non-numeric value", None


def _check_finite(
    values: np.ndarray, name: str, role: str, where: _Where, content: bytes | Path, file_format: FileFormat
) -> None:
    """NaN and infinities (``nan``, ``inf``, ``1e400``) are refused: no component can use them."""
    bad = np.flatnonzero(~np.isfinite(values))
    if not len(bad):
        return
    row = int(bad[0])
    value = float(values[row])
    text = _source_text(content, file_format, name, row, value)
    if np.isnan(value):
        why = "NaN marks a missing value: fill it or drop the row"
    elif text.strip().lstrip("+-").lower() in ("inf", "infinity"):
        why = "an infinite value cannot be trained on: replace it with a finite number or drop the row"
    else:
        why = "it is beyond the range of a 64-bit float (about 1.8e308): rescale the column or drop the row"
    many = f" ({len(bad)} such values)" if len(bad) > 1 else ""
    raise UploadError(
        f"{role} '{name}' has a value that is not a finite number{many}: {_shown(text)} in {where(row)}; {why}"
    )


def parse_upload(
    content: bytes | Path,
    file_format: FileFormat,
    id_column: str,
    label_column: str | None = None,
    label_type: LabelType = "binary",
) -> ParsedTable:
    table = _read(content, file_format, id_column)
    names = table.column_names
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise UploadError(f"column names repeat: {duplicated}; give each column its own name")
    for role, wanted, flag in (("id", id_column, "--id-column"), ("label", label_column, "--label-column")):
        if wanted is not None and wanted not in names:
            raise UploadError(f"{role} column '{wanted}' is not in the file (columns: {', '.join(names)}); pass {flag}")
    if table.num_rows == 0:
        raise UploadError("the file has a header but no rows")

    ids = _id_strings(table.column(id_column), id_column)
    empty = pc.or_kleene(pc.is_null(ids), pc.equal(pc.utf8_length(ids), 0)).to_numpy(zero_copy_only=False)
    if empty.any():
        first = int(np.flatnonzero(empty)[0]) + 1
        line = f" (line {first + 1})" if file_format == "csv" else ""
        raise UploadError(
            f"id column '{id_column}' has {int(empty.sum())} empty values, the first in row {first}{line}; "
            "every row needs an id"
        )
    counts = pc.value_counts(ids)
    repeated = [str(item["values"]) for item in counts.to_pylist() if item["counts"] > 1]
    if repeated:
        raise UploadError(
            f"id column '{id_column}' has {len(repeated)} duplicate ids (e.g. {', '.join(repeated[:_SHOWN])}); "
            "ids must be unique: remove or merge the repeated rows"
        )

    id_list = ids.to_pylist()
    where = _Where(file_format, id_list)
    columns: dict[str, np.ndarray] = {id_column: np.asarray(id_list, dtype=object).astype(str)}
    for name in names:
        if name == id_column:
            continue
        role = "label column" if name == label_column else "column"
        column = table.column(name)
        if not (
            pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_boolean(column.type)
        ):
            found, hint = _first_bad_value(column, where)
            fix = hint or "features and labels must be numbers: encode or drop it before uploading"
            raise UploadError(f"{role} '{name}' is not numeric: {found}; {fix}")
        if column.null_count:
            first = int(np.flatnonzero(pc.is_null(column).to_numpy(zero_copy_only=False))[0])
            raise UploadError(
                f"{role} '{name}' has {column.null_count} empty values, the first in {where(first)}; "
                "fill or drop them before uploading"
            )
        values = column.to_numpy()
        if pa.types.is_floating(column.type):
            _check_finite(values, name, role, where, content, file_format)
        columns[name] = values if name == label_column else values.astype(np.float64)
    if label_column is not None:
        columns[label_column] = _check_label(columns[label_column], label_column, label_type)
    return ParsedTable(columns, id_column, label_column)


def _id_strings(column: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
    """The ids as text. A CSV's are read as text already; a Parquet file's typed ids are written out."""
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
            for index, value in enumerate(column.to_pylist()):
                try:
                    value.decode("utf-8") if value is not None else None
                except UnicodeDecodeError:
                    raise UploadError(
                        f"id column '{name}' is not UTF-8 text: row {index + 1} holds {_shown(value)}; "
                        "store ids as UTF-8 strings"
                    ) from None
        raise UploadError(
            f"id column '{name}' cannot be read as text ({column.type}: {exc}); store ids as strings"
        ) from None


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
