"""An upload's body, written to a file as it arrives and held to a byte limit, chunked or not.

Both upload paths (tables from CSV or Parquet, and record files) use it, so a body is never held in memory
whole and a chunked request without Content-Length cannot pass the limit.
"""

from __future__ import annotations

from typing import IO

from fastapi import HTTPException, Request, status
from starlette.requests import ClientDisconnect


async def spool_body(request: Request, spool: IO[bytes], max_bytes: int) -> None:
    """Copy the body into ``spool``; 413 the moment it passes ``max_bytes``, 400 if the client cut it off."""
    too_large = HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=f"uploads are limited to {max_bytes} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise too_large
            spool.write(chunk)
    except ClientDisconnect:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="the upload was cut off before its end") from None
    spool.flush()
