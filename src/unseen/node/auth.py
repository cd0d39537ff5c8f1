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


TOKEN_REFUSAL = (
    "missing or wrong API token: send `Authorization: Bearer <token>` "  # noqa: S105 - a message, not a secret
    "(the CLI reads it from the node's folder)"
)


def bearer_token_ok(authorization: str, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (compared in constant time)."""
    scheme, _, presented = authorization.partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(presented.strip().encode(), token.encode())


class TokenAuth:
    """A FastAPI dependency that accepts ``Authorization: Bearer <token>`` with the node's token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: Request) -> None:
        if not bearer_token_ok(request.headers.get("authorization", ""), self._token):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, detail=TOKEN_REFUSAL, headers={"WWW-Authenticate": "Bearer"}
            )
