"""Tests for the task channel's gather and broadcast (unseen.runtime.channel.NodeChannel): concurrent receives
under one deadline, concurrent sends, both bounded in number, a missing or unreachable party reported and a
closed job still raised."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from unseen.runtime.channel import GATHER_CONCURRENCY, FederationError, NodeChannel
from unseen.runtime.parties import PartyRef, Role
from unseen.transport.framing import CHUNK_SIZE
from unseen.values import Value

PARTIES = [PartyRef(Role.HOST, p) for p in range(20)]


class _Channel(NodeChannel):
    """The real gather over a stand-in for the node's Recv: party 3 never answers, the others after 0.2 s."""

    def __init__(self, closed: bool = False) -> None:  # no socket: only gather is under test
        self.in_flight = 0
        self.peak = 0
        self.timeouts: list[float] = []
        self.closed = closed
        self._lock = threading.Lock()

    def recv(self, tag: str, frm: PartyRef, timeout: float) -> Value:
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.timeouts.append(timeout)
        try:
            if self.closed:
                raise FederationError("job ended")
            if frm.party_id == 3:
                time.sleep(timeout)
                raise TimeoutError
            time.sleep(0.2)
            return frm.party_id
        finally:
            with self._lock:
                self.in_flight -= 1


def test_the_channel_gathers_concurrently_under_one_deadline() -> None:
    channel = _Channel()
    result = channel.gather("t", PARTIES, time.monotonic() + 2.0)
    assert set(result.missing) == {PARTIES[3]} and len(result.values) == 19
    assert result.values[PARTIES[7]] == 7
    assert channel.peak == GATHER_CONCURRENCY  # concurrent, and never more than the bound
    assert max(channel.timeouts) <= 2.0  # each receive gets what is left of the one deadline


def test_a_closed_job_is_raised_not_reported_as_missing() -> None:
    with pytest.raises(FederationError, match="job ended"):
        _Channel(closed=True).gather("t", PARTIES[:2], time.monotonic() + 1.0)


class _Buffer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.writes = 0

    def write(self, body: memoryview) -> None:
        self.writes += 1


class _Sender(NodeChannel):
    """The real broadcast over stand-ins for the node's SendOne and SendShared: party 5 cannot be reached."""

    def __init__(self) -> None:  # no socket: only broadcast is under test
        self.in_flight = 0
        self.peak = 0
        self.sent: list[int] = []
        self._lock = threading.Lock()
        self.stand_in = _Buffer()
        self._buffer = self.stand_in  # type: ignore[assignment]

    def _deliver(self, to: PartyRef) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(0.1)
            if to.party_id == 5:
                raise FederationError(f"sending to {to} failed: unreachable")
            with self._lock:
                self.sent.append(to.party_id)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _send_encoded(self, tag: str, encoded: object, to: PartyRef) -> None:
        self._deliver(to)

    def _send_written(self, tag: str, encoded: object, to: PartyRef) -> None:
        assert self._buffer.lock.locked()  # the body stays in the buffer until every recipient has it
        self._deliver(to)


@pytest.mark.parametrize("value", [np.zeros(4), np.zeros(2 * CHUNK_SIZE // 8)], ids=["small", "shared-memory"])
def test_the_channel_broadcasts_concurrently_and_reports_the_unreachable(value: np.ndarray) -> None:
    channel = _Sender()
    unreachable = channel.broadcast("t", value, PARTIES)
    assert list(unreachable) == [PARTIES[5]] and "unreachable" in unreachable[PARTIES[5]]
    assert sorted(channel.sent) == [p for p in range(20) if p != 5]  # every other recipient still served
    assert channel.peak == GATHER_CONCURRENCY  # concurrent, and never more than the bound
    assert channel.stand_in.writes == (1 if value.nbytes > CHUNK_SIZE else 0)  # written once for all
