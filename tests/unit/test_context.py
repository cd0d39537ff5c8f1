"""Tests for unseen.runtime.context: who is who in a job, addressing partners by role, and tag namespaces."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from unseen.runtime.context import Context
from unseen.runtime.local import run_parties
from unseen.runtime.metrics import MemoryMetricSink, Metrics
from unseen.runtime.parties import PartyRef, Role
from unseen.transport.codec import Value

G9999 = PartyRef(Role.GUEST, 9999)
G10000 = PartyRef(Role.GUEST, 10000)
H10000 = PartyRef(Role.HOST, 10000)
H10001 = PartyRef(Role.HOST, 10001)
H10002 = PartyRef(Role.HOST, 10002)
A9998 = PartyRef(Role.ARBITER, 9998)


@dataclass
class RecordingFederation:
    """Keeps what was sent; answers receives from a script keyed by (tag, sender)."""

    sent: list[tuple[str, Value, PartyRef]] = field(default_factory=list)
    inbox: dict[tuple[str, PartyRef], list[Value]] = field(default_factory=dict)
    waits: list[float] = field(default_factory=list)

    def send(self, tag: str, value: Value, to: PartyRef) -> None:
        self.sent.append((tag, value, to))

    def recv(self, tag: str, frm: PartyRef, timeout: float) -> Value:
        self.waits.append(timeout)
        return self.inbox[(tag, frm)].pop(0)


def make_context(
    me: PartyRef,
    parties: Mapping[Role, Sequence[int]],
    federation: RecordingFederation | None = None,
    recv_timeout: float = 600.0,
) -> Context:
    return Context(
        job_id="job-1",
        component="secure_sum_0",
        me=me,
        parties=parties,
        federation=federation or RecordingFederation(),
        metrics=Metrics(MemoryMetricSink()),
        logger=logging.getLogger("test"),
        recv_timeout=recv_timeout,
    )


FULL_JOB = {Role.GUEST: [9999], Role.HOST: [10002, 10000, 10001], Role.ARBITER: [9998]}
SAME_PARTY_JOB = {Role.GUEST: [10000], Role.HOST: [10000, 10001]}


# --- who is who ---------------------------------------------------------------------------------------------


def test_identity_of_the_task() -> None:
    ctx = make_context(H10001, FULL_JOB)
    assert ctx.me == H10001
    assert ctx.role is Role.HOST
    assert ctx.party_id == 10001


def test_guest_hosts_and_arbiter_are_resolved_with_hosts_sorted() -> None:
    ctx = make_context(H10001, FULL_JOB)
    assert ctx.guest == G9999
    assert ctx.arbiter == A9998
    assert ctx.hosts == [H10000, H10001, H10002]


def test_members_include_me_and_peers_exclude_me() -> None:
    ctx = make_context(H10001, FULL_JOB)
    assert ctx.members(Role.HOST) == [H10000, H10001, H10002]
    assert ctx.peers(Role.HOST) == [H10000, H10002]
    assert ctx.peers(Role.GUEST) == [G9999]
    assert ctx.members(Role.GUEST) == [G9999]


def test_everyone_else_lists_every_other_task_once() -> None:
    ctx = make_context(H10001, FULL_JOB)
    others = ctx.everyone_else()
    assert sorted(others) == sorted([G9999, H10000, H10002, A9998])
    assert len(others) == len(set(others))


def test_role_absent_from_the_job_has_no_members() -> None:
    ctx = make_context(G9999, {Role.GUEST: [9999], Role.HOST: [10000]})
    assert ctx.members(Role.ARBITER) == []
    assert ctx.peers(Role.ARBITER) == []
    with pytest.raises(LookupError, match="0 arbiter parties"):
        _ = ctx.arbiter


def test_guest_lookup_fails_when_there_are_two_guests() -> None:
    ctx = make_context(G9999, {Role.GUEST: [9999, 10000], Role.HOST: [10001]})
    with pytest.raises(LookupError, match="2 guest parties; expected exactly one"):
        _ = ctx.guest
    assert ctx.members(Role.GUEST) == [G9999, G10000]


def test_same_party_as_guest_and_host_are_distinct_peers() -> None:
    guest = make_context(G10000, SAME_PARTY_JOB)
    host = make_context(H10000, SAME_PARTY_JOB)
    assert G10000 != H10000
    assert guest.peers(Role.HOST) == [H10000, H10001]
    assert guest.peers(Role.GUEST) == []
    assert host.peers(Role.GUEST) == [G10000]
    assert host.peers(Role.HOST) == [H10001]
    assert sorted(host.everyone_else()) == sorted([G10000, H10001])
    assert host.guest == G10000
    assert guest.hosts == [H10000, H10001]


def test_context_for_a_party_not_in_the_job_is_refused() -> None:
    with pytest.raises(ValueError, match="not a participant"):
        make_context(PartyRef(Role.HOST, 12345), FULL_JOB)


def test_context_for_a_party_in_the_job_under_another_role_is_refused() -> None:
    with pytest.raises(ValueError, match="not a participant"):
        make_context(PartyRef(Role.ARBITER, 9999), FULL_JOB)


# --- sending and receiving ----------------------------------------------------------------------------------


def test_send_to_a_role_reaches_each_party_of_that_role_but_not_me() -> None:
    federation = RecordingFederation()
    ctx = make_context(H10001, FULL_JOB, federation)
    ctx.send("grad", 1.5, to=Role.HOST)
    assert [(tag, value, to) for tag, value, to in federation.sent] == [("grad", 1.5, H10000), ("grad", 1.5, H10002)]


def test_send_to_one_party_and_to_a_list() -> None:
    federation = RecordingFederation()
    ctx = make_context(G9999, FULL_JOB, federation)
    ctx.send("a", 1, to=A9998)
    ctx.send("b", 2, to=[H10002, H10000])
    assert [(tag, to) for tag, _, to in federation.sent] == [("a", A9998), ("b", H10002), ("b", H10000)]


def test_send_to_self_is_refused() -> None:
    federation = RecordingFederation()
    ctx = make_context(G9999, FULL_JOB, federation)
    with pytest.raises(ValueError, match="cannot send 'x' to itself"):
        ctx.send("x", 1, to=G9999)
    assert federation.sent == []


def test_guest_playing_host_too_can_send_to_its_host_role() -> None:
    federation = RecordingFederation()
    ctx = make_context(G10000, SAME_PARTY_JOB, federation)
    ctx.send("x", 1, to=H10000)
    assert federation.sent == [("x", 1, H10000)]


@pytest.mark.parametrize("tag", ["a/b", "/", "", "iter-0/grad"])
def test_tags_with_a_slash_or_empty_are_refused(tag: str) -> None:
    federation = RecordingFederation()
    ctx = make_context(G9999, FULL_JOB, federation)
    with pytest.raises(ValueError, match="must be non-empty and contain no '/'"):
        ctx.send(tag, 1, to=A9998)
    with pytest.raises(ValueError, match="must be non-empty and contain no '/'"):
        ctx.recv(tag, frm=A9998)
    assert federation.sent == []


@pytest.mark.parametrize("name", ["a/b", ""])
def test_namespaces_with_a_slash_or_empty_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        make_context(G9999, FULL_JOB).sub(name)


def test_recv_from_a_role_returns_values_in_party_order() -> None:
    federation = RecordingFederation(
        inbox={("grad", H10002): [2], ("grad", H10000): [0], ("grad", H10001): [1]},
    )
    ctx = make_context(G9999, FULL_JOB, federation)
    assert ctx.recv("grad", frm=Role.HOST) == [0, 1, 2]


def test_recv_from_a_list_returns_values_in_the_order_given() -> None:
    federation = RecordingFederation(inbox={("x", H10002): ["c"], ("x", H10000): ["a"]})
    ctx = make_context(G9999, FULL_JOB, federation)
    assert ctx.recv("x", frm=[H10002, H10000]) == ["c", "a"]


def test_recv_from_one_party_returns_a_value_not_a_list() -> None:
    federation = RecordingFederation(inbox={("x", A9998): [{"k": 1}]})
    ctx = make_context(G9999, FULL_JOB, federation)
    assert ctx.recv("x", frm=A9998) == {"k": 1}


def test_recv_uses_the_context_timeout_unless_given_one() -> None:
    federation = RecordingFederation(inbox={("x", A9998): [1, 2]})
    ctx = make_context(G9999, FULL_JOB, federation, recv_timeout=12.5)
    ctx.recv("x", frm=A9998)
    ctx.recv("x", frm=A9998, timeout=0.5)
    assert federation.waits == [12.5, 0.5]


# --- namespaces ---------------------------------------------------------------------------------------------


def test_sub_contexts_prefix_tags_and_nest() -> None:
    federation = RecordingFederation()
    ctx = make_context(G9999, FULL_JOB, federation)
    ctx.sub("psi").send("ids", 1, to=A9998)
    ctx.sub("psi").sub("round").send("ids", 2, to=A9998)
    assert [tag for tag, _, _ in federation.sent] == ["psi/ids", "psi/round/ids"]


def test_sub_context_keeps_identity_and_settings() -> None:
    ctx = make_context(H10000, SAME_PARTY_JOB, recv_timeout=3.0)
    child = ctx.sub("stage")
    assert child.me == ctx.me
    assert child.job_id == ctx.job_id
    assert child.component == ctx.component
    assert child.parties == ctx.parties
    assert child.recv_timeout == 3.0
    assert child.metrics is ctx.metrics


def test_iterations_get_their_own_namespaces() -> None:
    federation = RecordingFederation()
    ctx = make_context(G9999, FULL_JOB, federation)
    indices = []
    for index, it in ctx.iterations(3):
        indices.append(index)
        it.send("w", index, to=A9998)
    assert indices == [0, 1, 2]
    assert [tag for tag, _, _ in federation.sent] == ["iter-0/w", "iter-1/w", "iter-2/w"]


def test_iterations_can_resume_from_a_start_index() -> None:
    ctx = make_context(G9999, FULL_JOB)
    assert [index for index, _ in ctx.iterations(5, start=3)] == [3, 4]


def test_same_tag_in_different_iterations_keeps_values_apart_over_the_federation() -> None:
    """The guest sends every iteration's value first; each host iteration must still read its own."""

    def guest(ctx: Context) -> list[Any]:
        for index, it in ctx.iterations(4):
            it.send("w", np.full(2, index, dtype=np.int64), to=Role.HOST)
        return [it.recv("ack", frm=H10000) for _, it in ctx.iterations(4)]

    def host(ctx: Context) -> list[Any]:
        received = []
        for index, it in reversed(list(ctx.iterations(4))):  # read the last iteration first
            w = it.recv("w", frm=ctx.guest)
            assert isinstance(w, np.ndarray)
            received.append((index, w.tolist()))
            it.send("ack", index, to=ctx.guest)
        return received

    run = run_parties({G10000: guest, H10000: host}, recv_timeout=10)
    assert run.results[H10000] == [(3, [3, 3]), (2, [2, 2]), (1, [1, 1]), (0, [0, 0])]
    assert run.results[G10000] == [0, 1, 2, 3]


def test_same_tag_in_different_sub_contexts_keeps_values_apart_over_the_federation() -> None:
    def guest(ctx: Context) -> None:
        ctx.sub("a").send("x", "from-a", to=H10000)
        ctx.sub("b").send("x", "from-b", to=H10000)
        ctx.send("x", "from-root", to=H10000)

    def host(ctx: Context) -> list[Any]:
        return [ctx.recv("x", frm=G10000), ctx.sub("b").recv("x", frm=G10000), ctx.sub("a").recv("x", frm=G10000)]

    run = run_parties({G10000: guest, H10000: host}, recv_timeout=10)
    assert run.results[H10000] == ["from-root", "from-b", "from-a"]


def test_guest_and_host_of_the_same_party_exchange_messages() -> None:
    def guest(ctx: Context) -> Any:
        ctx.send("ping", 1, to=Role.HOST)
        return ctx.recv("pong", frm=Role.HOST)

    def host(ctx: Context) -> Any:
        value = ctx.recv("ping", frm=ctx.guest)
        assert isinstance(value, int)
        ctx.send("pong", value + ctx.party_id, to=ctx.guest)
        return value

    run = run_parties({G10000: guest, H10000: host, H10001: host}, recv_timeout=10)
    assert run.results[G10000] == [10001, 10002]
    assert run.results[H10000] == 1
    assert run.results[H10001] == 1
    tags_and_ends = {(m.tag, m.src, m.dst) for m in run.hub.recorded}
    assert ("ping", G10000, H10000) in tags_and_ends
    assert ("pong", H10000, G10000) in tags_and_ends


class CountingSink(MemoryMetricSink):
    """Counts the calls a node would receive (each one a round trip and a database write)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def emit(self, points: list[Any]) -> None:
        self.calls += 1
        super().emit(points)


def test_several_scalars_of_one_step_reach_the_node_in_one_call() -> None:
    sink = CountingSink()
    Metrics(sink).log_all({"round_seconds": 0.5, "workers": 3, "eval_loss": 0.25}, step=4)
    assert sink.calls == 1
    assert [(p.name, p.step, p.value) for p in sink.points] == [
        ("round_seconds", 4, 0.5),
        ("workers", 4, 3.0),
        ("eval_loss", 4, 0.25),
    ]
    with pytest.raises(ValueError, match="eval_loss is nan"):
        Metrics(sink).log_all({"workers": 3, "eval_loss": float("nan")}, step=5)
    assert sink.calls == 1  # nothing of a refused batch is sent
