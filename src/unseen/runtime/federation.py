"""The one interface algorithms use to talk to other parties.

Algorithms (``vertical/``, ``horizontal/``, ``crypto/``) never see nodes, sockets or databases: they see a
``Context`` built on a ``Federation``. In a job the federation is the task's channel to its node; in tests
it is ``unseen.runtime.local``'s in-memory hub, which runs the same codec so a value that could not cross
the wire fails there too.

A federation may also gather from many parties under one deadline and broadcast one value encoded once
(:class:`GroupFederation`); :func:`gather_in_turn` and :func:`broadcast_in_turn` give any federation the same
meaning through ``send`` and ``recv``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from unseen.runtime.parties import PartyRef
from unseen.values import Value

MIN_POLL_S = 0.05
"""After the deadline, each party not yet read is still asked once, this briefly: a message already waiting
at the node counts as answered in time, one still to come does not."""


class Federation(Protocol):
    def send(self, tag: str, value: Value, to: PartyRef) -> None:
        """Deliver ``value`` to ``to``'s mailbox under ``tag``; returns once the receiving node has accepted it."""

    def recv(self, tag: str, frm: PartyRef, timeout: float) -> Value:
        """The next value ``frm`` sent under ``tag``; raises ``TimeoutError`` after ``timeout`` seconds."""


@dataclass
class Gathered:
    """What a gather brought back: each answering party's value, and who did not answer (with why)."""

    values: dict[PartyRef, Value] = field(default_factory=dict)
    missing: dict[PartyRef, str] = field(default_factory=dict)

    @property
    def answered(self) -> list[PartyRef]:
        return sorted(self.values)

    def describe_missing(self) -> str:
        return ", ".join(f"{party} ({why})" for party, why in sorted(self.missing.items())) or "none"


@runtime_checkable
class GroupFederation(Federation, Protocol):
    def gather(self, tag: str, frm: Sequence[PartyRef], deadline: float) -> Gathered:
        """One value from each of ``frm`` that arrives before ``deadline`` (``time.monotonic()`` seconds)."""

    def broadcast(self, tag: str, value: Value, to: Sequence[PartyRef]) -> dict[PartyRef, str]:
        """Send ``value`` to each of ``to``, encoded once; returns the parties it could not reach, with why."""


def remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), MIN_POLL_S)


def refusal(exc: BaseException) -> str | None:
    """Why one party's answer does not count, or None when the error must end the caller (the job closed).

    A timeout is a missing party; a value that failed to decode (the codec's errors are ``ValueError``) is a
    party that sent garbage, which must not end the round for everyone else.
    """
    if isinstance(exc, TimeoutError):
        return "no answer by the deadline"
    if isinstance(exc, ValueError):
        return f"sent an invalid message: {str(exc)[:200]}"
    return None


def gather_in_turn(
    recv: Callable[[str, PartyRef, float], Value], tag: str, frm: Sequence[PartyRef], deadline: float
) -> Gathered:
    """Read each party in turn, every read bounded by the one shared deadline (not a timeout each)."""
    result = Gathered()
    for party in dict.fromkeys(frm):
        try:
            result.values[party] = recv(tag, party, remaining(deadline))
        except Exception as exc:
            why = refusal(exc)
            if why is None:
                raise
            result.missing[party] = why
    return result


def broadcast_concurrently(
    send: Callable[[str, Value, PartyRef], None],
    tag: str,
    value: Value,
    to: Sequence[PartyRef],
    concurrency: int,
) -> dict[PartyRef, str]:
    """:func:`broadcast_in_turn`'s meaning with up to ``concurrency`` sends in flight.

    A send returns once the receiving node has accepted the message, a round trip across the federation;
    one after another, a 4 MB model took 4-10 s to reach 50 workers. Each recipient is its own stream, so
    the order between recipients does not matter.
    """
    recipients = list(dict.fromkeys(to))
    if concurrency <= 1 or len(recipients) <= 1:
        return broadcast_in_turn(send, tag, value, recipients)

    def one(party: PartyRef) -> str | None:
        try:
            send(tag, value, party)
        except (OSError, RuntimeError) as exc:
            return str(exc)[:200]
        return None

    with ThreadPoolExecutor(max_workers=min(concurrency, len(recipients))) as pool:
        outcomes = list(pool.map(one, recipients))
    return {party: why for party, why in zip(recipients, outcomes, strict=True) if why is not None}


def broadcast_in_turn(
    send: Callable[[str, Value, PartyRef], None], tag: str, value: Value, to: Sequence[PartyRef]
) -> dict[PartyRef, str]:
    """Send to each party; one that cannot be reached is reported, not raised, so the others still get it."""
    unreachable: dict[PartyRef, str] = {}
    for party in dict.fromkeys(to):
        try:
            send(tag, value, party)
        except (OSError, RuntimeError) as exc:
            unreachable[party] = str(exc)[:200]
    return unreachable
