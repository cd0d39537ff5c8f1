"""Where Unseen keeps its state: everything lives under ``$UNSEEN_HOME`` (default ``~/.unseen``)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

# A Unix socket path must fit in sockaddr_un (108 bytes on Linux, less on others).
_MAX_SOCKET_PATH = 100


def unseen_home() -> Path:
    return Path(os.environ.get("UNSEEN_HOME", Path.home() / ".unseen")).expanduser().resolve()


def socket_path(preferred: Path) -> Path:
    """``preferred`` if it fits in a socket address, else a short path in the temp dir unique to it."""
    if len(str(preferred)) <= _MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"unseen-{digest}.sock"
