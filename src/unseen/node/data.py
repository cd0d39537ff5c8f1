"""The party's own tables: upload, list, show, delete. Rows never leave the node; only schemas are shown."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from unseen.datasets.upload import FileFormat, LabelType, parse_upload
from unseen.storage.models import TableRecord
from unseen.storage.repository import NodeStore
from unseen.storage.tables import Table, TableError, TableStore, parse_table_name


class TableExistsError(TableError):
    pass


class DataService:
    def __init__(self, store: NodeStore, tables: TableStore) -> None:
        self.store = store
        self.tables = tables
        self._lock = threading.Lock()  # one upload at a time: two uploads of one name must not interleave

    def upload(
        self,
        name: str,
        content: bytes | Path,
        file_format: FileFormat,
        id_column: str,
        label_column: str | None,
        label_type: LabelType,
        overwrite: bool,
        source: str,
    ) -> TableRecord:
        """Validate everything, then store: a refused upload changes nothing already stored.

        ``content`` is the file's bytes or the path of the file the REST API spooled the upload to."""
        parse_table_name(name)
        with self._lock:
            if not overwrite and self.store.find_table(name) is not None:
                raise TableExistsError(
                    f"table {name} already exists; pass --overwrite to replace it, or choose another name"
                )
            parsed = parse_upload(content, file_format, id_column, label_column, label_type)
            record = TableRecord(
                name=name,
                rows=parsed.rows,
                columns_json=json.dumps(parsed.schema()),
                id_column=id_column,
                label_column=label_column,
                label_type=label_type if label_column else None,
                source=source,
                created_at=time.time(),
            )
            with self.store.session() as session, session.begin():
                session.merge(record)
                self.tables.write(
                    name, Table(parsed.columns, id_column, label_column), overwrite=True
                )  # atomic; if it fails the row rolls back
        return record

    def delete(self, name: str) -> None:
        parse_table_name(name)
        with self._lock:
            if self.store.find_table(name) is None:
                raise TableError(f"table {name} does not exist at this party; list tables with `unseen data list`")
            self.store.delete_table(name)
            if self.tables.exists(name):
                self.tables.delete(name)
