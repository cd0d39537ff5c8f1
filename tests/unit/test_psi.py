"""Tests for unseen.vertical.psi: the exact intersection, the shared order, and what crosses the wire.

Every run goes through ``run_parties``, so each message is encoded and decoded by the real codec and recorded as
its receiver saw it; the privacy tests read that recording the way an auditor would read a node's traffic.
"""

from __future__ import annotations

import json
import random
import unicodedata
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pytest

from unseen.crypto import ristretto
from unseen.crypto.ristretto import RistrettoPool
from unseen.runtime.context import Context
from unseen.runtime.local import LocalHub, LocalRun, RecordedMessage, run_parties
from unseen.runtime.parties import PartyRef, Role
from unseen.transport.proto import federation_pb2 as pb
from unseen.vertical import psi as psi_module
from unseen.vertical.psi import PROTOCOL, PsiProtocolError, PsiResult, psi_guest, psi_host

GUEST = PartyRef(Role.GUEST, 9999)
HOST = PartyRef(Role.HOST, 10000)
HOST2 = PartyRef(Role.HOST, 10001)
BATCH = 64  # small, so that every stream spans several messages


@pytest.fixture(scope="module")
def pool() -> Iterator[RistrettoPool]:
    with RistrettoPool(2, chunk=32) as shared:
        yield shared


def run_psi(
    pool: RistrettoPool | None,
    guest_ids: Sequence[str],
    *host_ids: Sequence[str],
    batch: int = BATCH,
    hub: LocalHub | None = None,
) -> LocalRun[PsiResult]:
    hosts = [HOST, HOST2][: len(host_ids)]
    programs: dict[PartyRef, Callable[[Context], PsiResult]] = {
        GUEST: lambda ctx: psi_guest(ctx, guest_ids, pool=pool, batch_size=batch)
    }
    for ref, ids in zip(hosts, host_ids, strict=True):
        programs[ref] = host_program(pool, ids, batch + 7)  # hosts batch differently from the guest
    return run_parties(programs, recv_timeout=30.0, hub=hub)


def host_program(pool: RistrettoPool | None, ids: Sequence[str], batch: int) -> Callable[[Context], PsiResult]:
    return lambda ctx: psi_host(ctx, ids, pool=pool, batch_size=batch)


def make_ids(universe: int, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"user-{i:08d}@bank.example" for i in rng.sample(range(universe), count)]


def check(run: LocalRun[PsiResult], guest_ids: Sequence[str], *host_ids: Sequence[str]) -> list[str]:
    """The exact intersection, and the same ids at the same index on every party."""
    expected = set(guest_ids).intersection(*host_ids)
    guest = run.results[GUEST]
    members = guest.select(guest_ids)
    assert set(members) == expected and len(members) == len(expected) == guest.size
    for ref, ids in zip([HOST, HOST2], host_ids, strict=False):
        assert run.results[ref].select(ids) == members
        assert run.results[ref].size == guest.size
        assert run.results[ref].own_count == len(ids)
        assert run.results[ref].peer_counts == {GUEST: len(guest_ids)}
        assert guest.peer_counts[ref] == len(ids)
    assert guest.positions.dtype == np.int64
    return members


def test_partial_overlap(pool: RistrettoPool) -> None:
    guest_ids, host_ids = make_ids(2000, 700, 1), make_ids(2000, 500, 2)
    members = check(run_psi(pool, guest_ids, host_ids), guest_ids, host_ids)
    assert 100 < len(members) < 300  # about 700 * 500 / 2000 = 175


def test_order_is_neither_partys_row_order(pool: RistrettoPool) -> None:
    guest_ids = [f"row-{i:05d}-guest-side" for i in range(300)]
    run = run_psi(pool, guest_ids, list(reversed(guest_ids)))
    positions = run.results[GUEST].positions
    assert sorted(positions.tolist()) == list(range(300))
    assert not np.all(np.diff(positions) > 0) and not np.all(np.diff(positions) < 0)


def test_empty_overlap(pool: RistrettoPool) -> None:
    guest_ids, host_ids = [f"g-{i}-xxxxxxxx" for i in range(150)], [f"h-{i}-xxxxxxxx" for i in range(90)]
    run = run_psi(pool, guest_ids, host_ids)
    assert check(run, guest_ids, host_ids) == []


def test_full_overlap_in_different_orders(pool: RistrettoPool) -> None:
    guest_ids = make_ids(10_000, 400, 3)
    host_ids = random.Random(4).sample(guest_ids, len(guest_ids))
    assert len(check(run_psi(pool, guest_ids, host_ids), guest_ids, host_ids)) == 400


@pytest.mark.parametrize("empty_side", ["guest", "host", "both"])
def test_one_side_empty(pool: RistrettoPool, empty_side: str) -> None:
    ids = make_ids(1000, 100, 5)
    guest_ids = [] if empty_side in ("guest", "both") else ids
    host_ids = [] if empty_side in ("host", "both") else ids
    run = run_psi(pool, guest_ids, host_ids)
    assert check(run, guest_ids, host_ids) == []


def test_several_batches_of_uneven_sizes(pool: RistrettoPool) -> None:
    guest_ids, host_ids = make_ids(3000, 1000, 6), make_ids(3000, 1300, 7)
    check(run_psi(pool, guest_ids, host_ids, batch=97), guest_ids, host_ids)


def test_unicode_ids_are_compared_exactly(pool: RistrettoPool) -> None:
    accented = "José Álvarez"
    guest_ids = [accented, "東京-0001", "Ωμέγα", "emoji-🙂", "plain-ascii", unicodedata.normalize("NFD", "Zoë")]
    host_ids = [accented, "東京-0001", "emoji-🙂", "Ωμέγα-x", "Zoë"]  # "Zoë" here is NFC: a different string
    members = check(run_psi(pool, guest_ids, host_ids), guest_ids, host_ids)
    assert set(members) == {accented, "東京-0001", "emoji-🙂"}


def test_several_hosts_intersect_over_all(pool: RistrettoPool) -> None:
    guest_ids, first, second = make_ids(1500, 600, 8), make_ids(1500, 700, 9), make_ids(1500, 800, 10)
    run = run_psi(pool, guest_ids, first, second)
    members = check(run, guest_ids, first, second)
    assert members and set(members) == set(guest_ids) & set(first) & set(second)


@pytest.mark.parametrize("side", [GUEST, HOST])
def test_duplicate_ids_are_refused_before_anything_is_sent(pool: RistrettoPool, side: PartyRef) -> None:
    good, bad = make_ids(1000, 50, 11), [*make_ids(1000, 50, 12), "user-dup", "user-dup"]
    guest_ids, host_ids = (bad, good) if side == GUEST else (good, bad)
    hub = LocalHub()
    with pytest.raises(ValueError, match=r"ids must be unique: 1 duplicate\(s\), e\.g\. 'user-dup'"):
        run_psi(pool, guest_ids, host_ids, hub=hub)
    assert not [message for message in hub.recorded if message.src == side]


def test_non_string_ids_are_refused(pool: RistrettoPool) -> None:
    with pytest.raises(TypeError, match="id 1 is int"):
        run_psi(pool, ["a", 2, "c"], ["a"])  # type: ignore[list-item]


# what crosses the wire ---------------------------------------------------------------------------------------
def test_no_raw_id_or_unblinded_point_on_the_wire(pool: RistrettoPool) -> None:
    everyone = make_ids(100_000, 500, 13)
    guest_ids, host_ids = everyone[:300], everyone[200:]
    run = run_psi(pool, guest_ids, host_ids)
    assert len(check(run, guest_ids, host_ids)) == 100
    raw = [item.encode("utf-8") for item in everyone]
    hashed = {row.tobytes() for row in ristretto.hash_to_group(raw)}
    assert run.hub.recorded
    for message in run.hub.recorded:
        assert not any(item in message.body for item in raw), f"a raw id in {message.tag}"
        assert not any(point in message.body for point in hashed), f"an unblinded H(id) in {message.tag}"
        assert_allowed_shape(message)


def assert_allowed_shape(message: RecordedMessage) -> None:
    """Points as (n, 32) uint8, positions as a 1-D int64 array, and JSON holding only counts."""
    header = message.header
    if header.kind == pb.JSON:
        value = json.loads(message.body)
        assert isinstance(value, dict) and set(value) <= {"protocol", "count", "batch_size", "size"}
        assert all(isinstance(v, int) for k, v in value.items() if k != "protocol")
        assert value.get("protocol", PROTOCOL) == PROTOCOL
        return
    assert header.kind == pb.NDARRAY, message.tag
    if header.dtype == "uint8":
        assert len(header.shape) == 2 and header.shape[1] == 32, message.tag
    else:
        assert header.dtype == "int64" and len(header.shape) == 1 and message.dst.role == Role.HOST, message.tag


def test_what_each_side_receives(pool: RistrettoPool) -> None:
    guest_ids, host_ids = make_ids(1000, 200, 15), make_ids(1000, 150, 16)
    run = run_psi(pool, guest_ids, host_ids)
    size = run.results[GUEST].size
    to_host = [m for m in run.hub.recorded if m.dst == HOST]
    to_guest = [m for m in run.hub.recorded if m.dst == GUEST]
    points_to_host = sum(m.header.shape[0] for m in to_host if m.header.dtype == "uint8")
    points_to_guest = sum(m.header.shape[0] for m in to_guest if m.header.dtype == "uint8")
    positions_to_host = sum(m.header.shape[0] for m in to_host if m.header.dtype == "int64")
    assert points_to_host == len(guest_ids)  # H(x)^a once each, in a secret order
    assert points_to_guest == len(host_ids) + len(guest_ids)  # H(y)^b, and H(x)^ab back in the guest's order
    assert positions_to_host == size  # only the members' positions, never the non-members'


# a misbehaving peer --------------------------------------------------------------------------------------------
def fake_host(send: Callable[[Context], None]) -> Callable[[Context], PsiResult]:
    def program(ctx: Context) -> PsiResult:
        send(ctx.sub("psi"))
        return PsiResult(np.empty(0, dtype=np.int64), 0)

    return program


@pytest.mark.parametrize(
    ("send", "message"),
    [
        (lambda ctx: ctx.send("hello", {"protocol": "rsa-psi/v0", "count": 1, "batch_size": 1}, ctx.guest), "speaks"),
        (lambda ctx: ctx.send("hello", {"protocol": PROTOCOL, "count": -1, "batch_size": 1}, ctx.guest), "invalid"),
        (
            lambda ctx: (
                ctx.send("hello", {"protocol": PROTOCOL, "count": 2, "batch_size": 2}, ctx.guest),
                ctx.send("host_blinded-0", np.full((2, 32), 0xFF, dtype=np.uint8), ctx.guest),
            ),
            "not a valid group element",
        ),
        (
            lambda ctx: (
                ctx.send("hello", {"protocol": PROTOCOL, "count": 2, "batch_size": 2}, ctx.guest),
                ctx.send("host_blinded-0", np.zeros((3, 32), dtype=np.uint8), ctx.guest),
            ),
            "3 points",
        ),
        (
            lambda ctx: (
                ctx.send("hello", {"protocol": PROTOCOL, "count": 2, "batch_size": 2}, ctx.guest),
                ctx.send("host_blinded-0", np.zeros((2, 8), dtype=np.float64), ctx.guest),
            ),
            "malformed",
        ),
    ],
)
def test_guest_refuses_a_malformed_host(pool: RistrettoPool, send: Callable[[Context], None], message: str) -> None:
    programs: dict[PartyRef, Callable[[Context], PsiResult]] = {
        GUEST: lambda ctx: psi_guest(ctx, ["a", "b"], pool=pool),
        HOST: fake_host(send),
    }
    with pytest.raises(PsiProtocolError, match=message):
        run_parties(programs, recv_timeout=10.0)


def test_host_refuses_out_of_range_positions(pool: RistrettoPool) -> None:
    def guest(ctx: Context) -> PsiResult:
        psi = ctx.sub("psi")
        psi.send("hello", {"protocol": PROTOCOL, "count": 0, "batch_size": 4}, ctx.hosts[0])
        psi.recv("hello", ctx.hosts[0])
        psi.send("intersection", {"size": 1}, ctx.hosts[0])
        psi.send("intersection-0", np.array([5], dtype=np.int64), ctx.hosts[0])
        return PsiResult(np.empty(0, dtype=np.int64), 0)

    programs: dict[PartyRef, Callable[[Context], PsiResult]] = {
        GUEST: guest,
        HOST: lambda ctx: psi_host(ctx, ["a", "b"], pool=pool),
    }
    with pytest.raises(PsiProtocolError, match="out of range"):
        run_parties(programs, recv_timeout=10.0)


# in the task's own process for small sets ----------------------------------------------------------------------
class _NoPool:
    """Stands in for RistrettoPool where a test asserts that no worker process is started."""

    started = 0

    def __init__(self, workers: int | None = None) -> None:
        type(self).started += 1
        raise AssertionError("a worker pool was started for a small set")


def _fixed_randomness(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every party draws the same scalar and a fixed permutation, so two runs can be compared byte for byte."""
    scalar = bytes([7]) + bytes(31)
    monkeypatch.setattr(psi_module, "random_scalar", lambda: scalar)
    monkeypatch.setattr(psi_module, "_secret_permutation", lambda count: np.arange(count, dtype=np.int64)[::-1].copy())


def test_small_sets_run_without_a_pool_and_give_the_pools_result(
    pool: RistrettoPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fixed_randomness(monkeypatch)
    guest_ids, host_ids = make_ids(3000, 569, 21), make_ids(3000, 569, 22)
    pooled = run_psi(pool, guest_ids, host_ids)
    monkeypatch.setattr(psi_module, "RistrettoPool", _NoPool)
    inline = run_psi(None, guest_ids, host_ids)  # None: each side decides
    check(inline, guest_ids, host_ids)
    for ref in (GUEST, HOST):
        assert np.array_equal(inline.results[ref].positions, pooled.results[ref].positions)
    assert _wire(inline) == _wire(pooled)
    assert _NoPool.started == 0


def _wire(run: LocalRun[PsiResult]) -> list[tuple[str, str, str, bytes]]:
    return sorted((m.tag, str(m.src), str(m.dst), m.body) for m in run.hub.recorded)


def test_large_sets_start_a_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int | None] = []

    class CountingPool(RistrettoPool):
        def __init__(self, workers: int | None = None) -> None:
            started.append(workers)
            super().__init__(2, chunk=32)

    monkeypatch.setattr(psi_module, "INLINE_MAX_OPS", 100)
    monkeypatch.setattr(psi_module, "RistrettoPool", CountingPool)
    guest_ids, host_ids = make_ids(1000, 80, 23), make_ids(1000, 60, 24)
    check(run_psi(None, guest_ids, host_ids), guest_ids, host_ids)
    assert started == [None, None]  # one per side: each had 140 operations, over the bound


def test_inline_refuses_an_invalid_point() -> None:
    bad = np.zeros((3, 32), dtype=np.uint8)
    bad[0] = np.frombuffer(ristretto.hash_to_group([b"x"]).tobytes(), dtype=np.uint8)
    with pytest.raises(ristretto.InvalidPointError, match="in the rows from 0, row 1 "):
        list(ristretto.InlineRistretto().blind([bad], ristretto.random_scalar()))
