"""``/v1/tables``: a party's tables through its REST API. Schemas and sizes only; rows are never served."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status

from unseen.datasets.criteo import DEFAULT_VOCAB_SIZE
from unseen.datasets.upload import UploadError
from unseen.node.data import DataService, TableExistsError
from unseen.node.record_upload import receive_records
from unseen.storage.models import TableRecord
from unseen.storage.tables import TableError

MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024


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


def data_router(data: DataService) -> APIRouter:
    router = APIRouter(prefix="/tables")

    @router.put("/{name}", status_code=status.HTTP_201_CREATED)
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
        """Upload a CSV, Parquet, CIFAR-10 binary or Criteo TSV file (the request body) as table ``name``."""
        declared = int(request.headers.get("content-length") or 0)
        if declared > MAX_UPLOAD_BYTES:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE, detail=f"uploads are limited to {MAX_UPLOAD_BYTES} bytes"
            )
        # streamed (node/record_upload.py); two comparisons, not `in`, so that mypy narrows the Literal both ways
        if file_format == "cifar10-bin" or file_format == "criteo-tsv":  # noqa: PLR1714
            return table_json(
                await receive_records(data, name, request, file_format, overwrite, source, vocab_size, MAX_UPLOAD_BYTES)
            )
        content = await request.body()
        try:
            record = data.upload(name, content, file_format, id_column, label_column, label_type, overwrite, source)
        except TableExistsError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
        except (UploadError, TableError) as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
        return table_json(record)

    @router.get("")
    def list_tables() -> list[dict[str, Any]]:
        return [table_json(record) for record in data.store.list_tables()]

    @router.get("/{name}")
    def show(name: str) -> dict[str, Any]:
        record = data.store.find_table(name)
        if record is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"table {name} does not exist at this party")
        return table_json(record)

    @router.delete("/{name}")
    def delete(name: str) -> dict[str, str]:
        try:
            data.delete(name)
        except TableError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
        return {"message": f"table {name} deleted"}

    return router
