"""Tables: a party's datasets, stored as Parquet files in its node's folder. They never leave it.

A table is named ``namespace.name``. Writes go to a temporary file that replaces the old one only once
complete, so a failed write (a full disk, a crash, a bad column) never damages a table already stored.
Component outputs are tables too, in the job's namespace, which is how one component's output becomes the
next one's input at the same party.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

_PART = r"[A-Za-z0-9_][A-Za-z0-9_\-]{0,127}"
_TABLE_NAME = re.compile(rf"^({_PART})\.({_PART})$")


class TableError(ValueError):
    pass


@dataclass(frozen=True)
class TableInfo:
    name: str
    rows: int
    columns: dict[str, str]  # column name -> dtype


def parse_table_name(name: str) -> tuple[str, str]:
    match = _TABLE_NAME.match(name)
    if match is None:
        raise TableError(
            f"table name '{name}' must be 'namespace.name' (letters, digits, '_' and '-'), e.g. experiment.breast_guest"
        )
    return match.group(1), match.group(2)


class TableStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        namespace, table = parse_table_name(name)
        return self.root / namespace / f"{table}.parquet"

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def write(self, name: str, columns: Mapping[str, np.ndarray], overwrite: bool = False) -> TableInfo:
        path = self.path(name)
        if path.exists() and not overwrite:
            raise TableError(f"table {name} already exists; choose another name or overwrite it explicitly")
        lengths = {column: len(values) for column, values in columns.items()}
        if not columns:
            raise TableError(f"table {name} needs at least one column")
        if len(set(lengths.values())) != 1:
            raise TableError(f"columns of table {name} differ in length: {lengths}")
        table = pa.table({column: pa.array(np.asarray(values)) for column, values in columns.items()})
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
        os.close(fd)
        try:
            pq.write_table(table, temporary)
            os.replace(temporary, path)
        finally:
            Path(temporary).unlink(missing_ok=True)
        return self.info(name)

    def read(self, name: str, columns: list[str] | None = None) -> dict[str, np.ndarray]:
        path = self.path(name)
        if not path.is_file():
            raise TableError(f"table {name} does not exist at this party; upload it first")
        table = pq.read_table(path, columns=columns)
        return {column: table.column(column).to_numpy() for column in table.column_names}

    def info(self, name: str) -> TableInfo:
        schema = pq.read_schema(self.path(name))
        rows = pq.ParquetFile(self.path(name)).metadata.num_rows
        return TableInfo(name, rows, {field.name: str(field.type) for field in schema})

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=False)
