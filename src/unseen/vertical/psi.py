"""ECDH private set intersection (DH-PSI) in Ristretto255, between the guest and one or more hosts.

The protocol (Meadows 1986; Huberman, Franklin & Hogg 1999; the "DH-PSI" of FATE and SecretFlow), semi-honest.
The guest holds ids ``X`` and scalar ``a``; each host ``h`` holds ids ``Y_h`` and scalar ``b_h``; ``H`` hashes an
id to the group (SHA-512 then libsodium's ``from_hash``, a random oracle). Every scalar is fresh for the run.

1. ``hello``: both sides send ``{"protocol", "count", "batch_size"}``; so each learns the other's set size.
2. The guest draws a secret random permutation ``s`` of its ids and streams ``H(x_s(i))^a`` to every host in
   that order (``guest_blinded-k``, batches of ``batch_size`` rows). At the same time each host draws its own
   permutation ``t`` and streams ``H(y_t(j))^b`` to the guest (``host_blinded-k``).
3. Each host raises the guest's points to ``b`` and returns them *in the order received*
   (``guest_double-k``): the guest now holds ``H(x)^ab`` for each of its positions. The guest raises the host's
   points to ``a``: it holds ``H(y)^ab`` for each position of the host's shuffled list.
4. The guest matches the two lists of doubly-blinded values. With several hosts, an id is in the result when it
   matched every host. The guest orders the result by its doubly-blinded value with the first host (lowest
   party id) and sends each host, in that order, the matching positions *in that host's shuffled list*
   (``intersection`` with the size, then ``intersection-k`` int64 batches). Each host maps them back through its
   permutation.

Both sides end with the same members in the same order, as positions into their own id lists
(:class:`PsiResult`), so the next component can align rows without any id crossing the wire.

Why the shuffles and the order: a host computes ``H(x)^ab`` for every position of the list the guest sent, so once
it knows which of its own ids matched and in which ``H(x)^ab`` order, it can (when, say, the guest's set lies
inside its own) pair each matched id with a position of the guest's list. If that list were in the guest's row
order, the host would learn where each member sits in the guest's table, and row order can follow a label or a
date. The guest's list is therefore in a secret random order, and so is the host's before the guest sends back
positions in it. The shared result order, by ``H(x)^ab``, is pseudorandom to both parties and follows neither
party's rows. Permutations come from the OS CSPRNG, not from numpy's predictable generators.

With several hosts the guest uses one scalar and one permutation for all of them (it blinds its set once), and
sends each host only the positions of the final intersection, not of its pairwise one.

What each party learns (semi-honest, DDH in the random-oracle model): the guest learns the members of the
intersection with each host (with several hosts, the pairwise intersections, as in FATE) and every host's set size;
a host learns which of its ids are in the final intersection, their shared order, and the guest's set size. Nothing
else about the other side's ids: blinded values of non-members are pseudorandom group elements. This is not a
malicious-secure PSI: a party that deviates can claim ids it does not hold (a huge set probes the other's; the
revealed set size is the only check) or return wrong values or positions and misalign the result, undetected.

Cost: each side does one hash-and-blind per own id and one blinding per id it receives (4N group operations for
N x N ids), spread over all cores by a :class:`~unseen.crypto.ristretto.RistrettoPool`; the directions overlap,
batches stream, and each side keeps 32 bytes per received point plus a few 8-byte indices per id. A side with at
most :data:`INLINE_MAX_OPS` group operations to do (its own ids plus the ids it receives, known from the hellos)
does them in its own process instead (:class:`~unseen.crypto.ristretto.InlineRistretto`): starting the pool's
worker processes takes longer than that much work. The messages and the result are the same either way.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, TypeGuard

import numpy as np
from numpy.typing import NDArray

from unseen.crypto.ristretto import (
    POINT_BYTES,
    GroupWorkers,
    InlineRistretto,
    InvalidPointError,
    Points,
    RistrettoPool,
    as_points,
    random_scalar,
)
from unseen.runtime.context import Context
from unseen.runtime.parties import PartyRef
from unseen.values import JsonValue

PROTOCOL: Final = "ecdh-psi/ristretto255-sha512/v1"
DEFAULT_BATCH_SIZE: Final = 65_536
"""Rows per message: 2 MiB of points, well under any message limit, large enough to amortise a round trip."""
MAX_BATCH_SIZE: Final = 1 << 20
MAX_IDS: Final = 1 << 40
INLINE_MAX_OPS: Final = 8192
"""Group operations (own ids plus received ids) a side does in its own process rather than in a worker pool.

A group operation takes 60-250 us on one core; spawning a pool takes 0.5-1.5 s. Below about 8k operations the
pool cannot win back its start even on many cores, and on two cores it needs over 10k to break even.
"""


class PsiProtocolError(RuntimeError):
    """The other party sent something the protocol does not allow (wrong shape, count, range or version)."""


@dataclass(frozen=True)
class PsiResult:
    """This party's view of the intersection.

    ``positions`` are indices into this party's own id list, in the order both parties share (position ``i`` on
    the guest and position ``i`` on a host are the same id), so ``[ids[p] for p in positions]`` gives the aligned
    rows. ``peer_counts`` are the set sizes of the other parties, which the protocol reveals.
    """

    positions: NDArray[np.int64]
    own_count: int
    peer_counts: dict[PartyRef, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """The number of ids in the intersection."""
        return len(self.positions)

    def select(self, ids: Sequence[str]) -> list[str]:
        """The intersected ids of this party, in the shared order."""
        return [ids[int(p)] for p in self.positions]


# the two sides -------------------------------------------------------------------------------------------------
def psi_guest(
    ctx: Context,
    ids: Sequence[str],
    *,
    pool: GroupWorkers | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
) -> PsiResult:
    """The guest's side: intersect ``ids`` with every host's ids; see the module docstring for the protocol.

    ``pool`` runs the group operations. When it is omitted, they run in this process for small sets (at most
    :data:`INLINE_MAX_OPS` operations) and otherwise in a new pool of ``workers`` processes (all cores by
    default); pass one to share it between runs or parties. Raises ``ValueError`` for duplicate or non-string
    ids before anything is sent.
    """
    _check_ids(ids)
    _check_batch_size(batch_size)
    hosts = ctx.hosts
    if not hosts:
        raise LookupError(f"job {ctx.job_id} has no host to intersect with")
    ctx = ctx.sub("psi")
    scalar = random_scalar()
    order = _secret_permutation(len(ids))
    ctx.send("hello", _hello(len(ids), batch_size), to=hosts)
    peers = {host: _read_hello(ctx.recv("hello", frm=host), host) for host in hosts}
    ctx.logger.info("psi: %d own ids, hosts' set sizes %s", len(ids), {str(h): p[0] for h, p in peers.items()})

    with (
        _pool_for(pool, len(ids) + sum(count for count, _ in peers.values()), workers) as group,
        _Background(
            lambda stop: _send_blinded(ctx, group, ids, order, scalar, batch_size, "guest_blinded", hosts, stop)
        ) as sender,
    ):
        host_double: dict[PartyRef, Points] = {}
        for host, (count, peer_batch) in peers.items():
            incoming = _receive_points(ctx, "host_blinded", host, count, peer_batch, sender.check)
            host_double[host] = _gather(_blind_from(group, incoming, scalar, host), count)
            ctx.logger.info("psi: blinded %d points from %s", count, host)
        sender.finish()
    guest_double = {
        host: _gather(_receive_points(ctx, "guest_double", host, len(ids), batch_size, _nothing), len(ids))
        for host in hosts
    }

    matched = np.ones(len(ids), dtype=bool)
    host_positions: dict[PartyRef, NDArray[np.int64]] = {}
    for host in hosts:
        mine, theirs = _match(guest_double[host], host_double[host], host)
        position_in_host = np.full(len(ids), -1, dtype=np.int64)
        position_in_host[mine] = theirs
        host_positions[host] = position_in_host
        matched &= position_in_host >= 0
    chosen = np.flatnonzero(matched)
    chosen = chosen[np.argsort(_keys(guest_double[hosts[0]][chosen]), kind="stable")]
    for host in hosts:
        _send_indices(ctx, host, host_positions[host][chosen], batch_size)
    ctx.logger.info("psi: intersection of %d ids", len(chosen))
    return PsiResult(order[chosen], len(ids), {host: peers[host][0] for host in hosts})


def psi_host(
    ctx: Context,
    ids: Sequence[str],
    *,
    pool: GroupWorkers | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
) -> PsiResult:
    """A host's side: intersect ``ids`` with the guest's (and, through the guest, every other host's) ids.

    ``pool``, ``workers``: as for :func:`psi_guest`.
    """
    _check_ids(ids)
    _check_batch_size(batch_size)
    guest = ctx.guest
    ctx = ctx.sub("psi")
    scalar = random_scalar()
    order = _secret_permutation(len(ids))
    ctx.send("hello", _hello(len(ids), batch_size), to=guest)
    guest_count, guest_batch = _read_hello(ctx.recv("hello", frm=guest), guest)
    ctx.logger.info("psi: %d own ids, guest's set size %d", len(ids), guest_count)

    with (
        _pool_for(pool, len(ids) + guest_count, workers) as group,
        _Background(
            lambda stop: _send_blinded(ctx, group, ids, order, scalar, batch_size, "host_blinded", [guest], stop)
        ) as sender,
    ):
        incoming = _receive_points(ctx, "guest_blinded", guest, guest_count, guest_batch, sender.check)
        for index, points in enumerate(_blind_from(group, incoming, scalar, guest)):
            ctx.send(f"guest_double-{index}", points, to=guest)
        sender.finish()

    announced = ctx.recv("intersection", frm=guest)
    size = announced.get("size") if isinstance(announced, dict) else None
    if not _is_count(size, len(ids)):
        raise PsiProtocolError(f"expected the intersection size (at most {len(ids)}) from {guest}, got {announced!r}")
    indices = _receive_indices(ctx, guest, size, guest_batch, len(ids))
    ctx.logger.info("psi: intersection of %d ids", len(indices))
    return PsiResult(order[indices], len(ids), {guest: guest_count})


# input checks --------------------------------------------------------------------------------------------------
def _check_ids(ids: Sequence[str]) -> None:
    """Ids must be distinct strings: a duplicate would match twice and misalign the rows of the next step."""
    for index, item in enumerate(ids):
        if not isinstance(item, str):
            raise TypeError(f"ids must be strings; id {index} is {type(item).__name__} ({item!r})")
    distinct = len(set(ids))
    if distinct != len(ids):
        seen: set[str] = set()
        for item in ids:
            if item in seen:
                raise ValueError(
                    f"ids must be unique: {len(ids) - distinct} duplicate(s), e.g. {item!r}; deduplicate the id column"
                )
            seen.add(item)


def _check_batch_size(batch_size: int) -> None:
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be in 1..{MAX_BATCH_SIZE}, got {batch_size}")


def _secret_permutation(count: int) -> NDArray[np.int64]:
    """A uniformly random permutation from the OS CSPRNG (numpy's generators are predictable from outputs)."""
    keys = np.frombuffer(os.urandom(8 * count), dtype=np.uint64)
    return np.argsort(keys, kind="stable").astype(np.int64)


# messages ------------------------------------------------------------------------------------------------------
def _hello(count: int, batch_size: int) -> dict[str, JsonValue]:
    return {"protocol": PROTOCOL, "count": count, "batch_size": batch_size}


def _read_hello(value: object, peer: PartyRef) -> tuple[int, int]:
    if not isinstance(value, dict) or value.get("protocol") != PROTOCOL:
        got = value.get("protocol") if isinstance(value, dict) else value
        raise PsiProtocolError(f"{peer} speaks {got!r}, not {PROTOCOL}; run the same unseen version on both sides")
    count, batch = value.get("count"), value.get("batch_size")
    if not _is_count(count, MAX_IDS) or not _is_count(batch, MAX_BATCH_SIZE) or batch == 0:
        raise PsiProtocolError(f"{peer} sent an invalid hello: {value!r}")
    return count, batch


def _is_count(value: object, limit: int) -> TypeGuard[int]:
    """A JSON integer (not a boolean) in ``0..limit``."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= limit


def _batches(count: int, batch_size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, count, batch_size):
        yield start, min(start + batch_size, count)


def _send_blinded(
    ctx: Context,
    pool: GroupWorkers,
    ids: Sequence[str],
    order: NDArray[np.int64],
    scalar: bytes,
    batch_size: int,
    tag: str,
    to: list[PartyRef],
    stop: threading.Event,
) -> None:
    """Stream ``H(id)^scalar`` for ``ids`` in the secret ``order``, one batch per message, to every party in ``to``."""

    def encoded() -> Iterator[list[bytes]]:
        for start, stop_at in _batches(len(ids), batch_size):
            if stop.is_set():
                return
            try:
                yield [ids[i].encode("utf-8") for i in order[start:stop_at].tolist()]
            except UnicodeEncodeError as exc:
                raise ValueError(f"an id is not valid Unicode text ({exc.reason}); clean the id column") from None

    for index, points in enumerate(pool.hash_and_blind(encoded(), scalar)):
        ctx.send(f"{tag}-{index}", points, to=to)


def _receive_points(
    ctx: Context, tag: str, peer: PartyRef, count: int, batch_size: int, check: Callable[[], None]
) -> Iterator[Points]:
    """The ``count`` points ``peer`` streams under ``tag``, batch by batch, each checked for shape before use."""
    for index, (start, stop) in enumerate(_batches(count, batch_size)):
        check()
        try:
            points = as_points(ctx.recv(f"{tag}-{index}", frm=peer))
        except ValueError as exc:
            raise PsiProtocolError(f"{peer} sent a malformed '{tag}' batch {index}: {exc}") from None
        if len(points) != stop - start:
            raise PsiProtocolError(f"{peer} sent {len(points)} points in '{tag}' batch {index}; {stop - start} due")
        yield points


def _blind_from(pool: GroupWorkers, incoming: Iterator[Points], scalar: bytes, peer: PartyRef) -> Iterator[Points]:
    """Blind a peer's points; a row libsodium refuses (not a group element, or the identity) is the peer's fault."""
    try:
        yield from pool.blind(incoming, scalar)
    except InvalidPointError as exc:
        raise PsiProtocolError(f"{peer} sent a point that is not a valid group element: {exc}") from None


def _gather(batches: Iterator[Points], count: int) -> Points:
    out = np.empty((count, POINT_BYTES), dtype=np.uint8)
    row = 0
    for points in batches:
        out[row : row + len(points)] = points
        row += len(points)
    return out


def _send_indices(ctx: Context, host: PartyRef, indices: NDArray[np.int64], batch_size: int) -> None:
    ctx.send("intersection", {"size": len(indices)}, to=host)
    for index, (start, stop) in enumerate(_batches(len(indices), batch_size)):
        ctx.send(f"intersection-{index}", np.ascontiguousarray(indices[start:stop]), to=host)


def _receive_indices(ctx: Context, guest: PartyRef, size: int, batch_size: int, bound: int) -> NDArray[np.int64]:
    out = np.empty(size, dtype=np.int64)
    for index, (start, stop) in enumerate(_batches(size, batch_size)):
        value = ctx.recv(f"intersection-{index}", frm=guest)
        if not isinstance(value, np.ndarray) or value.dtype != np.int64 or value.shape != (stop - start,):
            raise PsiProtocolError(f"{guest} sent a malformed intersection batch {index}")
        out[start:stop] = value
    if size and (out.min() < 0 or out.max() >= bound or len(np.unique(out)) != size):
        raise PsiProtocolError(f"{guest} sent intersection positions out of range or repeated")
    return out


# matching ------------------------------------------------------------------------------------------------------
def _keys(points: Points) -> NDArray[np.bytes_]:
    """Rows as fixed-width 32-byte strings: numpy sorts and compares them as bytes, which is all matching needs."""
    return np.ascontiguousarray(points).view("S32").reshape(-1)


def _match(guest_double: Points, host_double: Points, host: PartyRef) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Pairs (guest position, host position) whose doubly-blinded values are equal."""
    guest_keys, host_keys = _keys(guest_double), _keys(host_double)
    order = np.argsort(guest_keys)
    sorted_keys = guest_keys[order]
    if len(sorted_keys) > 1 and bool(np.any(sorted_keys[1:] == sorted_keys[:-1])):
        raise PsiProtocolError(f"{host} returned repeated doubly-blinded values for distinct ids")
    if not len(sorted_keys):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    slot = np.minimum(np.searchsorted(sorted_keys, host_keys), len(sorted_keys) - 1)
    theirs = np.flatnonzero(sorted_keys[slot] == host_keys).astype(np.int64)
    mine = order[slot[theirs]].astype(np.int64)
    if len(np.unique(mine)) != len(mine):
        raise PsiProtocolError(f"{host} sent the same blinded id twice")
    return mine, theirs


# plumbing ------------------------------------------------------------------------------------------------------
def _nothing() -> None:
    return None


@contextmanager
def _pool_for(pool: GroupWorkers | None, operations: int, workers: int | None) -> Iterator[GroupWorkers]:
    if pool is not None:
        yield pool
        return
    if operations <= INLINE_MAX_OPS or workers == 1:
        yield InlineRistretto()
        return
    with RistrettoPool(workers) as owned:
        yield owned


class _Background:
    """Our own blinded set is computed and sent by a thread while the main thread serves the peer's set.

    ``check`` re-raises the thread's failure in the main thread at the next batch; ``finish`` waits for it.
    When the main thread fails, the thread is told to stop at its next batch and is waited for.
    """

    def __init__(self, work: Callable[[threading.Event], None]) -> None:
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), name="psi-sender", daemon=True)

    def _run(self, work: Callable[[threading.Event], None]) -> None:
        try:
            work(self._stop)
        except BaseException as exc:
            self._error = exc

    def __enter__(self) -> _Background:
        self._thread.start()
        return self

    def check(self) -> None:
        if self._error is not None:
            raise self._error

    def finish(self) -> None:
        self._thread.join()
        self.check()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc is not None:
            self._stop.set()
            self._thread.join()
