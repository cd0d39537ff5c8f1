"""Tests for unseen.node.claim_keeper: a node whose database claim was taken by another node stops; a claim
lost to a server restart is taken again; an unreachable server is retried, logged once per outage."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import OperationalError

from unseen.node.claim_keeper import ClaimKeeper
from unseen.storage.database import DatabaseClaim
from unseen.storage.urls import DatabaseError


class ScriptedClaim(DatabaseClaim):
    """A claim whose renewals answer, one after another, as given (a bool, or an exception to raise)."""

    def __init__(self, *answers: bool | Exception) -> None:
        super().__init__()
        self.answers = list(answers)

    def renew(self) -> bool:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def keeper(claim: DatabaseClaim, stops: list[str]) -> ClaimKeeper:
    return ClaimKeeper(claim, stops.append, interval_s=0.01)


def test_a_claim_taken_by_another_node_stops_this_one(caplog: pytest.LogCaptureFixture) -> None:
    stops: list[str] = []
    watch = keeper(ScriptedClaim(False, DatabaseError("the database is in use by 'unseen node 10000'")), stops)
    watch.start()
    watch.join(5)
    assert not watch.is_alive()
    assert len(stops) == 1 and "unseen node 10000" in stops[0]
    assert "lost its database to another node" in caplog.text


def test_a_renewed_claim_and_an_outage_keep_the_node_running(caplog: pytest.LogCaptureFixture) -> None:
    down = OperationalError("SELECT 1", {}, Exception("connection refused"))
    stops: list[str] = []
    watch = keeper(ScriptedClaim(True, down, down, down, False), stops)
    caplog.set_level(logging.WARNING)
    assert all(watch.check_once() for _ in range(5))
    assert stops == []
    assert caplog.text.count("claimed again") == 1
    assert caplog.text.count("cannot reach the database") == 1  # one line for the whole outage
