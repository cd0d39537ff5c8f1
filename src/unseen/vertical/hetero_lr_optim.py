"""Hetero LR's optimizers: how a party turns its own (unmasked) gradient into a step on its own weights.

In this protocol every party gets its own gradient in clear after the arbiter's round trip (guest: its features
and the intercept; a host: its features), so each party runs its own optimizer on its own block of weights, with
its own state. No optimizer state ever leaves the party, and the protocol is the same whichever is chosen:
the optimizer only changes the weights each party uses for the next batch's partial scores.

The first five names are FATE's (``optimizer`` of HeteroLR): ``sgd``, ``nesterov_momentum_sgd``, ``rmsprop``,
``adagrad`` and ``adam``. ``block_newton`` (the default) uses that the protocol's Taylor loss is quadratic: its
Hessian is ``X^T X / 4n + alpha I``, and the diagonal block of a party's own weights, ``X_k^T X_k / 4n + alpha I``,
needs only that party's own columns. Each party steps along its own block's inverse times its own gradient
(block-Jacobi preconditioning, with heavy-ball momentum), so nothing new crosses the wire, and training converges in
a few tens of epochs where Adam needs about a hundred (docs/hetero-lr.md has the measurements).

The rate passed to :meth:`Optimizer.step` is the schedule's rate for the epoch (``HeteroLRConfig.learning_rate_at``);
the gradient already holds the L2 term.
"""

from __future__ import annotations

import math
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

OptimizerName = Literal["sgd", "nesterov_momentum_sgd", "rmsprop", "adagrad", "adam", "block_newton"]
OPTIMIZERS: Final[tuple[OptimizerName, ...]] = (
    "sgd",
    "nesterov_momentum_sgd",
    "rmsprop",
    "adagrad",
    "adam",
    "block_newton",
)

DEFAULT_RATES: Final[dict[OptimizerName, float]] = {
    "sgd": 0.15,
    "nesterov_momentum_sgd": 0.15,
    "rmsprop": 0.15,
    "adagrad": 0.15,
    "adam": 0.15,
    "block_newton": 0.7,
}
"""The learning rate each optimizer gets when the job sets none (``block_newton``'s is a fraction of a Newton step)."""

MOMENTUM: Final = 0.9
"""Nesterov momentum coefficient (FATE's and the usual default)."""
ADAM_BETAS: Final = (0.9, 0.999)
"""Adam's decay rates of the first and second moments (Kingma & Ba's defaults, as FATE and PyTorch use)."""
RMSPROP_DECAY: Final = 0.99
"""RMSprop's decay of the squared-gradient average (FATE and PyTorch use 0.99)."""
BLOCK_NEWTON_MOMENTUM: Final = 0.5
"""Heavy-ball momentum of ``block_newton``: measured on the datasets of docs/hetero-lr.md, 0.5 needs the fewest epochs
(0.3 and 0.7 take 10-40% more); heavy ball on a quadratic is stable for any momentum below 1 when
``rate * mu < 2 (1 + momentum)`` for every eigenvalue ``mu`` of the preconditioned Hessian (below)."""
EPSILON: Final = 1e-8

FloatArray = npt.NDArray[np.float64]


class Optimizer:
    """One party's optimizer state for its own weight vector; ``step`` returns the new weights."""

    def __init__(self, name: OptimizerName, size: int, preconditioner: FloatArray | None = None) -> None:
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
        if preconditioner is not None and preconditioner.shape != (size, size):
            raise ValueError(f"the preconditioner must be {size} x {size}, got {preconditioner.shape}")
        self.name: OptimizerName = name
        self.steps = 0
        self._preconditioner = np.eye(size) if preconditioner is None else preconditioner
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
        if self.name == "block_newton":
            self._first = BLOCK_NEWTON_MOMENTUM * self._first + self._preconditioner @ gradient
            return weights - rate * self._first
        if self.name == "rmsprop":
            self._second = RMSPROP_DECAY * self._second + (1.0 - RMSPROP_DECAY) * gradient * gradient
            return weights - rate * gradient / (np.sqrt(self._second) + EPSILON)
        beta1, beta2 = ADAM_BETAS
        self._first = beta1 * self._first + (1.0 - beta1) * gradient
        self._second = beta2 * self._second + (1.0 - beta2) * gradient * gradient
        first = self._first / (1.0 - beta1**self.steps)
        second = self._second / (1.0 - beta2**self.steps)
        return weights - rate * first / (np.sqrt(second) + EPSILON)


def block_newton_preconditioner(
    x: FloatArray, rows: int, alpha: float, penalised: FloatArray, parties: int
) -> FloatArray:
    """A party's ``block_newton`` preconditioner: ``(2 / parties) (X_k^T X_k / 4 rows + alpha diag(penalised))^-1``.

    ``x`` is the party's own feature matrix over all its training rows (with the intercept's ones column at the
    guest); nothing of another party enters. Why ``2 / parties``: with ``k`` blocks the Hessian ``H`` is at most
    ``k`` times its block diagonal ``D`` (``H <= k D``), so the eigenvalues of ``D^-1 H`` lie in ``(0, k]``;
    scaled by ``2/k`` they lie in ``(0, 2]``, and a rate up to ``1 + momentum`` keeps heavy ball stable whatever
    the correlation between the parties' columns. A singular block (a constant column, ``alpha = 0``) gets the
    pseudo-inverse: the step then leaves the directions the data cannot tell apart alone.
    """
    features = np.asarray(x, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != penalised.shape[0] or rows < 1 or parties < 2:
        raise ValueError("a preconditioner needs the party's (rows, columns) matrix, its penalties and >= 2 parties")
    block = features.T @ features / (4.0 * rows) + alpha * np.diag(penalised)
    return np.asarray(np.linalg.pinv(block, hermitian=True), dtype=np.float64) * (2.0 / parties)


def relative_change(previous: float, current: float) -> float:
    """``|previous - current| / |current|``: how much the loss moved over an epoch, relative to its size."""
    scale = abs(current)
    if scale == 0.0:
        return 0.0 if previous == current else math.inf
    return abs(previous - current) / scale


__all__ = [
    "DEFAULT_RATES",
    "OPTIMIZERS",
    "Optimizer",
    "OptimizerName",
    "block_newton_preconditioner",
    "relative_change",
]
