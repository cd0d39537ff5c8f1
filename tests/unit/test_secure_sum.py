"""Tests for unseen.crypto.secure_sum run through unseen.runtime.local's in-memory federation.

Every party must get the exact total, and the recorded wire traffic must never carry a participant's own value
in clear: only the final "total" messages may hold anything but uniformly random ring elements.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TypeVar

import numpy as np
import pytest

from unseen.crypto.secure_sum import secure_sum
from unseen.crypto.sharing import encode_fixed
from unseen.runtime.context import Context
from unseen.runtime.local import LocalHub, LocalRun, RecordedMessage, run_parties
from unseen.runtime.parties import PartyRef, Role
from unseen.transport import codec
from unseen.transport.proto import federation_pb2 as pb

_Result = TypeVar("_Result")  # only the recorded messages of a run are read: what it returned does not matter

GUEST = PartyRef(Role.GUEST, 9999)
GUEST_10000 = PartyRef(Role.GUEST, 10000)
HOST_10000 = PartyRef(Role.HOST, 10000)
ARBITER = PartyRef(Role.ARBITER, 9998)


def hosts(*ids: int) -> list[PartyRef]:
    return [PartyRef(Role.HOST, i) for i in ids]


def summing(value: float | np.ndarray) -> Callable[[Context], float | np.ndarray]:
    def program(ctx: Context) -> float | np.ndarray:
        return secure_sum(ctx, value)

    return program


def run_sum(values: Mapping[PartyRef, float | np.ndarray]) -> LocalRun[float | np.ndarray]:
    return run_parties({party: summing(value) for party, value in values.items()}, recv_timeout=10)


def final(tag: str) -> str:
    return tag.rsplit("/", 1)[-1]


# Values chosen so that their float64 bytes and fixed-point encodings are distinctive.
SCALAR_SETUPS = {
    "2-parties": {GUEST: 1000.0, HOST_10000: 24.5},
    "gid-equals-hid": {GUEST_10000: 1000.0, HOST_10000: -123.375},
    "3-parties": {GUEST: 1000.0, **dict(zip(hosts(10000, 10001), [2.5, -0.75], strict=True))},
    "5-parties": {
        GUEST: 1000.0,
        **dict(zip(hosts(10000, 10001, 10002, 10003), [1.5, 2.25, -3.125, 4096.0], strict=True)),
    },
    "5-parties-gid-equals-hid": {
        GUEST_10000: 1000.0,
        **dict(zip(hosts(10000, 10001, 10002, 10003), [31.0, 0.5, 777.25, -5.0], strict=True)),
    },
}


# --- exact totals -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", SCALAR_SETUPS.values(), ids=SCALAR_SETUPS.keys())
def test_every_party_gets_the_exact_total_of_scalars(values: dict[PartyRef, float]) -> None:
    run = run_sum(values)
    expected = sum(values.values())
    assert set(run.results) == set(values)
    for party, total in run.results.items():
        assert isinstance(total, float), f"{party} got {type(total).__name__}"
        assert total == expected, f"{party} got {total}, expected {expected}"


def test_gid_equal_to_hid_counts_both_roles_of_the_party() -> None:
    run = run_sum({GUEST_10000: 1000.0, HOST_10000: 1000.0})
    assert run.results == {GUEST_10000: 2000.0, HOST_10000: 2000.0}


@pytest.mark.parametrize("count", [2, 3, 5])
def test_every_party_gets_the_exact_total_of_vectors(count: int) -> None:
    rng = np.random.default_rng(count)
    parties = [GUEST, *hosts(*range(10000, 10000 + count - 1))]
    # multiples of 2^-10 so that the sums are exact in both fixed point and float64
    values = {p: np.round(rng.uniform(-1e4, 1e4, size=(3, 4)) * 1024) / 1024 for p in parties}
    run = run_sum(values)
    expected = np.sum(np.stack(list(values.values())), axis=0)
    for party, total in run.results.items():
        assert isinstance(total, np.ndarray), party
        assert total.shape == (3, 4)
        assert total.dtype == np.float64
        np.testing.assert_array_equal(total, expected)


def test_fractions_sum_within_fixed_point_precision() -> None:
    values = {GUEST: 0.1, **dict(zip(hosts(1, 2), [0.2, 1 / 3], strict=True))}
    run = run_sum(values)
    for total in run.results.values():
        assert isinstance(total, float)
        assert abs(total - (0.1 + 0.2 + 1 / 3)) <= 3 * 2.0**-24


def test_arbiter_in_the_job_takes_no_part_in_the_sum() -> None:
    programs: dict[PartyRef, Callable[[Context], float | np.ndarray]] = {
        GUEST: summing(1.0),
        PartyRef(Role.HOST, 10000): summing(2.0),
        ARBITER: lambda ctx: -1.0,
    }
    run = run_parties(programs, recv_timeout=10)
    assert run.results[GUEST] == 3.0
    assert run.results[PartyRef(Role.HOST, 10000)] == 3.0
    assert all(ARBITER not in (m.src, m.dst) for m in run.hub.recorded)


def test_a_failing_party_fails_the_run_instead_of_hanging_the_others() -> None:
    def failing(ctx: Context) -> float:
        raise RuntimeError("host data unreadable")

    programs = {GUEST: summing(1.0), PartyRef(Role.HOST, 1): failing, PartyRef(Role.HOST, 2): summing(2.0)}
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="unreadable"):
        run_parties(programs, recv_timeout=30)
    assert time.monotonic() - started < 10  # woken by the failure, not by the 30 s receive timeout


def test_total_beyond_the_fixed_point_range_is_not_silently_wrong() -> None:
    values = {GUEST: 2.0e11, **dict(zip(hosts(1, 2), [2.0e11, 2.0e11], strict=True))}
    try:
        run = run_sum(values)
    except OverflowError:
        return  # refusing is an acceptable answer
    for total in run.results.values():
        assert total == 6.0e11


# --- message pattern ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", SCALAR_SETUPS.values(), ids=SCALAR_SETUPS.keys())
def test_message_count_is_as_the_protocol_says(values: dict[PartyRef, float]) -> None:
    run = run_sum(values)
    n = len(values)
    by_tag: dict[str, list[RecordedMessage]] = {}
    for message in run.hub.recorded:
        by_tag.setdefault(message.tag, []).append(message)
    assert set(by_tag) == {"secure_sum/share", "secure_sum/partial", "secure_sum/total"}
    assert len(by_tag["secure_sum/share"]) == n * (n - 1)
    assert len(by_tag["secure_sum/partial"]) == n - 1
    assert len(by_tag["secure_sum/total"]) == n - 1
    assert len(run.hub.recorded) == n * (n - 1) + 2 * (n - 1)
    guest = next(p for p in values if p.role is Role.GUEST)
    assert {(m.src, m.dst) for m in by_tag["secure_sum/share"]} == {(a, b) for a in values for b in values if a != b}
    assert {m.dst for m in by_tag["secure_sum/partial"]} == {guest}
    assert {m.src for m in by_tag["secure_sum/total"]} == {guest}
    assert run.hub.mailbox.pending(run.hub.job_id) == 0


# --- privacy ------------------------------------------------------------------------------------------------


def clear_forms(value: float | np.ndarray) -> list[bytes]:
    """The byte strings that would reveal ``value`` if they appeared in a message body."""
    array = np.asarray(value, dtype=np.float64)
    fixed = encode_fixed(array)
    blobs = [array.tobytes(), array.astype(">f8").tobytes(), fixed.tobytes(), fixed.astype(">u8").tobytes()]
    blobs += [np.float64(v).tobytes() for v in array.ravel()]
    blobs += [np.uint64(v).tobytes() for v in fixed.ravel()]
    texts = {repr(float(v)) for v in array.ravel()} | {str(int(v)) for v in fixed.ravel()}
    texts |= {str(int(v)) for v in fixed.view(np.int64).ravel()}
    return blobs + [text.encode() for text in texts]


def assert_nothing_in_clear(run: LocalRun[_Result], values: Mapping[PartyRef, float | np.ndarray]) -> None:
    """Shares and partials are uint64 arrays free of any clear value; totals carry the total and nothing else."""
    expected_total = np.sum(np.stack([np.asarray(v, dtype=np.float64) for v in values.values()]), axis=0)
    shares_seen = 0
    for message in run.hub.recorded:
        if final(message.tag) == "total":
            decoded = codec.decode(message.header, message.body)
            np.testing.assert_array_equal(np.asarray(decoded, dtype=np.float64), expected_total)
            continue
        shares_seen += 1
        assert message.header.kind == pb.NDARRAY, f"{message.tag} from {message.src} is not an array"
        assert message.header.dtype == "uint64", f"{message.tag} from {message.src} is {message.header.dtype}"
        for party, value in values.items():
            for blob in clear_forms(value):
                assert blob not in message.body, f"{party}'s value is in clear in {message.tag} to {message.dst}"
    assert shares_seen, "no share or partial message was recorded"


def test_clear_forms_include_the_json_text_of_the_value() -> None:
    forms = clear_forms(24.5)
    assert b"24.5" in forms
    assert str(int(24.5 * 2**24)).encode() in forms
    assert codec.encode(24.5).body.tobytes() in forms


@pytest.mark.parametrize("values", SCALAR_SETUPS.values(), ids=SCALAR_SETUPS.keys())
def test_no_scalar_value_crosses_the_wire_in_clear(values: dict[PartyRef, float]) -> None:
    run = run_sum(values)
    assert_nothing_in_clear(run, values)


@pytest.mark.parametrize("count", [2, 3, 5])
def test_no_vector_value_crosses_the_wire_in_clear(count: int) -> None:
    rng = np.random.default_rng(100 + count)
    parties = [GUEST_10000, *hosts(*range(10000, 10000 + count - 1))]
    values = {p: np.round(rng.uniform(-1e3, 1e3, size=6) * 64) / 64 for p in parties}
    run = run_sum(values)
    assert_nothing_in_clear(run, values)


def test_every_message_carries_a_fresh_random_share() -> None:
    values = {GUEST: 5.0, **dict(zip(hosts(1, 2, 3), [5.0, 5.0, 5.0], strict=True))}
    run = run_sum(values)
    bodies = [m.body for m in run.hub.recorded if final(m.tag) != "total"]
    assert len(set(bodies)) == len(bodies), "two shares or partials were identical"


@pytest.mark.parametrize(
    ("leak", "complaint"),
    [
        (lambda v: np.atleast_1d(encode_fixed(np.asarray(v))), "in clear"),
        (lambda v: np.array([v, 7.0]), "is float64"),
        (lambda v: {"value": v}, "is not an array"),
    ],
    ids=["fixed-point-uint64", "float64-array", "json"],
)
def test_the_check_would_catch_a_value_sent_in_clear(leak: Callable[[float], codec.Value], complaint: str) -> None:
    """The privacy assertion is not vacuous: a protocol that leaks is caught."""

    def leaky(value: float) -> Callable[[Context], float]:
        def program(ctx: Context) -> float:
            if ctx.me != ctx.guest:
                ctx.send("share", leak(value), to=ctx.guest)
            return value

        return program

    run = run_parties({GUEST: leaky(1.0), HOST_10000: leaky(24.5)}, hub=LocalHub())
    with pytest.raises(AssertionError, match=complaint):
        assert_nothing_in_clear(run, {GUEST: 1.0, HOST_10000: 24.5})
