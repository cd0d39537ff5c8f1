"""Ristretto255, the prime-order group that ECDH-PSI runs in: a thin typed layer over libsodium.

Why Ristretto255: it is a prime-order group built on Curve25519, so every valid encoding is a group element of
order ``L`` (no cofactor to clear, no small-subgroup tricks), the encoding is canonical (one 32-byte string per
element, so equal elements compare equal as bytes), and libsodium ships hash-to-group
(``crypto_core_ristretto255_from_hash``, Elligator 2 applied twice to a 64-byte uniform string) and constant-time
scalar multiplication. PyNaCl 1.6 does not bind these; ``pysodium`` does, over the system ``libsodium``.

What lives here, and nothing else:

* :func:`random_scalar`, :func:`scalar_invert` through pysodium's bindings;
* batch functions over ``numpy`` ``uint8`` arrays of shape ``(n, 32)`` -- :func:`hash_to_group`, :func:`blind`,
  :func:`hash_and_blind` -- whose loops call the same libsodium through ``ctypes`` directly, writing each result
  into the output array (pysodium's per-call wrappers allocate a buffer and a ``bytes`` per element, which costs a
  few percent on a loop that runs millions of times);
* :class:`RistrettoPool`, which spreads those batch functions over all cores in worker processes. Only our own
  id bytes, raw point bytes and the secret scalar cross a process boundary, as ``bytes``; nothing received from
  the network is ever unpickled;
* :class:`InlineRistretto`, the same streaming interface in the calling thread, for sets so small that starting
  worker processes would cost more than the work (:class:`GroupWorkers` names what both offer).

No curve arithmetic is implemented here: every group operation is a libsodium call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType
from typing import Final, Protocol, TypeVar

import numpy as np
import pysodium  # type: ignore[import-untyped]
from numpy.typing import NDArray

POINT_BYTES: Final = 32
"""Length of a canonical Ristretto255 encoding."""
SCALAR_BYTES: Final = 32
"""Length of a scalar modulo the group order ``L``, little-endian."""
HASH_BYTES: Final = 64
"""Length of the uniform string that ``crypto_core_ristretto255_from_hash`` maps to the group."""
PSI_DOMAIN: Final = b"unseen/psi/ristretto255-sha512/v1\x00"
"""Domain separation for hashing ids to the group: the same id hashed for another purpose gives another point."""

Points = NDArray[np.uint8]
"""A batch of group elements: ``uint8`` array of shape ``(n, 32)``, one canonical encoding per row."""
IdBytes = bytes | memoryview
"""An id as bytes (a view into a larger buffer is fine: worker processes slice one blob)."""
_Batch = TypeVar("_Batch")


class InvalidPointError(ValueError):
    """Bytes that are not the canonical encoding of a group element, or a point that blinds to the identity."""


def _load_libsodium() -> ctypes.CDLL:
    """Our own handle on the libsodium that pysodium loaded, so setting argtypes never changes pysodium's calls."""
    name = getattr(pysodium.sodium, "_name", None) or ctypes.util.find_library("sodium")
    if not name:
        raise ImportError("libsodium was not found; install it (Debian: apt-get install libsodium23)")
    lib = ctypes.CDLL(name)
    lib.sodium_version_string.restype = ctypes.c_char_p
    version = tuple(int(part) for part in lib.sodium_version_string().decode("ascii").split(".")[:3])
    if version < (1, 0, 18):
        raise ImportError(f"libsodium {'.'.join(map(str, version))} has no Ristretto255; 1.0.18 or later is needed")
    if lib.sodium_init() < 0:
        raise ImportError("libsodium failed to initialise (sodium_init returned -1)")
    for name_, args in (
        ("crypto_core_ristretto255_from_hash", [ctypes.c_void_p, ctypes.c_char_p]),
        ("crypto_scalarmult_ristretto255", [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]),
        ("crypto_core_ristretto255_is_valid_point", [ctypes.c_void_p]),
    ):
        function = getattr(lib, name_)
        function.argtypes = args
        function.restype = ctypes.c_int
    return lib


_LIB: Final = _load_libsodium()
_FROM_HASH: Final = _LIB.crypto_core_ristretto255_from_hash
_SCALARMULT: Final = _LIB.crypto_scalarmult_ristretto255
_IS_VALID: Final = _LIB.crypto_core_ristretto255_is_valid_point


def libsodium_version() -> str:
    """The version of the libsodium in use (reported by benchmarks and logs)."""
    version: bytes = _LIB.sodium_version_string()
    return version.decode("ascii")


# scalars -------------------------------------------------------------------------------------------------------
def random_scalar() -> bytes:
    """A fresh secret scalar, uniform in ``[1, L)`` from libsodium's CSPRNG: one per party per PSI run."""
    scalar = bytes(pysodium.crypto_core_ristretto255_scalar_random())
    if scalar == bytes(SCALAR_BYTES):  # probability 1/L; a zero scalar would map every point to the identity
        return random_scalar()
    return scalar


def scalar_invert(scalar: bytes) -> bytes:
    """``1/scalar`` modulo ``L``: blinding by it undoes blinding by ``scalar`` (used to check the algebra)."""
    _check_scalar(scalar)
    return bytes(pysodium.crypto_core_ristretto255_scalar_invert(scalar))


def _check_scalar(scalar: bytes) -> None:
    if not isinstance(scalar, bytes) or len(scalar) != SCALAR_BYTES:
        raise ValueError(f"a scalar is {SCALAR_BYTES} bytes")


# batch operations ----------------------------------------------------------------------------------------------
def as_points(value: object) -> Points:
    """Check that ``value`` has the shape of a batch of points (``uint8``, ``(n, 32)``, C order) and return it.

    Used on arrays received from the network before they reach libsodium; whether each row is a valid encoding
    is checked by libsodium itself during :func:`blind`.
    """
    if not isinstance(value, np.ndarray) or value.dtype != np.uint8 or value.ndim != 2 or value.shape[1] != 32:
        described = (
            f"array of dtype {value.dtype} and shape {value.shape}"
            if isinstance(value, np.ndarray)
            else type(value).__name__
        )
        raise ValueError(f"expected group elements as a uint8 array of shape (n, {POINT_BYTES}), got {described}")
    return np.ascontiguousarray(value)


def hash_to_group(ids: Sequence[IdBytes], domain: bytes = PSI_DOMAIN) -> Points:
    """``H(id)`` for each id: SHA-512 of ``domain || id``, mapped to the group by libsodium (a random oracle)."""
    out = np.empty((len(ids), POINT_BYTES), dtype=np.uint8)
    base = out.ctypes.data
    prefix = hashlib.sha512(domain)
    for index, item in enumerate(ids):
        digest = prefix.copy()
        digest.update(item)
        _FROM_HASH(base + POINT_BYTES * index, digest.digest())
    return out


def blind(points: Points, scalar: bytes) -> Points:
    """``P^scalar`` for each row; raises :class:`InvalidPointError` naming the first row libsodium refuses.

    libsodium refuses non-canonical encodings and results equal to the identity, so a peer cannot make us
    multiply a point outside the group or learn our scalar from a degenerate input.
    """
    _check_scalar(scalar)
    source = as_points(points)
    out = np.empty_like(source)
    src, dst = source.ctypes.data, out.ctypes.data
    for index in range(len(source)):
        offset = POINT_BYTES * index
        if _SCALARMULT(dst + offset, scalar, src + offset) != 0:
            raise InvalidPointError(f"row {index} is not a valid Ristretto255 element (or is the identity)")
    return out


def hash_and_blind(ids: Sequence[IdBytes], scalar: bytes, domain: bytes = PSI_DOMAIN) -> Points:
    """``H(id)^scalar`` for each id, without the unblinded ``H(id)`` ever leaving this function."""
    _check_scalar(scalar)
    out = np.empty((len(ids), POINT_BYTES), dtype=np.uint8)
    base = out.ctypes.data
    prefix = hashlib.sha512(domain)
    point = ctypes.create_string_buffer(POINT_BYTES)
    address = ctypes.addressof(point)
    for index, item in enumerate(ids):
        digest = prefix.copy()
        digest.update(item)
        _FROM_HASH(address, digest.digest())
        if _SCALARMULT(base + POINT_BYTES * index, scalar, address) != 0:  # pragma: no cover - probability 1/L
            raise ValueError(f"id {index} hashed to the identity")
    ctypes.memset(address, 0, POINT_BYTES)
    return out


def is_valid_point(point: bytes) -> bool:
    """Whether ``point`` is a canonical encoding of a group element (libsodium's own check)."""
    return len(point) == POINT_BYTES and _IS_VALID(point) == 1


# what worker processes run: bytes in, bytes out ----------------------------------------------------------------
def _hash_and_blind_packed(blob: bytes, ends: bytes, scalar: bytes, domain: bytes) -> bytes:
    """Worker side of :meth:`RistrettoPool.hash_and_blind`: ids arrive as one blob plus their end offsets."""
    stops = np.frombuffer(ends, dtype=np.int64).tolist()
    view = memoryview(blob)
    starts = [0, *stops[:-1]]
    items = [view[start:stop] for start, stop in zip(starts, stops, strict=True)]
    return hash_and_blind(items, scalar, domain).tobytes()


def _blind_raw(points: bytes, scalar: bytes) -> bytes:
    """Worker side of :meth:`RistrettoPool.blind`: raw point bytes in, raw point bytes out."""
    array = np.frombuffer(points, dtype=np.uint8).reshape(-1, POINT_BYTES)
    return blind(array, scalar).tobytes()


def _pack(ids: Sequence[bytes]) -> tuple[bytes, bytes]:
    lengths = np.fromiter((len(item) for item in ids), dtype=np.int64, count=len(ids))
    return b"".join(ids), np.cumsum(lengths, dtype=np.int64).tobytes()


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one, as in containers)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


class GroupWorkers(Protocol):
    """What runs a PSI's batch group operations: :class:`RistrettoPool` or :class:`InlineRistretto`."""

    def hash_and_blind(
        self, batches: Iterable[Sequence[bytes]], scalar: bytes, domain: bytes = PSI_DOMAIN
    ) -> Iterator[Points]: ...

    def blind(self, batches: Iterable[Points], scalar: bytes) -> Iterator[Points]: ...


class InlineRistretto:
    """The streaming interface of :class:`RistrettoPool`, computed in the calling thread, batch by batch.

    For small sets: spawning the pool's workers (each imports numpy and libsodium) takes 0.5-1.5 s, while a few
    thousand group operations take a fraction of that on one core. The results are the same bytes, since every
    operation is the same libsodium call. libsodium runs without the GIL (``ctypes`` releases it), so the two
    directions of a PSI, one per thread, still overlap.
    """

    def hash_and_blind(
        self, batches: Iterable[Sequence[bytes]], scalar: bytes, domain: bytes = PSI_DOMAIN
    ) -> Iterator[Points]:
        """``H(id)^scalar`` for every batch of ids, one ``(n, 32)`` array per batch, in order."""
        _check_scalar(scalar)
        return (hash_and_blind(batch, scalar, domain) for batch in batches)

    def blind(self, batches: Iterable[Points], scalar: bytes) -> Iterator[Points]:
        """``P^scalar`` for every batch of points; an invalid encoding raises :class:`InvalidPointError`."""
        _check_scalar(scalar)
        return (_blind_batch(batch, scalar) for batch in batches)


def _blind_batch(points: Points, scalar: bytes) -> Points:
    try:
        return blind(points, scalar)
    except InvalidPointError as exc:
        raise InvalidPointError(f"in the rows from 0, {exc}") from None  # the pool's wording, one chunk


class RistrettoPool:
    """Batch group operations spread over worker processes, streamed with a bounded number of chunks in flight.

    The streaming methods take an iterable of batches (a message each, e.g. 65,536 ids) and yield one result per
    batch, in order. Each batch is cut into chunks of ``chunk`` rows (small enough that all workers stay busy to
    the end). A stream stops pulling batches while more than ``window`` of its chunks are submitted and not yet
    collected, so memory stays bounded (``window`` chunks plus one batch) however many batches flow through.
    Several streams may share one pool from several threads (both directions of a PSI, or two parties in a
    benchmark); the pool runs their chunks in submission order.

    Workers are started with ``spawn``: PSI runs next to threads (federation receivers), and ``fork`` in a
    threaded process can copy a lock held by another thread.
    """

    def __init__(self, workers: int | None = None, *, chunk: int = 4096, window: int | None = None) -> None:
        if chunk < 1:
            raise ValueError("chunk must be at least 1")
        self.workers = workers if workers is not None else available_cores()
        if self.workers < 1:
            raise ValueError("a pool needs at least one worker")
        self.chunk = chunk
        self.window = window if window is not None else 4 * self.workers
        self._executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))

    def __enter__(self) -> RistrettoPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def warm_up(self) -> None:
        """Start every worker now (importing libsodium takes a moment) rather than inside a timed section."""
        scalar = random_scalar()
        blob, ends = _pack([b"warm-up"])
        futures = [
            self._executor.submit(_hash_and_blind_packed, blob, ends, scalar, PSI_DOMAIN) for _ in range(self.workers)
        ]
        for future in futures:
            future.result()

    # streaming -----------------------------------------------------------------------------------------------
    def hash_and_blind(
        self, batches: Iterable[Sequence[bytes]], scalar: bytes, domain: bytes = PSI_DOMAIN
    ) -> Iterator[Points]:
        """``H(id)^scalar`` for every batch of ids, one ``(n, 32)`` array per batch, in order."""
        _check_scalar(scalar)

        def submit(batch: Sequence[bytes]) -> list[tuple[int, Future[bytes]]]:
            return [
                (
                    start,
                    self._executor.submit(
                        _hash_and_blind_packed, *_pack(batch[start : start + self.chunk]), scalar, domain
                    ),
                )
                for start in range(0, len(batch), self.chunk)
            ]

        return self._stream(batches, submit)

    def blind(self, batches: Iterable[Points], scalar: bytes) -> Iterator[Points]:
        """``P^scalar`` for every batch of points, one ``(n, 32)`` array per batch, in order.

        A batch holding an invalid encoding raises :class:`InvalidPointError` (with the row's index in its batch)
        when its result is reached.
        """
        _check_scalar(scalar)

        def submit(batch: Points) -> list[tuple[int, Future[bytes]]]:
            points = as_points(batch)
            return [
                (start, self._executor.submit(_blind_raw, points[start : start + self.chunk].tobytes(), scalar))
                for start in range(0, len(points), self.chunk)
            ]

        return self._stream(batches, submit)

    def _stream(
        self, batches: Iterable[_Batch], submit: Callable[[_Batch], list[tuple[int, Future[bytes]]]]
    ) -> Iterator[Points]:
        """Submit batches as they come, yield finished ones in order, block while ``window`` chunks are out."""
        pending: deque[list[tuple[int, Future[bytes]]]] = deque()
        in_flight = 0
        try:
            for batch in batches:
                pending.append(submit(batch))
                in_flight += len(pending[-1])
                while pending and (in_flight > self.window or all(f.done() for _, f in pending[0])):
                    in_flight -= len(pending[0])
                    yield _collect(pending.popleft())
            while pending:
                yield _collect(pending.popleft())
        finally:
            for chunks in pending:
                for _, future in chunks:
                    future.cancel()


def _collect(chunks: list[tuple[int, Future[bytes]]]) -> Points:
    parts: list[bytes] = []
    for start, future in chunks:
        try:
            parts.append(future.result())
        except InvalidPointError as exc:
            raise InvalidPointError(f"in the rows from {start}, {exc}") from None
    out = np.empty((sum(len(part) for part in parts) // POINT_BYTES, POINT_BYTES), dtype=np.uint8)
    row = 0
    for part in parts:
        rows = len(part) // POINT_BYTES
        out[row : row + rows] = np.frombuffer(part, dtype=np.uint8).reshape(rows, POINT_BYTES)
        row += rows
    return out
