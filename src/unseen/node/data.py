"""The party's own tables: upload, list, show, delete. Rows never leave the node; only schemas are shown."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

from unseen.datasets import record_tables
from unseen.datasets.upload import FileFormat, LabelType, parse_upload
from unseen.storage.models import TableRecord
from unseen.storage.repository import NodeStore
from unseen.storage.tables import Table, TableError, TableStore, parse_table_name

_SHOWN_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,128}")


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

    def upload_records(
        self,
        name: str,
        spooled: Path,
        file_format: record_tables.RecordFormat,
        overwrite: bool,
        source: str,
        vocab_size: int,
    ) -> TableRecord:
        """Store a CIFAR-10 or Criteo file (already on disk) as table ``name``, checked and converted in a stream
        into a staged file that replaces the table only once complete: a refused upload changes nothing stored.
        Errors name ``source`` (the uploaded file's name) when it is a plain file name."""
        parse_table_name(name)
        self.refuse_existing(name, overwrite)
        shown = source if _SHOWN_NAME.fullmatch(source) else "the uploaded file"
        staged = self.tables.staging_path(name)
        try:
            if file_format == "cifar10-bin":
                written = record_tables.write_cifar_table(spooled, staged, shown)
            else:
                written = record_tables.write_criteo_table(spooled, staged, shown, vocab_size)
            record = TableRecord(
                name=name,
                rows=written.rows,
                columns_json=json.dumps(written.columns),
                id_column=None,
                label_column=written.label_column,
                label_type=written.label_type,
                source=source,
                created_at=time.time(),
            )
            with self._lock:
                self.refuse_existing(name, overwrite)
                with self.store.session() as session, session.begin():
                    session.merge(record)
                    self.tables.install(name, staged)  # atomic; if it fails the row rolls back
        finally:
            staged.unlink(missing_ok=True)
        return record

    def refuse_existing(self, name: str, overwrite: bool) -> None:
        if not overwrite and self.store.find_table(name) is not None:
            raise TableExistsError(
                f"table {name} already exists; pass --overwrite to replace it, or choose another name"
            )

    def delete(self, name: str) -> None:
        parse_table_name(name)
        with self._lock:
            if self.store.find_table(name) is None:
                raise TableError(f"table {name} does not exist at this party; list tables with `unseen data list`")
            self.store.delete_table(name)
            if self.tables.exists(name):
                self.tables.delete(name)
