"""Tests for the task channel's gather (unseen.runtime.channel.NodeChannel.gather): concurrent receives under
one deadline, bounded in number, a missing party reported and a closed job still raised."""

from __future__ import annotations

import threading
import time

import pytest

from unseen.runtime.channel import GATHER_CONCURRENCY, FederationError, NodeChannel
from unseen.runtime.parties import PartyRef, Role
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
