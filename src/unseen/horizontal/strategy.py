"""What every strategy offers the round loop, and what it asks of the workers.

A round, whatever the strategy: the aggregator sends the global weights and an :class:`Instruction`; each
selected worker either trains locally and contributes its weighted change (``task == "fit"``: FedAvg,
FedProx) or computes a gradient and contributes it weighted (``task == "gradient"``: the parameter-server
mode). The aggregator learns only the SUM of the weighted contributions and the sum of the weights (with
secure aggregation it cannot learn more), so :meth:`Strategy.apply` is written against sums.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

import numpy as np

from unseen.horizontal.weights import Weights
from unseen.values import JsonValue

Task = Literal["fit", "gradient"]
MAX_EPOCHS = 10_000
MAX_BATCH = 1 << 24
MAX_STEPS = 1 << 20


@dataclass(frozen=True)
class Instruction:
    """What a worker does in one round; sent as JSON and checked at the worker (it comes from another party)."""

    task: Task
    server_round: int
    local_epochs: int = 1
    batch_size: int = 32
    steps: int = 1  # gradient task: mini-batches whose gradients are averaged into one contribution
    proximal_mu: float = 0.0  # FedProx: the worker adds mu * (w - w_global) to its gradient

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "task": self.task,
            "server_round": self.server_round,
            "local_epochs": self.local_epochs,
            "batch_size": self.batch_size,
            "steps": self.steps,
            "proximal_mu": self.proximal_mu,
        }

    @classmethod
    def from_json(cls, value: object) -> Instruction:
        if not isinstance(value, dict):
            raise ValueError("an instruction must be a JSON object")
        task = value.get("task")
        if task not in ("fit", "gradient"):
            raise ValueError(f"unknown task {str(task)[:32]!r}")
        ints = {"server_round": (0, 1 << 31), "local_epochs": (1, MAX_EPOCHS)}
        ints |= {"batch_size": (1, MAX_BATCH), "steps": (1, MAX_STEPS)}
        parsed: dict[str, int] = {}
        for key, (low, high) in ints.items():
            number = value.get(key)
            if not isinstance(number, int) or isinstance(number, bool) or not low <= number <= high:
                raise ValueError(f"instruction field {key} must be an integer in {low}..{high}")
            parsed[key] = number
        mu = value.get("proximal_mu")
        if not isinstance(mu, int | float) or isinstance(mu, bool) or not (math.isfinite(mu) and 0 <= mu <= 1e6):
            raise ValueError("instruction field proximal_mu must be a number in 0..1e6")
        return cls(task=task, proximal_mu=float(mu), **parsed)


class Strategy(Protocol):
    """One way to turn the workers' summed contributions into the next global model."""

    task: ClassVar[Task]

    def instruction(self, server_round: int) -> Instruction:
        """What the selected workers must do this round."""

    def apply(self, weights: Weights, total: Mapping[str, np.ndarray], total_weight: float) -> Weights:
        """The next global weights from the current ones, the sum of weighted contributions and of the weights."""

    def state(self) -> Weights:
        """The strategy's own arrays (an optimizer's moments), to checkpoint with the global model."""

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Resume from :meth:`state` as checkpointed."""


def mean_of(total: Mapping[str, np.ndarray], total_weight: float) -> Weights:
    """The weighted mean from the weighted sum; refuses a round whose weights sum to nothing."""
    if not (math.isfinite(total_weight) and total_weight > 0):
        raise ValueError(f"the contributions' weights sum to {total_weight}; nothing to average")
    return {n: np.asarray(t, dtype=np.float64) / total_weight for n, t in total.items()}
