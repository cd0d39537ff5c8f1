"""``/v1/tables``: a party's tables through its REST API. Schemas and sizes only; rows are never served."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor

from unseen.datasets.criteo import DEFAULT_VOCAB_SIZE
from unseen.datasets.upload import UploadError
from unseen.ids import check_table_name
from unseen.node.data import DataService, TableExistsError
from unseen.node.record_upload import receive_records
from unseen.node.spool import spool_body
from unseen.storage.models import TableRecord
from unseen.storage.tables import TableError


class _RawName(Convertor[str]):
    """Every character of the path's last part, '/' and newline included, so the name check sees them all.

    Starlette's ``path`` convertor is ``.*`` inside ``^...$``: it stops before a newline and ``$`` matches
    before a trailing one, so ``/tables/x.y%0A`` would reach the route as ``x.y`` and a DELETE of the twin
    would delete the original. Its ``str`` convertor stops at '/', which turns ``..%2F..%2Fx.y`` into a 404
    that says nothing of the name. This one hands the whole value to ``check_table_name`` (422 with the rule).
    """

    regex = "(?s:.+)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("rawname", _RawName())


def table_json(record: TableRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "rows": record.rows,
        "columns": json.loads(record.columns_json),
        "id_column": record.id_column,
        "label_column": record.label_column,
        "label_type": record.label_type,
        "source": record.source,
        "created_at": record.created_at,
    }


def data_router(data: DataService, spool_dir: Path, max_bytes: int) -> APIRouter:
    """The table routes; uploads are spooled to ``spool_dir`` and limited to ``max_bytes`` (``max_upload_bytes``)."""
    router = APIRouter(prefix="/tables")

    @router.put("/{name:rawname}", status_code=status.HTTP_201_CREATED)
    async def upload(
        name: str,
        request: Request,
        id_column: str = Query(..., min_length=1),
        label_column: str | None = None,
        label_type: Literal["binary", "multiclass", "regression"] = "binary",
        file_format: Literal["csv", "parquet", "cifar10-bin", "criteo-tsv"] = Query("csv", alias="format"),
        overwrite: bool = False,
        source: str = "",
        vocab_size: int = Query(DEFAULT_VOCAB_SIZE, ge=2, le=2**31 - 1),
    ) -> dict[str, Any]:
        """Upload a CSV, Parquet, CIFAR-10 binary or Criteo TSV file (the request body) as table ``name``.

        The body is spooled to a file in the node's folder as it arrives (never held in memory whole) and
        refused with 413 the moment it passes ``max_upload_bytes``, with or without a Content-Length."""
        check_table_name(name)  # before any body byte is read: a bad name gets 422 naming the rule
        # streamed (node/record_upload.py); two comparisons, not `in`, so that mypy narrows the Literal both ways
        if file_format == "cifar10-bin" or file_format == "criteo-tsv":  # noqa: PLR1714
            return table_json(
                await receive_records(data, name, request, file_format, overwrite, source, vocab_size, max_bytes)
            )
        spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.NamedTemporaryFile(dir=spool_dir, prefix="upload-", suffix=f".{file_format}") as spool:
            await spool_body(request, spool, max_bytes)
            try:
                record = await run_in_threadpool(
                    data.upload,
                    name,
                    Path(spool.name),
                    file_format,
                    id_column,
                    label_column,
                    label_type,
                    overwrite,
                    source,
                )
            except TableExistsError as exc:
                raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
            except (UploadError, TableError) as exc:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
        return table_json(record)

    @router.get("")
    def list_tables() -> list[dict[str, Any]]:
        return [table_json(record) for record in data.store.list_tables()]

    @router.get("/{name:rawname}")
    def show(name: str) -> dict[str, Any]:
        check_table_name(name)
        record = data.store.find_table(name)
        if record is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"table {name} does not exist at this party")
        return table_json(record)

    @router.delete("/{name:rawname}")
    def delete(name: str) -> dict[str, str]:
        check_table_name(name)
        try:
            data.delete(name)
        except TableError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
        return {"message": f"table {name} deleted"}

    return router
