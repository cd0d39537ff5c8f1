"""``PUT /v1/tables/{name}?format=cifar10-bin|criteo-tsv``: large record files, received and stored in a stream.

The body is spooled to a temporary file beside the tables (counted against the upload limit as it arrives, never
held in memory), then checked and converted into a staged table in a worker thread; the table is replaced only
once everything parsed. The name and an existing table are checked before the body is read, so a refused upload
costs no transfer.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fastapi import HTTPException, Request, status
from starlette.concurrency import run_in_threadpool

from unseen.datasets.record_tables import RecordFormat
from unseen.node.data import DataService, TableExistsError
from unseen.storage.models import TableRecord
from unseen.storage.tables import parse_table_name


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
        data.refuse_existing(name, overwrite)
    except TableExistsError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    data.tables.root.mkdir(parents=True, exist_ok=True)
    fd, spooled = tempfile.mkstemp(dir=data.tables.root, prefix=".upload-", suffix=".tmp")
    try:
        received = 0
        with os.fdopen(fd, "wb") as spool:
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise HTTPException(
                        status.HTTP_413_CONTENT_TOO_LARGE, detail=f"uploads are limited to {limit} bytes"
                    )
                spool.write(chunk)
        try:
            return await run_in_threadpool(
                data.upload_records, name, Path(spooled), file_format, overwrite, source, vocab_size
            )
        except TableExistsError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
        except ValueError as exc:  # CifarFormatError, CriteoFormatError, TableError: the message says what is wrong
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    finally:
        Path(spooled).unlink(missing_ok=True)
