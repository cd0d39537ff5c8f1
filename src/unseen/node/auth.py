"""Who may call a node's REST API: a holder of its API token (the CLI, on the same machine)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from fastapi import HTTPException, Request, status


def ensure_api_token(path: Path) -> str:
    """The node's API token, created (readable by its owner only) on first start."""
    if path.is_file():
        token = path.read_text().strip()
        if token:
            return token
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


class TokenAuth:
    """A FastAPI dependency that accepts ``Authorization: Bearer <token>`` with the node's token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: Request) -> None:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(presented.strip(), self._token):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="missing or wrong API token: send `Authorization: Bearer <token>` "
                "(the CLI reads it from the node's folder)",
                headers={"WWW-Authenticate": "Bearer"},
            )
