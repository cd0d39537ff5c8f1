"""Shared pieces of the horizontal-FL unit tests: parties and a deterministic quadratic trainer."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from unseen.horizontal.strategy import Instruction
from unseen.horizontal.weights import Weights
from unseen.horizontal.worker import EvalResult, FitResult, GradientResult
from unseen.runtime.parties import PartyRef, Role

ARBITER = PartyRef(Role.ARBITER, 9000)


def workers(count: int) -> list[PartyRef]:
    return [PartyRef(Role.GUEST, 9001)] + [PartyRef(Role.HOST, 9001 + i) for i in range(1, count)]


def model() -> Weights:
    return {"w": np.array([1.0, -1.0, 0.5], dtype=np.float64), "b": np.array([0.0], dtype=np.float64)}


@dataclass
class Quadratic:
    """Loss 0.5 ||w - target||^2: a local epoch moves w a fraction ``lr`` of the way to the target."""

    target: float
    samples: int
    lr: float = 0.5
    stall_s: float = 0.0  # sleep this long before answering: a worker that misses the deadline
    eval_target: float | None = None  # validate against another target: training then makes eval worse

    def fit(self, weights: Weights, instruction: Instruction) -> FitResult:
        time.sleep(self.stall_s)
        keep = (1 - self.lr) ** instruction.local_epochs
        return FitResult({n: self.target + keep * (t - self.target) for n, t in weights.items()}, self.samples, 1.0)

    def gradient(self, weights: Weights, instruction: Instruction) -> GradientResult:
        time.sleep(self.stall_s)
        return GradientResult({n: t - self.target for n, t in weights.items()}, self.samples, 1.0)

    def evaluate(self, weights: Weights) -> EvalResult:
        target = self.target if self.eval_target is None else self.eval_target
        loss = 0.5 * float(sum(np.sum((t - target) ** 2) for t in weights.values()))
        return EvalResult(loss, 1.0 / (1.0 + loss), self.samples)
