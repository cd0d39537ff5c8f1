"""Send buffers and receive files: shared memory that carries large message bodies between a task and its node.

Through the task's Unix socket, a large body would be copied into frames, through the socket and out
again, in two processes that share the machine's cores with the TLS hop that follows. With a send buffer
the task copies the body once into memory the node maps, and the node streams views of it straight to
the peer; the socket carries only the calls and envelopes.

The node names each task's buffer (a file in a folder only its user can open, in ``/dev/shm`` where the
system has it) and passes the path in the task spec: a task cannot point its node at any other file. A
buffer is reused for every large send of its task, so its pages stay resident; ``send`` is synchronous,
so the task writes again only after the node has finished reading.

The way back works alike: a task's node writes each large body it receives for the task into one of the
task's receive files (named after its send buffer, in the same folder), and the task maps it. Those
files are reused too, once nothing refers to the value decoded from them (see ``ReceiveFiles``). The
node deletes a task's buffer and receive files when the task ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import mmap
import os
import re
import stat
import threading
import weakref
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


def clear_buffers(folder: Path) -> int:
    """Remove every send buffer and receive file in a node's folder; returns how many there were.

    For when no task of the node can be running: at start, for what a run that crashed left behind (in
    ``/dev/shm`` that is memory, held until the next reboot), and at a clean stop.
    """
    removed = 0
    for leftover in [*folder.glob("*.send"), *folder.glob(f"*{_RECEIVE_SUFFIX}")]:
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
            removed += 1
    return removed


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


_RECEIVE_SUFFIX = ".recv"


def receive_path(send_buffer: Path, name: str) -> Path:
    """The node's side: the receive file a task named, if the name is one of that task's own."""
    if re.fullmatch(re.escape(send_buffer.stem) + r"-r\d{1,6}" + re.escape(_RECEIVE_SUFFIX), name) is None:
        raise SendBufferError(f"the task named an unexpected body file '{name}'")
    return send_buffer.with_name(name)


class BodyWriter:
    """The node's side: writes each large body into the task's receive file through a mapping it keeps.

    With the file's pages mapped from one message to the next, a body costs one copy in user space;
    ``pwrite`` walks the file page by page in the kernel and took twice as long (12 against 6 ms for
    64 MiB on a 2-core VM). A file that is not a plain, private file of this user with a single name is
    refused: a task cannot make its node write anywhere but its own receive files. A file is never made
    smaller while the node maps it (the task maps only the body's length of it), and if a message fails,
    the node lets go of the mapping and empties the file, so no byte of a refused message stays behind.

    A task could still shrink its file under the node's mapping, and the node would die of SIGBUS. That
    is no new power: a task runs as its node's user and could as well signal it. What this guards
    against is a task that names the wrong file, not one that attacks its own node.
    """

    def __init__(self) -> None:
        # send buffer (one per task) -> receive file -> (inode, mapping of the whole file)
        self._maps: dict[Path, dict[Path, tuple[int, mmap.mmap]]] = {}
        self._lock = threading.Lock()

    def write(self, send_buffer: Path, name: str, size: int, chunks: Iterable[memoryview]) -> int:
        """Write a body into the receive file ``name`` of the task whose send buffer is ``send_buffer``."""
        path = receive_path(send_buffer, name)
        mapping = self._map(send_buffer, path, size)
        written = 0
        try:
            for chunk in chunks:
                end = written + len(chunk)
                if end > size:
                    raise SendBufferError(f"the body grew past the {size} bytes it declared")
                try:
                    mapping[written:end] = chunk
                except ValueError:  # closed under this write: the task removed the file it was receiving into
                    raise SendBufferError(f"{path.name} was removed while its body was being written") from None
                written = end
        except BaseException:
            with self._lock:
                entry = self._maps.get(send_buffer, {}).pop(path, None)
            if entry is not None:
                entry[1].close()
            _empty(path)
            raise
        return written

    def _map(self, send_buffer: Path, path: Path, size: int) -> mmap.mmap:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_uid != os.getuid():
                raise SendBufferError(f"{path.name} is not a private receive file; the task's message was not written")
            with self._lock:
                inode, mapping = self._maps.get(send_buffer, {}).get(path, (-1, None))
            if mapping is None or inode != info.st_ino or len(mapping) < size:
                if info.st_size < size:
                    os.ftruncate(fd, size)
                mapping = mmap.mmap(fd, max(size, info.st_size))
        finally:
            os.close(fd)
        with self._lock:
            task_maps = self._maps.setdefault(send_buffer, {})
            replaced = task_maps.get(path)
            task_maps[path] = (info.st_ino, mapping)
            # Files this task has removed (idle ones beyond its spares): their pages go once unmapped here.
            gone = [p for p, (ino, _) in task_maps.items() if p != path and _inode(p) != ino]
            closing = [task_maps.pop(p)[1] for p in gone]
        if replaced is not None and replaced[1] is not mapping:
            closing.append(replaced[1])
        for stale in closing:
            stale.close()
        return mapping

    def forget(self, send_buffer: Path) -> None:
        """Let go of the mappings of a task's receive files (the task has ended)."""
        with self._lock:
            task_maps = self._maps.pop(send_buffer, {})
        for _, mapping in task_maps.values():
            mapping.close()


def _empty(path: Path) -> None:
    """Truncate a receive file to nothing, if it is still a plain file (a link put in its place is not followed)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)


def _inode(path: Path) -> int:
    try:
        return os.lstat(path).st_ino
    except OSError:
        return -1


class ReceiveFiles:
    """The task's side: the files its node writes large bodies into, each reused once nothing uses it.

    A large value is decoded straight from a private mapping of its file, with no copy, so the file is
    busy while anything still refers to that value (or to a view of it); once the last reference goes, the
    next body is written over the same pages. A new file instead costs the node a fresh page for every
    4 KiB it writes and the task as much again to free them: about a third of the CPU a 64 MiB message
    took to receive. At most ``spare`` idle files are kept; the node removes them all when the task ends.
    """

    def __init__(self, send_buffer: Path, spare: int = 2) -> None:
        self._send_buffer = send_buffer
        self._spare = spare
        self._names = (f"{send_buffer.stem}-r{index}{_RECEIVE_SUFFIX}" for index in itertools.count())
        self._idle: list[str] = []
        self._busy: dict[str, weakref.ref[mmap.mmap] | None] = {}  # None: reserved for a receive under way
        self._lock = threading.Lock()

    def reserve(self) -> str:
        """A file for the next large body: an idle one if there is one, else a new name."""
        with self._lock:
            for name, mapping in list(self._busy.items()):
                if mapping is not None and mapping() is None:
                    del self._busy[name]
                    self._idle.append(name)
            name = self._idle.pop() if self._idle else next(self._names)
            while len(self._idle) > self._spare:
                self._send_buffer.with_name(self._idle.pop(0)).unlink(missing_ok=True)
            self._busy[name] = None
            return name

    def release(self, name: str) -> None:
        """The receive ``name`` was reserved for did not deliver a body: the file is idle again."""
        with self._lock:
            if self._busy.pop(name, False) is None:
                self._idle.append(name)

    def take(self, name: str, size: int) -> memoryview:
        """Map the body the node wrote at the start of ``name`` privately (writable; the file stays as written).

        If this fails, the caller releases ``name``."""
        try:
            fd = os.open(self._send_buffer.with_name(name), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise SendBufferError(f"the received body cannot be opened: {exc.strerror}") from None
        try:
            held = os.fstat(fd).st_size
            if held < size:  # a file reused for a smaller body keeps its length; only the body is mapped
                raise SendBufferError(f"body file {name} holds {held} bytes, fewer than {size}")
            mapped = mmap.mmap(fd, size, access=mmap.ACCESS_COPY)
        finally:
            os.close(fd)
        with self._lock:
            self._busy[name] = weakref.ref(mapped)
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
        """Release a task's send buffer and its receive files (the task has ended)."""
        with self._lock:
            mapped = self._maps.pop(path, None)
        if mapped is not None:
            self._close(mapped)
        path.unlink(missing_ok=True)
        for leftover in path.parent.glob(f"{path.stem}-*{_RECEIVE_SUFFIX}"):
            leftover.unlink(missing_ok=True)
