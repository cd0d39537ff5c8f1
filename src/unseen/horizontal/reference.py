"""A small numpy model and its :class:`~unseen.horizontal.worker.LocalTrainer`: the reference the round
loops, secure aggregation and DP are tested and benchmarked with, without any framework installed.

A one-hidden-layer MLP (ReLU, softmax cross-entropy; ``hidden=0`` gives multinomial logistic regression)
trained with plain mini-batch SGD, deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from unseen.horizontal.fedprox import proximal_gradient
from unseen.horizontal.strategy import Instruction
from unseen.horizontal.weights import Weights
from unseen.horizontal.worker import EvalResult, FitResult, GradientResult


def init_mlp(features: int, classes: int, hidden: int = 32, seed: int = 0) -> Weights:
    rng = np.random.default_rng(seed)
    if hidden == 0:
        return {"out.weight": np.zeros((features, classes), np.float32), "out.bias": np.zeros(classes, np.float32)}
    scale = np.sqrt(2.0 / features)
    return {
        "hidden.weight": (rng.normal(size=(features, hidden)) * scale).astype(np.float32),
        "hidden.bias": np.zeros(hidden, np.float32),
        "out.weight": (rng.normal(size=(hidden, classes)) * np.sqrt(1.0 / hidden)).astype(np.float32),
        "out.bias": np.zeros(classes, np.float32),
    }


def _forward(weights: Weights, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    if "hidden.weight" in weights:
        hidden = np.maximum(x @ weights["hidden.weight"] + weights["hidden.bias"], 0.0)
        return hidden @ weights["out.weight"] + weights["out.bias"], hidden
    return x @ weights["out.weight"] + weights["out.bias"], None


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


def loss_and_gradient(weights: Weights, x: np.ndarray, y: np.ndarray) -> tuple[float, Weights]:
    """Mean cross-entropy over the batch and its gradient with respect to every tensor."""
    logits, hidden = _forward(weights, x)
    probs = _softmax(logits)
    rows = np.arange(len(y))
    loss = float(-np.mean(np.log(probs[rows, y] + 1e-12)))
    d_logits = probs
    d_logits[rows, y] -= 1.0
    d_logits /= len(y)
    grads: Weights = {}
    inputs = x if hidden is None else hidden
    grads["out.weight"] = (inputs.T @ d_logits).astype(np.float32)
    grads["out.bias"] = d_logits.sum(axis=0).astype(np.float32)
    if hidden is not None:
        d_hidden = (d_logits @ weights["out.weight"].T) * (hidden > 0)
        grads["hidden.weight"] = (x.T @ d_hidden).astype(np.float32)
        grads["hidden.bias"] = d_hidden.sum(axis=0).astype(np.float32)
    return loss, {n: grads[n] for n in weights}


def accuracy(weights: Weights, x: np.ndarray, y: np.ndarray) -> float:
    logits, _ = _forward(weights, x)
    return float(np.mean(np.argmax(logits, axis=1) == y))


@dataclass
class MLPTrainer:
    """A worker's local training on its own ``(x, y)``; validation on ``(x_val, y_val)`` (defaults to train)."""

    x: np.ndarray
    y: np.ndarray
    lr: float = 0.1
    seed: int = 0
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    _rng: np.random.Generator = field(init=False, repr=False)
    _cursor: int = field(default=0, init=False, repr=False)
    _order: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._order = self._rng.permutation(len(self.y))

    def _batches(self, batch_size: int) -> list[np.ndarray]:
        order = self._rng.permutation(len(self.y))
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]

    def fit(self, weights: Weights, instruction: Instruction) -> FitResult:
        start = {n: t.copy() for n, t in weights.items()}
        current = {n: t.astype(np.float32, copy=True) for n, t in weights.items()}
        losses = []
        for _ in range(instruction.local_epochs):
            for batch in self._batches(instruction.batch_size):
                loss, grads = loss_and_gradient(current, self.x[batch], self.y[batch])
                if instruction.proximal_mu > 0:
                    prox = proximal_gradient(current, start, instruction.proximal_mu)
                    grads = {n: g + prox[n] for n, g in grads.items()}
                for name in current:
                    current[name] -= np.float32(self.lr) * grads[name]
                losses.append(loss)
        return FitResult(current, len(self.y), float(np.mean(losses)) if losses else 0.0)

    def gradient(self, weights: Weights, instruction: Instruction) -> GradientResult:
        total: Weights = {n: np.zeros_like(t, dtype=np.float64) for n, t in weights.items()}
        rows, losses = 0, []
        for _ in range(instruction.steps):
            if self._cursor >= len(self._order):
                self._order, self._cursor = self._rng.permutation(len(self.y)), 0
            batch = self._order[self._cursor : self._cursor + instruction.batch_size]
            self._cursor += instruction.batch_size
            loss, grads = loss_and_gradient(weights, self.x[batch], self.y[batch])
            for name in total:
                total[name] += grads[name] * len(batch)
            rows += len(batch)
            losses.append(loss)
        return GradientResult({n: t / rows for n, t in total.items()}, rows, float(np.mean(losses)))

    def evaluate(self, weights: Weights) -> EvalResult:
        x = self.x if self.x_val is None else self.x_val
        y = self.y if self.y_val is None else self.y_val
        loss, _ = loss_and_gradient(weights, x, y)
        return EvalResult(loss, accuracy(weights, x, y), len(y))


def train_centrally(
    weights: Weights, x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int, lr: float, seed: int = 0
) -> Weights:
    """The same model trained on all rows in one place: the baseline FedAvg is compared with."""
    trainer = MLPTrainer(x, y, lr=lr, seed=seed)
    return trainer.fit(weights, Instruction("fit", 0, local_epochs=epochs, batch_size=batch_size)).weights
