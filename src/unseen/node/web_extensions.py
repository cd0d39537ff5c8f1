"""Where the node's web app gains pages from packages layered above the node (the board), without importing them.

The node owns the FastAPI app, the ``JobService`` and the API token; the board is built on those interfaces
(``unseen.board`` imports ``unseen.node``, never the other way round). So the node does not import the board:
it names it here, as ``module:function``, and imports it when the app is built. A web extension is any
function ``(app, service, api_token)`` that adds routes to ``app``; a node with none serves the REST API alone.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from fastapi import FastAPI

    from unseen.node.service import JobService

BOARD = "unseen.board.web:mount_board"
DEFAULT_EXTENSIONS = (BOARD,)


class WebExtension(Protocol):
    def __call__(self, app: FastAPI, service: JobService, api_token: str, /) -> object: ...


def load(spec: str) -> WebExtension:
    """The function ``spec`` (``package.module:function``) names; a clear error when it does not exist."""
    module_name, _, attribute = spec.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise LookupError(f"web extension {spec!r} cannot be loaded: {exc}") from None
    if not callable(found):
        raise LookupError(f"web extension {spec!r} is not a function")
    extension: WebExtension = found
    return extension


def mount_all(app: FastAPI, service: JobService, api_token: str, specs: Iterable[str] = DEFAULT_EXTENSIONS) -> None:
    """Let each extension add its routes to the node's app, in order."""
    for spec in specs:
        load(spec)(app, service, api_token)
