"""``PUT /v1/tables/{name}?format=cifar10-bin|criteo-tsv``: large record files, received and stored in a stream.

The body is spooled to a temporary file beside the tables (counted against the upload limit as it arrives, never
held in memory), then checked and converted into a staged table in a worker thread; the table is replaced only
once everything parsed. The name and an existing table are checked before the body is read, so a refused upload
costs no transfer. A refusal is one log line (table, caller, reason; the reason only once the name is known good,
since an invalid name is the caller's text).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from fastapi import HTTPException, Request, status
from starlette.concurrency import run_in_threadpool

from unseen.datasets.record_tables import RecordFormat
from unseen.node.data import DataService, TableExistsError
from unseen.node.spool import spool_body
from unseen.storage.models import TableRecord
from unseen.storage.tables import parse_table_name

log = logging.getLogger(__name__)


def _refuse(code: int, detail: str, request: Request, name: str | None) -> HTTPException:
    caller = request.client.host if request.client else "an unknown caller"
    if name is None:
        log.warning("refused a record upload from %s: the table name is not namespace.name", caller)
    else:
        log.warning("refused the upload of table %s from %s: %s", name, caller, detail)
    return HTTPException(code, detail=detail)


async def receive_records(
    data: DataService,
    name: str,
    request: Request,
    file_format: RecordFormat,
    overwrite: bool,
    source: str,
    vocab_size: int,
    limit: int,
) -> TableRecord:
    try:
        parse_table_name(name)
    except ValueError as exc:
        raise _refuse(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc), request, None) from None
    try:
        data.refuse_existing(name, overwrite)
    except TableExistsError as exc:
        raise _refuse(status.HTTP_409_CONFLICT, str(exc), request, name) from None
    data.tables.root.mkdir(parents=True, exist_ok=True)
    fd, spooled = tempfile.mkstemp(dir=data.tables.root, prefix=".upload-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as spool:
            try:
                await spool_body(request, spool, limit)
            except HTTPException as exc:
                raise _refuse(exc.status_code, str(exc.detail), request, name) from None
        try:
            return await run_in_threadpool(
                data.upload_records, name, Path(spooled), file_format, overwrite, source, vocab_size
            )
        except TableExistsError as exc:
            raise _refuse(status.HTTP_409_CONFLICT, str(exc), request, name) from None
        except ValueError as exc:  # CifarFormatError, CriteoFormatError, TableError: the message says what is wrong
            raise _refuse(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc), request, name) from None
    finally:
        Path(spooled).unlink(missing_ok=True)
