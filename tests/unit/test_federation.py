"""Tests for unseen.runtime.federation: gather from many parties under one deadline, broadcast encoded once."""

from __future__ import annotations

import threading
import time

import numpy as np

from unseen.runtime.context import Context
from unseen.runtime.federation import Gathered, gather_in_turn
from unseen.runtime.local import LocalHub, run_parties
from unseen.runtime.parties import PartyRef, Role
from unseen.values import TensorRecord, Value

ARBITER = PartyRef(Role.ARBITER, 1)
WORKERS = [PartyRef(Role.HOST, p) for p in range(10, 16)]


def test_gather_waits_one_deadline_for_all_and_names_who_did_not_answer() -> None:
    """Four of six answer; two never do: both are named, the four values kept."""
    silent = set(WORKERS[1::3])
    gathered: list[Gathered] = []

    def arbiter(ctx: Context) -> None:
        gathered.append(ctx.gather("update", WORKERS, timeout=1.5))

    def worker(ctx: Context) -> None:
        if ctx.me not in silent:
            ctx.send("update", np.array([ctx.party_id]), to=ARBITER)

    run_parties({ARBITER: arbiter, **{w: worker for w in WORKERS}})
    result = gathered[0]
    assert set(result.answered) == set(WORKERS) - silent
    assert set(result.missing) == silent
    assert all(why == "no answer by the deadline" for why in result.missing.values())
    for party, value in result.values.items():
        assert isinstance(value, np.ndarray) and int(value[0]) == party.party_id


def test_gather_in_turn_passes_each_party_only_the_time_left() -> None:
    waits: list[float] = []

    def recv(tag: str, frm: PartyRef, timeout: float) -> Value:
        waits.append(timeout)
        time.sleep(0.2)
        raise TimeoutError

    gather_in_turn(recv, "t", WORKERS[:3], time.monotonic() + 0.3)
    assert waits[0] <= 0.3
    assert waits[1] <= 0.15 and waits[2] <= 0.1  # the deadline passed: only a last brief look each


def test_gather_reports_a_party_whose_message_does_not_decode_and_keeps_the_others() -> None:
    hub = LocalHub()
    from unseen.transport import codec

    def arbiter(ctx: Context) -> Gathered | None:
        return ctx.gather("update", WORKERS[:2], timeout=5)

    def good(ctx: Context) -> None:
        ctx.send("update", 1, to=ARBITER)

    def bad(ctx: Context) -> None:  # a body that lies about its length
        header = codec.encode(1).header
        header.size = 3
        hub.mailbox.put(hub.key("update", ctx.me, ARBITER), (header, b"{{{"))

    run = run_parties({ARBITER: arbiter, WORKERS[0]: good, WORKERS[1]: bad}, hub=hub)
    result = run.results[ARBITER]
    assert result is not None
    assert result.answered == [WORKERS[0]]
    assert "invalid message" in result.missing[WORKERS[1]]


def test_broadcast_encodes_a_record_once_for_every_recipient() -> None:
    record = TensorRecord({"w": np.arange(1000, dtype=np.float32)})
    hub = LocalHub()
    received: dict[PartyRef, Value] = {}
    lock = threading.Lock()

    def arbiter(ctx: Context) -> dict[PartyRef, str]:
        return ctx.broadcast("weights", record, to=WORKERS)

    def worker(ctx: Context) -> None:
        value = ctx.recv("weights", frm=ARBITER)
        with lock:
            received[ctx.me] = value

    run = run_parties({ARBITER: arbiter, **{w: worker for w in WORKERS}}, hub=hub)
    assert run.results[ARBITER] == {}
    assert hub.encodings == 1
    assert set(received) == set(WORKERS) and all(v == record for v in received.values())


def test_gather_and_broadcast_work_over_a_federation_with_only_send_and_recv() -> None:
    class Plain:
        def __init__(self) -> None:
            self.sent: list[PartyRef] = []

        def send(self, tag: str, value: Value, to: PartyRef) -> None:
            self.sent.append(to)

        def recv(self, tag: str, frm: PartyRef, timeout: float) -> Value:
            if frm == WORKERS[0]:
                raise TimeoutError
            return frm.party_id

    import logging

    from unseen.runtime.metrics import MemoryMetricSink, Metrics

    plain = Plain()
    ctx = Context(
        job_id="j",
        component="c",
        me=ARBITER,
        parties={Role.ARBITER: [1], Role.HOST: [w.party_id for w in WORKERS]},
        federation=plain,
        metrics=Metrics(MemoryMetricSink()),
        logger=logging.getLogger("t"),
    )
    assert ctx.broadcast("x", 1, to=Role.HOST) == {}
    assert plain.sent == WORKERS
    result = ctx.gather("y", Role.HOST, timeout=1)
    assert list(result.missing) == [WORKERS[0]] and result.values[WORKERS[1]] == 11
