"""Tables: a party's datasets, stored as Parquet files in its node's folder. They never leave it.

A table is named ``namespace.name``. Writes go to a temporary file that replaces the old one only once
complete, so a failed write (a full disk, a crash, a bad column) never damages a table already stored.
Component outputs are tables too, in the job's namespace, which is how one component's output becomes the
next one's input at the same party.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from unseen.ids import IdentifierError, check_table_name

_META_KEY = "unseen.table"


class TableError(ValueError):
    pass


class TableNameError(IdentifierError, TableError):
    """A table name breaks the grammar (``unseen.ids.TABLE_NAME``): refused before it names a file."""


@dataclass(frozen=True)
class Table:
    """Columns plus which of them are the row ids and the label, so later components need not be told."""

    columns: dict[str, np.ndarray]
    id_column: str | None = None
    label_column: str | None = None

    def __post_init__(self) -> None:
        lengths = {len(values) for values in self.columns.values()}
        if len(lengths) > 1:
            raise TableError(f"columns differ in length: { {k: len(v) for k, v in self.columns.items()} }")
        for role, column in (("id", self.id_column), ("label", self.label_column)):
            if column is not None and column not in self.columns:
                raise TableError(f"{role} column '{column}' is not among the columns {sorted(self.columns)}")

    def __getitem__(self, column: str) -> np.ndarray:
        return self.columns[column]

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @property
    def ids(self) -> np.ndarray:
        if self.id_column is None:
            raise TableError("this table has no id column")
        return self.columns[self.id_column]

    @property
    def feature_names(self) -> list[str]:
        return [name for name in self.columns if name not in (self.id_column, self.label_column)]

    def features(self) -> np.ndarray:
        """The feature columns as one float64 matrix (rows by features)."""
        names = self.feature_names
        if not names:
            return np.zeros((self.rows, 0))
        return np.column_stack([self.columns[name].astype(np.float64) for name in names])

    def take(self, rows: np.ndarray) -> Table:
        """The rows at ``rows`` (positions), in that order: how a PSI aligns a party's table."""
        return Table({k: v[rows] for k, v in self.columns.items()}, self.id_column, self.label_column)


@dataclass(frozen=True)
class TableInfo:
    name: str
    rows: int
    columns: dict[str, str]  # column name -> dtype


def parse_table_name(name: str) -> tuple[str, str]:
    """The (namespace, name) parts of a valid table name; the only way this module turns a name into a path."""
    try:
        return check_table_name(name)
    except IdentifierError as exc:
        raise TableNameError(exc.field, name, exc.rule, exc.example) from None


class TableStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        namespace, table = parse_table_name(name)
        path = self.root / namespace / f"{table}.parquet"
        if path.parent.parent != self.root:  # the grammar allows no separator; keep it so if the grammar changes
            raise TableNameError("name", name, "a table name must name a file in the table folder", "exp.t")
        return path

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def write(self, name: str, data: Table | Mapping[str, np.ndarray], overwrite: bool = False) -> TableInfo:
        path = self.path(name)
        if path.exists() and not overwrite:
            raise TableError(f"table {name} already exists; choose another name or overwrite it explicitly")
        table_data = data if isinstance(data, Table) else Table(dict(data))
        if not table_data.columns:
            raise TableError(f"table {name} needs at least one column")
        roles = {"id_column": table_data.id_column, "label_column": table_data.label_column}
        table = pa.table(
            {column: pa.array(np.asarray(values)) for column, values in table_data.columns.items()},
            metadata={_META_KEY: json.dumps(roles)},
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
        os.close(fd)
        try:
            pq.write_table(table, temporary)
            os.replace(temporary, path)
        finally:
            Path(temporary).unlink(missing_ok=True)
        return self.info(name)

    def staging_path(self, name: str) -> Path:
        """A new empty temporary file beside table ``name``'s, for a table written in a stream: ``install`` it
        once complete, or delete it. (A dot prefix: no table name can start with one.)"""
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
        os.close(fd)
        return Path(temporary)

    def install(self, name: str, staged: Path) -> None:
        """Replace table ``name`` by the complete file ``staged`` (from ``staging_path``), atomically."""
        os.replace(staged, self.path(name))

    def link(self, source: str, target: str) -> TableInfo:
        """Table ``target`` as the very file of table ``source``: a hard link (a copy where the file system has
        none), so a job sees a large uploaded table in constant time and space. An upload replaces the source's
        file rather than writing into it, so the job keeps the version it started with."""
        origin = self.path(source)
        if not origin.is_file():
            raise TableError(f"table {source} does not exist at this party; upload it first (`unseen data upload`)")
        staged = self.staging_path(target)
        staged.unlink()
        try:
            os.link(origin, staged)
        except OSError:
            shutil.copyfile(origin, staged)
        try:
            self.install(target, staged)
        finally:
            staged.unlink(missing_ok=True)
        return self.info(target)

    def read(self, name: str) -> Table:
        path = self.path(name)
        if not path.is_file():
            raise TableError(f"table {name} does not exist at this party; upload it first (`unseen data upload`)")
        table = pq.read_table(path)
        roles = json.loads((table.schema.metadata or {}).get(_META_KEY.encode(), b"{}"))
        columns = {column: table.column(column).to_numpy(zero_copy_only=False) for column in table.column_names}
        if roles.get("id_column"):
            columns[roles["id_column"]] = columns[roles["id_column"]].astype(str)
        return Table(columns, roles.get("id_column"), roles.get("label_column"))

    def info(self, name: str) -> TableInfo:
        schema = pq.read_schema(self.path(name))
        rows = pq.ParquetFile(self.path(name)).metadata.num_rows
        return TableInfo(name, rows, {field.name: str(field.type) for field in schema})

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=False)
