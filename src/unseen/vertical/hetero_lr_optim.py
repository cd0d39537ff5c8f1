"""Hetero LR's optimizers: how a party turns its own (unmasked) gradient into a step on its own weights.

In this protocol every party gets its own gradient in clear after the arbiter's round trip (guest: its features
and the intercept; a host: its features), so each party runs its own optimizer on its own block of weights, with
its own state. No optimizer state ever leaves the party, and the protocol is the same whichever is chosen:
the optimizer only changes the weights each party uses for the next batch's partial scores.

The names are FATE's (``optimizer`` of HeteroLR): ``sgd``, ``nesterov_momentum_sgd``, ``rmsprop``, ``adagrad``
and ``adam``. The rate passed to :meth:`Optimizer.step` is the schedule's rate for the epoch
(``HeteroLRConfig.learning_rate_at``); the gradient already holds the L2 term.
"""

from __future__ import annotations

import math
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

OptimizerName = Literal["sgd", "nesterov_momentum_sgd", "rmsprop", "adagrad", "adam"]
OPTIMIZERS: Final[tuple[OptimizerName, ...]] = ("sgd", "nesterov_momentum_sgd", "rmsprop", "adagrad", "adam")

MOMENTUM: Final = 0.9
"""Nesterov momentum coefficient (FATE's and the usual default)."""
ADAM_BETAS: Final = (0.9, 0.999)
"""Adam's decay rates of the first and second moments (Kingma & Ba's defaults, as FATE and PyTorch use)."""
RMSPROP_DECAY: Final = 0.99
"""RMSprop's decay of the squared-gradient average (FATE and PyTorch use 0.99)."""
EPSILON: Final = 1e-8

FloatArray = npt.NDArray[np.float64]


class Optimizer:
    """One party's optimizer state for its own weight vector; ``step`` returns the new weights."""

    def __init__(self, name: OptimizerName, size: int) -> None:
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
        self.name: OptimizerName = name
        self.steps = 0
        self._first = np.zeros(size)  # momentum / Adam's first moment
        self._second = np.zeros(size)  # squared-gradient average (RMSprop, Adam) or sum (Adagrad)

    def step(self, weights: FloatArray, gradient: FloatArray, rate: float) -> FloatArray:
        """Weights after one step of size ``rate`` along ``gradient`` (the mean gradient of a batch, L2 included)."""
        if gradient.shape != weights.shape or gradient.shape != self._first.shape:
            raise ValueError(f"gradient {gradient.shape} and weights {weights.shape} do not match the optimizer")
        self.steps += 1
        if self.name == "sgd":
            return weights - rate * gradient
        if self.name == "nesterov_momentum_sgd":
            # Sutskever et al.'s form with the look-ahead folded into the weights (as PyTorch's nesterov=True)
            previous = self._first
            self._first = MOMENTUM * previous - rate * gradient
            return weights - MOMENTUM * previous + (1.0 + MOMENTUM) * self._first
        if self.name == "adagrad":
            self._second = self._second + gradient * gradient
            return weights - rate * gradient / (np.sqrt(self._second) + EPSILON)
        if self.name == "rmsprop":
            self._second = RMSPROP_DECAY * self._second + (1.0 - RMSPROP_DECAY) * gradient * gradient
            return weights - rate * gradient / (np.sqrt(self._second) + EPSILON)
        beta1, beta2 = ADAM_BETAS
        self._first = beta1 * self._first + (1.0 - beta1) * gradient
        self._second = beta2 * self._second + (1.0 - beta2) * gradient * gradient
        first = self._first / (1.0 - beta1**self.steps)
        second = self._second / (1.0 - beta2**self.steps)
        return weights - rate * first / (np.sqrt(second) + EPSILON)


def relative_change(previous: float, current: float) -> float:
    """``|previous - current| / |current|``: how much the loss moved over an epoch, relative to its size."""
    scale = abs(current)
    if scale == 0.0:
        return 0.0 if previous == current else math.inf
    return abs(previous - current) / scale


__all__ = ["OPTIMIZERS", "Optimizer", "OptimizerName", "relative_change"]
