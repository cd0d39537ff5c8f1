"""Send buffers: shared memory a task writes a large message body into, for its own node to read.

The local hop from a task to its node is otherwise a gRPC stream over a Unix socket: the body is copied
into frames, through the socket and out again, in two processes that share the machine's cores with the
TLS hop that follows. With a send buffer the task copies the body once into memory the node maps, and
the node streams views of it straight to the peer.

The node names each task's buffer (a file in a folder only its user can open, in ``/dev/shm`` where the
system has it) and passes the path in the task spec: a task cannot point its node at any other file. A
buffer is reused for every large send of its task, so its pages stay resident; ``send`` is synchronous,
so the task writes again only after the node has finished reading. The node deletes a task's buffer when
the task ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import secrets
import stat
import threading
from collections.abc import Iterable
from pathlib import Path

_SHARED_MEMORY = Path("/dev/shm")  # noqa: S108 - used through a private folder checked in buffers_dir


class SendBufferError(ValueError):
    """A send buffer is missing, or shorter than the message its task announced."""


def buffers_dir(home: Path) -> Path:
    """The folder of a node's send buffers: in shared memory if there is some, readable by its user only."""
    base = _SHARED_MEMORY if _SHARED_MEMORY.is_dir() and os.access(_SHARED_MEMORY, os.W_OK) else home / "run"
    folder = base / f"unseen-{hashlib.sha256(str(home).encode()).hexdigest()[:16]}"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.lstat()  # someone else may have made it first, in a folder every user can write to
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise SendBufferError(f"{folder} is not a private folder of this user; remove it and restart the node")
    return folder


class SendBuffer:
    """The task's side: one growing shared-memory file, written from the start for each large message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._map: mmap.mmap | None = None
        self.lock = threading.Lock()  # one large send at a time: they share the buffer

    def write(self, body: memoryview) -> None:
        size = len(body)
        if self._map is None or len(self._map) < size:
            self._grow(size)
        assert self._map is not None
        self._map[:size] = body

    def _grow(self, size: int) -> None:
        if self._map is not None:
            self._map.close()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


BODY_FILE_HEADER = "x-unseen-body-file"
_RECEIVE_SUFFIX = ".recv"


def receive_file(send_buffer: Path) -> Path:
    """A new private file for one received body, named after the task's send buffer (for cleanup)."""
    return send_buffer.with_name(f"{send_buffer.stem}-{secrets.token_hex(8)}{_RECEIVE_SUFFIX}")


def write_body(path: Path, chunks: Iterable[memoryview]) -> int:
    """Write a body as its chunks arrive; a failure leaves no file behind."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    written = 0
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                count = os.write(fd, view)
                view = view[count:]
                written += count
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)
    return written


def take_body(folder: Path, name: str, size: int) -> memoryview:
    """The task's side: map a body its node wrote (privately, so it is writable), and remove the file.

    The mapping outlives the file: the array decoded from it keeps it alive, and the memory returns to
    the system when the array goes. No copy is made.
    """
    if not name.endswith(_RECEIVE_SUFFIX) or "/" in name or name.startswith("."):
        raise SendBufferError(f"the node named an unexpected body file '{name}'")
    path = folder / name
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        if os.fstat(fd).st_size != size:
            raise SendBufferError(f"body file {name} holds {os.fstat(fd).st_size} bytes, not {size}")
        mapped = mmap.mmap(fd, size, access=mmap.ACCESS_COPY)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return memoryview(mapped)


class BufferReader:
    """The node's side: maps each task's buffer read-only, and forgets it when the task ends."""

    def __init__(self) -> None:
        self._maps: dict[Path, mmap.mmap] = {}
        self._lock = threading.Lock()

    def view(self, path: Path, length: int) -> memoryview:
        """The first ``length`` bytes of the buffer at ``path`` (remapped if the task has grown it)."""
        with self._lock:
            mapped = self._maps.get(path)
            if mapped is None or len(mapped) < length:
                if mapped is not None:
                    self._close(mapped)
                mapped = self._map(path, length)
                self._maps[path] = mapped
            return memoryview(mapped)[:length]

    @staticmethod
    def _map(path: Path, length: int) -> mmap.mmap:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise SendBufferError(f"the task's send buffer cannot be opened: {exc.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            if size < length:
                raise SendBufferError(f"the task's send buffer holds {size} bytes, not the {length} announced")
            return mmap.mmap(fd, size, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)

    @staticmethod
    def _close(mapped: mmap.mmap) -> None:
        with contextlib.suppress(BufferError):  # a view still exported: the map goes when the view does
            mapped.close()

    def forget(self, path: Path) -> None:
        """Release a task's send buffer, and any received body it did not take (it ended first)."""
        with self._lock:
            mapped = self._maps.pop(path, None)
        if mapped is not None:
            self._close(mapped)
        path.unlink(missing_ok=True)
        for leftover in path.parent.glob(f"{path.stem}-*{_RECEIVE_SUFFIX}"):
            leftover.unlink(missing_ok=True)
