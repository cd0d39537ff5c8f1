"""The board's static files, served compressed and cached by content hash.

Every file under ``static/`` is read once at start, hashed (SHA-256, the first 12 hex digits) and, for text
types, gzip-compressed once. Pages link ``/board/static/<hash>/<path>``: such a URL names one exact content, so
the answer is cached for a year as ``immutable`` and a browser never asks again until the board ships a new
file (a new hash, a new URL). ECharts goes from 1.1 MB to about a third over the wire, and to nothing on a
warm visit. A request names a file of that table or gets 404: no path from a URL ever touches the disk.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request, Response, status

COMPRESSIBLE = {".js", ".css", ".svg", ".txt", ".md", ".json", ".map", ""}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    gzipped: bytes | None
    media_type: str
    digest: str


def load(folder: Path) -> dict[str, StaticFile]:
    """Every file under ``folder`` by its relative path (``js/board.js``), hashed and maybe compressed."""
    files: dict[str, StaticFile] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        body = path.read_bytes()
        media_type = mimetypes.guess_type(path.name)[0] or (
            "text/plain" if not path.suffix else "application/octet-stream"
        )
        if media_type.startswith("text/") or media_type == "application/javascript":
            media_type += "; charset=utf-8"
        squeezed = gzip.compress(body, 9, mtime=0) if path.suffix in COMPRESSIBLE else None
        gzipped = squeezed if squeezed is not None and len(squeezed) < len(body) else None
        digest = hashlib.sha256(body).hexdigest()[:12]
        files[path.relative_to(folder).as_posix()] = StaticFile(body, gzipped, media_type, digest)
    return files


class StaticTable:
    """The loaded files, the URL of each (for templates), and the routes that serve them."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.files = load(folder)
        self.prefix = prefix

    def url(self, path: str) -> str:
        found = self.files.get(path)
        if found is None:
            raise KeyError(f"no static file {path} in the board")
        return f"{self.prefix}/{found.digest}/{path}"

    def respond(self, request: Request, path: str, digest: str | None) -> Response:
        found = self.files.get(path)
        if found is None or (digest is not None and digest != found.digest):
            return Response("not found", status.HTTP_404_NOT_FOUND, media_type="text/plain")
        etag = f'"{found.digest}"'
        headers = {"ETag": etag, "Vary": "Accept-Encoding", "Cache-Control": IMMUTABLE if digest else REVALIDATE}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
        body = found.body
        if found.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
            body, headers["Content-Encoding"] = found.gzipped, "gzip"
        return Response(body, media_type=found.media_type, headers=headers)

    def router(self) -> APIRouter:
        router = APIRouter(prefix=self.prefix, include_in_schema=False)

        @router.get("/{digest}/{path:path}")
        def hashed(request: Request, digest: str, path: str) -> Response:
            if len(digest) == 12 and all(c in "0123456789abcdef" for c in digest):
                return self.respond(request, path, digest)
            return self.respond(request, f"{digest}/{path}", None)  # an old-style link: js/board.js

        @router.get("/{path}")
        def plain(request: Request, path: str) -> Response:
            return self.respond(request, path, None)

        return router
