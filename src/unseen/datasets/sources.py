"""CIFAR-10 and Criteo tables as training data for the horizontal trainers (``horizontal.data.TrainingData``).

- :class:`CifarData`: the images stay uint8 in memory (3 KiB each: 50,000 take 150 MiB); a training batch is
  gathered, randomly cropped and flipped, and normalised when it is drawn (``cifar10.augment``/``normalise``), so
  every epoch sees new augmentations and float32 copies exist for one batch at a time. Evaluation batches are only
  normalised.
- :class:`CriteoData`: streams the stored Parquet table a row group at a time and never holds more than its
  shuffle buffer (plus one row group and one batch): an epoch visits the row groups in a random order and shuffles
  rows within a bounded pool, the approximation of a full shuffle every streaming reader makes. A holdout is drawn
  per row (seeded by the job's seed and the row group), so the training and validation rows never overlap and no
  row index list is kept.

Batches are ``((images,), labels)`` and ``((dense, sparse), labels)``: the inputs the ResNets and DLRM take.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow.parquet as pq

from unseen.datasets import cifar10, criteo
from unseen.datasets.record_tables import check_format, load_cifar_table

Batch = tuple[tuple[np.ndarray, ...], np.ndarray]
Part = Literal["all", "train", "validation"]
SHUFFLE_BUFFER_ROWS = 1 << 18  # 262,144 rows of 40 values: about 42 MiB


@dataclass(frozen=True)
class CifarData:
    images: np.ndarray  # uint8 (n, 3, 32, 32)
    label: np.ndarray  # int64 (n,)
    augment: bool = True

    @classmethod
    def from_table(cls, path: Path) -> CifarData:
        arrays = load_cifar_table(path)
        return cls(arrays.images, arrays.labels)

    @property
    def num_samples(self) -> int:
        return len(self.label)

    def take(self, rows: np.ndarray, augment: bool | None = None) -> CifarData:
        return CifarData(self.images[rows], self.label[rows], self.augment if augment is None else augment)

    def epoch(self, batch_size: int, rng: np.random.Generator) -> Iterator[Batch]:
        order = rng.permutation(self.num_samples)
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            images = self.images[index]
            if self.augment:
                images = cifar10.augment(images, rng)
            yield (cifar10.normalise(images),), self.label[index]

    def ordered(self, batch_size: int) -> Iterator[Batch]:
        for start in range(0, self.num_samples, batch_size):
            stop = start + batch_size
            yield (cifar10.normalise(self.images[start:stop]),), self.label[start:stop]

    def labels(self) -> np.ndarray:
        return self.label


def _part_mask(rows: int, group: int, part: Part, fraction: float, seed: int) -> np.ndarray | None:
    """Which rows of row group ``group`` belong to ``part`` (None: all of them)."""
    if part == "all" or fraction == 0:
        return None if part != "validation" else np.zeros(rows, dtype=bool)
    held_out = np.random.default_rng([seed, group]).random(rows) < fraction
    return held_out if part == "validation" else ~held_out


@dataclass
class CriteoData:
    """A stored ``criteo-tsv`` table, streamed; ``part`` picks the training or validation rows of a holdout of
    ``fraction`` (seeded by ``seed``), or all rows."""

    path: Path
    part: Part = "all"
    fraction: float = 0.0
    seed: int = 0
    shuffle_buffer: int = SHUFFLE_BUFFER_ROWS
    max_held: int = field(default=0, init=False)  # the most rows an epoch has held at once (for tests)

    def __post_init__(self) -> None:
        self._file = pq.ParquetFile(self.path)
        self.description = check_format(self._file.schema_arrow, "criteo-tsv", self.path)
        self.vocab_sizes = [int(size) for size in self.description["vocab_sizes"]]
        metadata = self._file.metadata
        self._group_rows = [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]
        self._num_samples = sum(self._rows_in(g) for g in range(len(self._group_rows)))

    def _mask(self, group: int) -> np.ndarray | None:
        return _part_mask(self._group_rows[group], group, self.part, self.fraction, self.seed)

    def _rows_in(self, group: int) -> int:
        mask = self._mask(group)
        return self._group_rows[group] if mask is None else int(mask.sum())

    @property
    def num_samples(self) -> int:
        return self._num_samples

    def _read(self, group: int) -> criteo.CriteoBatch:
        table = self._file.read_row_group(group, columns=criteo.COLUMNS)
        columns = {name: table.column(name).to_numpy() for name in criteo.COLUMNS}
        batch = criteo.CriteoBatch(
            columns["label"].astype(np.float32),
            np.stack([columns[n] for n in criteo.DENSE_NAMES], axis=1).astype(np.float32, copy=False),
            np.stack([columns[n] for n in criteo.SPARSE_NAMES], axis=1).astype(np.int32, copy=False),
        )
        mask = self._mask(group)
        if mask is None:
            return batch
        return criteo.CriteoBatch(batch.labels[mask], batch.dense[mask], batch.sparse[mask])

    def epoch(self, batch_size: int, rng: np.random.Generator) -> Iterator[Batch]:
        pool: list[criteo.CriteoBatch] = []
        held = 0
        for group in rng.permutation(len(self._group_rows)):
            part = self._read(int(group))
            pool.append(part)
            held += len(part)
            self.max_held = max(self.max_held, held)
            emit = (held - self.shuffle_buffer // 2) // batch_size * batch_size
            if held < self.shuffle_buffer or emit <= 0:
                continue
            mixed = _shuffled(pool, rng)
            yield from _batches(mixed, 0, emit, batch_size)
            rest = _take(mixed, np.arange(emit, held))
            pool, held = [rest], len(rest)
        if held:
            yield from _batches(_shuffled(pool, rng), 0, held, batch_size)

    def ordered(self, batch_size: int) -> Iterator[Batch]:
        parts = (self._read(g) for g in range(len(self._group_rows)))
        for batch in criteo.rebatch(parts, batch_size):
            yield (batch.dense, batch.sparse), batch.labels

    def labels(self) -> np.ndarray:
        out = []
        for group in range(len(self._group_rows)):
            labels = self._file.read_row_group(group, columns=["label"]).column("label").to_numpy()
            mask = self._mask(group)
            out.append(labels if mask is None else labels[mask])
        return np.concatenate(out).astype(np.float32) if out else np.zeros(0, dtype=np.float32)


def _take(batch: criteo.CriteoBatch, rows: np.ndarray) -> criteo.CriteoBatch:
    return criteo.CriteoBatch(batch.labels[rows], batch.dense[rows], batch.sparse[rows])


def _shuffled(pool: list[criteo.CriteoBatch], rng: np.random.Generator) -> criteo.CriteoBatch:
    merged = criteo.CriteoBatch(
        np.concatenate([p.labels for p in pool]),
        np.concatenate([p.dense for p in pool]),
        np.concatenate([p.sparse for p in pool]),
    )
    return _take(merged, rng.permutation(len(merged)))


def _batches(batch: criteo.CriteoBatch, start: int, stop: int, batch_size: int) -> Iterator[Batch]:
    for first in range(start, stop, batch_size):
        last = min(first + batch_size, stop)
        yield (batch.dense[first:last], batch.sparse[first:last]), batch.labels[first:last]
