"""How a round's contributions become their sum at the aggregator: in clear, or securely (``secagg``).

Both sides are small objects so the round loops need not know which is in use: the aggregator asks a
:class:`SumServer` for the sum over a set of workers under one deadline, a worker hands its vector to a
:class:`SumClient`. :class:`PlainSum` sends each vector as it is: the aggregator sees every worker's update.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from unseen.runtime.parties import PartyRef
from unseen.values import JsonValue

if TYPE_CHECKING:
    from unseen.runtime.context import Context


@dataclass
class Summed:
    """The sum of the vectors of ``contributors``; ``missing`` names the selected workers left out, with why."""

    total: np.ndarray
    contributors: list[PartyRef]
    missing: dict[PartyRef, str] = field(default_factory=dict)


class RoundFailedError(RuntimeError):
    """Too few workers contributed to a round; the message names the missing ones."""


class SumServer(Protocol):
    def begin(self, ctx: Context, workers: list[PartyRef], length: int, minimum: int) -> dict[str, JsonValue] | None:
        """Called before the round's orders go out: fix what the round's sum needs from the workers before
        their contributions (secure aggregation: participants, masking graph, keys) and return what each of
        ``workers`` needs to start its part, which travels inside its order rather than as a message of its
        own; plain sums return ``None``. ``collect`` with the same ``ctx`` runs the rest, its first exchanges
        while the workers train. Raises ``RoundFailedError`` when the round cannot be run with these workers."""

    def collect(self, ctx: Context, workers: list[PartyRef], length: int, deadline_s: float, minimum: int) -> Summed:
        """The sum over those of ``workers`` that contribute in time; raises RoundFailedError below ``minimum``."""


class SumClient(Protocol):
    secure: bool

    def weight(self, num_samples: int) -> float:
        """The weight a worker with ``num_samples`` rows gives its contribution."""

    def prepare(self, ctx: Context, aggregator: PartyRef, setup: JsonValue = None) -> None:
        """Called when a training order arrives, before training: start what does not need the update (secure
        aggregation's exchanges and masks); ``contribute`` with the same ``ctx`` finishes it. ``setup`` is what
        the aggregator's ``begin`` returned, as the order carried it (untrusted)."""

    def contribute(self, ctx: Context, aggregator: PartyRef, vector: np.ndarray) -> None: ...


def describe(missing: dict[PartyRef, str]) -> str:
    return ", ".join(f"{party} ({why})" for party, why in sorted(missing.items()))


def too_few(stage: str, got: int, minimum: int, missing: dict[PartyRef, str]) -> RoundFailedError:
    return RoundFailedError(f"{stage}: {got} workers answered, at least {minimum} needed; missing: {describe(missing)}")


class PlainSum:
    """Each worker sends its float64 vector; the aggregator checks and adds them."""

    secure = False

    def weight(self, num_samples: int) -> float:
        return float(num_samples)

    def prepare(self, ctx: Context, aggregator: PartyRef, setup: JsonValue = None) -> None:
        """Nothing to do before the update exists."""

    def begin(self, ctx: Context, workers: list[PartyRef], length: int, minimum: int) -> dict[str, JsonValue] | None:
        """Nothing to do before the contributions arrive."""
        return None

    def contribute(self, ctx: Context, aggregator: PartyRef, vector: np.ndarray) -> None:
        ctx.send("contribution", np.asarray(vector, dtype=np.float64), to=aggregator)

    def collect(self, ctx: Context, workers: list[PartyRef], length: int, deadline_s: float, minimum: int) -> Summed:
        started = time.monotonic()
        gathered = ctx.gather("contribution", workers, timeout=deadline_s)
        missing = dict(gathered.missing)
        total = np.zeros(length, dtype=np.float64)
        contributors: list[PartyRef] = []
        for party, value in sorted(gathered.values.items()):
            if not (isinstance(value, np.ndarray) and value.dtype == np.float64 and value.shape == (length,)):
                missing[party] = f"sent a contribution that is not {length} float64 values"
            elif not np.all(np.isfinite(value)):
                missing[party] = "sent a contribution with NaN or infinite values"
            else:
                total += value
                contributors.append(party)
        if len(contributors) < minimum:
            raise too_few(f"round (after {time.monotonic() - started:.1f} s)", len(contributors), minimum, missing)
        return Summed(total, contributors, missing)
