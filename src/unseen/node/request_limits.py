"""The REST API's front door: the API token first, then a size bound on every request body.

FastAPI reads and parses a JSON body *before* it runs an endpoint's dependencies, so with the token check
as a dependency, anyone could make the node read and parse half a gigabyte before it answered 401. This
pure-ASGI middleware runs before any of that: a ``/v1`` request (other than the public health check)
without the node's token is answered 401 before one byte of its body is read, and the connection is closed
so the body is never drained.

Then every body is bounded by what its endpoint can use: a declared ``Content-Length`` over the bound is
answered 413 at once, and a body without one (chunked) is counted as it streams and cut off with 413 the
moment it passes the bound. Endpoints never see more than their bound, whatever they do with the body.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from unseen.node.auth import TOKEN_REFUSAL, bearer_token_ok

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PREFIX = "/v1/"
PUBLIC_PATHS = frozenset({"/v1/health"})


@dataclass(frozen=True)
class BodyLimits:
    """Largest body, in bytes, by kind of endpoint."""

    json_bytes: int  # job configs and every other JSON body
    form_bytes: int  # the board's forms and the password endpoint
    upload_bytes: int  # table uploads (PUT /v1/tables/{name})

    def for_request(self, method: str, path: str) -> int:
        if method == "PUT" and path.startswith("/v1/tables/"):
            return self.upload_bytes
        if path.startswith("/board/") or path.startswith("/v1/board/"):
            return self.form_bytes
        return self.json_bytes


def needs_token(path: str) -> bool:
    return path.startswith(API_PREFIX) and path not in PUBLIC_PATHS


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _answer(send: Send, code: int, detail: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the body is not read: the connection cannot be reused
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestGate:
    """ASGI middleware: token before body, and each body within its endpoint's bound (see the module)."""

    def __init__(self, app: AsgiApp, token: str, limits: BodyLimits) -> None:
        self.app = app
        self._token = token
        self._limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = str(scope.get("path", "")), str(scope.get("method", "GET"))
        if needs_token(path) and not bearer_token_ok(_header(scope, b"authorization") or "", self._token):
            await _answer(send, 401, TOKEN_REFUSAL, [(b"www-authenticate", b"Bearer")])
            return
        limit = self._limits.for_request(method, path)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _answer(send, 413, f"request bodies here are limited to {limit} bytes")
            return

        received = 0
        refused = False
        started = False

        async def bounded_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await _answer(send, 413, f"request bodies here are limited to {limit} bytes")
                    return {"type": "http.disconnect"}  # the endpoint stops as if the client had gone
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent; whatever the endpoint answers after it is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracked_send)
        except Exception:
            if refused:
                return  # the endpoint failed on the cut-off body; the client already has its 413
            raise
