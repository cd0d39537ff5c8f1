"""What a framework adapter trains on: a source of batches, whether the rows sit in memory or stream from a file.

A :class:`TrainingData` says how many rows it holds and yields batches ``(inputs, labels)``, ``inputs`` a tuple
of numpy arrays (one per model input: images; or DLRM's dense and sparse features) whose first axis is the row:

- ``epoch(batch_size, rng)``: every row once, shuffled (and augmented, where the source augments), for training;
- ``ordered(batch_size)``: every row once, in a fixed order, unaugmented: for evaluation and predictions;
- ``labels()``: the labels in ``ordered`` order (the predictions table is written beside them).

:class:`ArrayData` is rows in memory (a table's columns); the CIFAR-10 and Criteo sources live in
``unseen.datasets.sources`` (they read Parquet, which the algorithm layer must not import). The adapters pull
batches through :func:`prefetched`, so the next batch is prepared (gathered, augmented, decoded) in a thread
while the model trains on this one. This module imports numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from unseen.datasets.prefetch import Prefetcher

Batch = tuple[tuple[np.ndarray, ...], np.ndarray]
LossName = Literal["cross_entropy", "binary_cross_entropy", "mse"]
PREFETCH_DEPTH = 2


class TrainingData(Protocol):
    @property
    def num_samples(self) -> int: ...

    def epoch(self, batch_size: int, rng: np.random.Generator) -> Iterator[Batch]:
        """Every row once in batches of ``batch_size`` (the last may be smaller), shuffled by ``rng``."""

    def ordered(self, batch_size: int) -> Iterator[Batch]:
        """Every row once in a fixed order, without augmentation."""

    def labels(self) -> np.ndarray:
        """Every row's label, in ``ordered`` order."""


@dataclass(frozen=True)
class ArrayData:
    """Rows in memory: ``inputs`` (one array per model input, rows first) and ``label`` per row."""

    inputs: tuple[np.ndarray, ...]
    label: np.ndarray

    def __post_init__(self) -> None:
        if not self.inputs or any(len(a) != len(self.label) for a in self.inputs):
            lengths = [len(a) for a in self.inputs]
            raise ValueError(f"a worker needs rows: inputs of {lengths} rows, {len(self.label)} labels")

    @property
    def num_samples(self) -> int:
        return len(self.label)

    def take(self, rows: np.ndarray) -> ArrayData:
        return ArrayData(tuple(a[rows] for a in self.inputs), self.label[rows])

    def _batches(self, order: np.ndarray, batch_size: int) -> Iterator[Batch]:
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            yield tuple(a[index] for a in self.inputs), self.label[index]

    def epoch(self, batch_size: int, rng: np.random.Generator) -> Iterator[Batch]:
        return self._batches(rng.permutation(self.num_samples), batch_size)

    def ordered(self, batch_size: int) -> Iterator[Batch]:
        for start in range(0, self.num_samples, batch_size):
            yield tuple(a[start : start + batch_size] for a in self.inputs), self.label[start : start + batch_size]

    def labels(self) -> np.ndarray:
        return self.label


def as_data(x: np.ndarray | TrainingData, y: np.ndarray | None) -> TrainingData:
    """``x`` when it is already a source; else the arrays ``(x, y)`` as :class:`ArrayData`."""
    if isinstance(x, np.ndarray):
        if y is None:
            raise ValueError("rows given as an array need their labels")
        return ArrayData((x,), np.asarray(y))
    return x


def prefetched(make: Callable[[], Iterator[Batch]], depth: int = PREFETCH_DEPTH) -> Prefetcher[Batch]:
    """The batches of ``make()``, prepared ``depth`` ahead in a background thread."""
    return Prefetcher(make, depth=depth)


class BatchStream:
    """Batches one at a time across calls (the parameter server asks for a few per round): endless epochs of
    ``data``, reshuffled each time one ends, prepared ahead; a new batch size starts a fresh stream."""

    def __init__(self, data: TrainingData, rng: np.random.Generator) -> None:
        self.data, self.rng = data, rng
        self._batch_size = 0
        self._stream: Prefetcher[Batch] | None = None

    def take(self, batch_size: int) -> Batch:
        if self._stream is None or batch_size != self._batch_size:
            if self._stream is not None:
                self._stream.close()
            self._batch_size = batch_size
            data, rng = self.data, self.rng  # the thread holds these, not self, so dropping self stops it
            self._stream = prefetched(lambda: _endless(data, rng, batch_size))
        return next(self._stream)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def _endless(data: TrainingData, rng: np.random.Generator, batch_size: int) -> Iterator[Batch]:
    while True:
        yield from data.epoch(batch_size, rng)


def label_dtype(loss: LossName) -> type[np.generic]:
    return np.int64 if loss == "cross_entropy" else np.float32


def loss_and_correct(outputs: np.ndarray, labels: np.ndarray, loss: LossName) -> tuple[float, int]:
    """The summed loss and the number of correct predictions of a batch of model outputs (logits), in numpy:
    both adapters evaluate through it, so their figures mean the same."""
    out = np.asarray(outputs, dtype=np.float64)
    if loss == "cross_entropy":
        y = np.asarray(labels, dtype=np.int64)
        shifted = out - out.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=1))
        total = float(np.sum(log_norm - shifted[np.arange(len(y)), y]))
        return total, int(np.sum(out.argmax(axis=1) == y))
    flat = out.reshape(-1)
    target = np.asarray(labels, dtype=np.float64).reshape(-1)
    if loss == "binary_cross_entropy":  # log(1 + e^z) - y z, computed without overflow
        total = float(np.sum(np.maximum(flat, 0) - flat * target + np.log1p(np.exp(-np.abs(flat)))))
        return total, int(np.sum((flat > 0) == (target > 0.5)))
    return float(np.sum((flat - target) ** 2)), 0


def mean_loss(total: float, rows: int) -> float:
    loss = total / max(rows, 1)
    return loss if math.isfinite(loss) else float("inf")


__all__ = [
    "ArrayData",
    "Batch",
    "BatchStream",
    "TrainingData",
    "as_data",
    "label_dtype",
    "loss_and_correct",
    "mean_loss",
    "prefetched",
]
