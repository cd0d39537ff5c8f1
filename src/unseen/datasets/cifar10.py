"""CIFAR-10 binary batches (``data_batch_1.bin`` ... ``data_batch_5.bin``, ``test_batch.bin``): read, check, augment.

A file is a sequence of 3,073-byte records: one label byte (0-9), then 3,072 pixel bytes, channel-major (1,024 red,
1,024 green, 1,024 blue, each row-major 32x32). Files are memory-mapped, so a reader holds only the pages it
touches, and checked a block of records at a time: a truncated file (size not a multiple of 3,073) or a label over
9 is refused with the file and the record (counted from 1).

Training batches: random crop 32x32 from the image zero-padded by 4 pixels, random horizontal flip (both drawn per
image from a seeded ``numpy.random.Generator``, done as one gather per batch), then per-channel normalisation with
the CIFAR-10 training-set mean and standard deviation. ``batches`` prepares them in a background thread
(``prefetch.Prefetcher``) ahead of the training step.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unseen.datasets.prefetch import Prefetcher

RECORD_BYTES = 3073
PIXELS = 3072
SHAPE = (3, 32, 32)
CLASSES = 10
# Per-channel mean and standard deviation of the 50,000 training images, pixel values scaled to [0, 1]. (The often
# copied std (0.2023, 0.1994, 0.2010) is the mean of per-image stds, not the dataset's.)
MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)
PAD = 4
BLOCK_RECORDS = 4096


class CifarFormatError(ValueError):
    """The file is not CIFAR-10 binary; the message names the file and the record."""


@dataclass(frozen=True)
class CifarArrays:
    images: np.ndarray  # uint8 (n, 3, 32, 32); may be a read-only memory map
    labels: np.ndarray  # int64 (n,)

    def __len__(self) -> int:
        return len(self.labels)


def open_batch(path: Path, name: str | None = None) -> np.ndarray:
    """The file as a read-only ``(records, 3073)`` uint8 memory map, after checking its size."""
    name = name or path.name
    size = path.stat().st_size
    if size == 0 or size % RECORD_BYTES:
        whole = size // RECORD_BYTES
        raise CifarFormatError(
            f"{name}: {size} bytes is not a whole number of {RECORD_BYTES}-byte CIFAR-10 records: "
            f"record {whole + 1} is truncated ({size - whole * RECORD_BYTES} of {RECORD_BYTES} bytes)"
            if size
            else f"{name}: the file is empty"
        )
    return np.memmap(path, dtype=np.uint8, mode="r", shape=(size // RECORD_BYTES, RECORD_BYTES))


def check_labels(labels: np.ndarray, name: str, first_record: int) -> None:
    bad = np.flatnonzero(labels > CLASSES - 1)
    if bad.size:
        at = int(bad[0])
        raise CifarFormatError(
            f"{name}: record {first_record + at + 1} has label {int(labels[at])}; CIFAR-10 labels are 0-9 "
            "(is this CIFAR-100 or another format?)"
        )


def iter_blocks(path: Path, block_records: int = BLOCK_RECORDS, name: str | None = None) -> Iterator[CifarArrays]:
    """The file's records, checked, ``block_records`` at a time (memory: one block); errors say ``name``."""
    records = open_batch(path, name)
    for start in range(0, len(records), block_records):
        block = np.asarray(records[start : start + block_records])
        check_labels(block[:, 0], name or path.name, start)
        yield CifarArrays(block[:, 1:].reshape(-1, *SHAPE), block[:, 0].astype(np.int64))


def load(paths: Sequence[Path]) -> CifarArrays:
    """All records of ``paths``, checked, as arrays (CIFAR-10's 50,000 training images take 150 MiB)."""
    images: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for path in paths:
        for block in iter_blocks(path):
            images.append(block.images)
            labels.append(block.labels)
    if not labels:
        raise CifarFormatError("no CIFAR-10 files given")
    return CifarArrays(np.concatenate(images), np.concatenate(labels))


def augment(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random 32x32 crop of the 4-pixel zero-padded image and random horizontal flip, per image, in one gather."""
    n, channels, height, width = images.shape
    padded = np.pad(images, ((0, 0), (0, 0), (PAD, PAD), (PAD, PAD)))
    dy = np.asarray(rng.integers(0, 2 * PAD + 1, size=n))
    dx = np.asarray(rng.integers(0, 2 * PAD + 1, size=n))
    flip = np.asarray(rng.random(n)) < 0.5
    rows = dy[:, None] + np.arange(height)[None, :]
    steps = np.where(flip[:, None], np.arange(width - 1, -1, -1)[None, :], np.arange(width)[None, :])
    cols = dx[:, None] + steps
    out: np.ndarray = padded[
        np.arange(n)[:, None, None, None],
        np.arange(channels)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]
    return out


def normalise(images: np.ndarray) -> np.ndarray:
    """uint8 ``(n, 3, 32, 32)`` to float32, scaled to [0, 1], minus the channel mean, over the channel std."""
    scaled = images.astype(np.float32) * np.float32(1.0 / 255.0)
    out: np.ndarray = (scaled - MEAN[None, :, None, None]) / STD[None, :, None, None]
    return out


def _epoch(
    data: CifarArrays, batch_size: int, train: bool, rng: np.random.Generator, drop_last: bool
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    order = rng.permutation(len(data)) if train else np.arange(len(data))
    stop = len(order) - (len(order) % batch_size if drop_last else 0)
    for start in range(0, stop, batch_size):
        index = order[start : start + batch_size]
        images = np.asarray(data.images[index])
        if train:
            images = augment(images, rng)
        yield normalise(images), np.asarray(data.labels[index], dtype=np.int64)


def batches(
    data: CifarArrays,
    batch_size: int,
    *,
    train: bool = True,
    seed: int = 0,
    drop_last: bool = False,
    prefetch: int = 2,
) -> Prefetcher[tuple[np.ndarray, np.ndarray]]:
    """One epoch of ``(images float32 (b, 3, 32, 32), labels int64 (b,))``, prepared ``prefetch`` batches ahead.

    ``train``: shuffled and augmented (seeded by ``seed``: give each epoch its own seed); otherwise in file order
    and only normalised.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    rng = np.random.default_rng(seed)
    return Prefetcher(lambda: _epoch(data, batch_size, train, rng, drop_last), depth=prefetch)


def write_batch(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write records in the real format (for tests and examples): ``images`` uint8 ``(n, 3, 32, 32)``."""
    if images.shape[1:] != SHAPE or images.dtype != np.uint8 or len(images) != len(labels):
        raise ValueError("images must be uint8 (n, 3, 32, 32) with one label each")
    records = np.empty((len(labels), RECORD_BYTES), dtype=np.uint8)
    records[:, 0] = np.asarray(labels, dtype=np.uint8)
    records[:, 1:] = images.reshape(len(labels), PIXELS)
    path.write_bytes(records.tobytes())


def synthetic(n: int, seed: int = 0, noise: float = 40.0) -> CifarArrays:
    """A learnable CIFAR-shaped set: each class a fixed colour and stripe pattern, shifted and noised per image."""
    rng = np.random.default_rng(seed)
    templates = np.random.default_rng(12345).integers(0, 256, size=(CLASSES, 3, 1, 1)).astype(np.float32)
    y, x = np.mgrid[0:32, 0:32]
    labels = rng.integers(0, CLASSES, size=n)
    angle = labels[:, None, None] * (np.pi / CLASSES)
    shift = rng.integers(0, 8, size=(n, 1, 1))
    stripes = np.sin((np.cos(angle) * x + np.sin(angle) * y + shift) * (2 * np.pi / 8))
    images = templates[labels] * 0.6 + 60.0 * stripes[:, None, :, :] + rng.normal(0, noise, size=(n, 3, 32, 32))
    return CifarArrays(np.clip(images + 50.0, 0, 255).astype(np.uint8), labels.astype(np.int64))


def patterns(n: int, seed: int = 0, noise: float = 60.0) -> CifarArrays:
    """A CIFAR-shaped set a convolutional network learns but no linear model separates well: class ``k`` is
    stripes, horizontal (k < 5) or vertical, of period 4, 6, 9, 13 or 20 pixels, drawn with a random phase and
    random colours over a random background, plus Gaussian noise (std ``noise`` grey levels). The class is carried
    by the stripes' direction and spacing only (both survive the random crop and flip), not by position or colour,
    so averaged pixels tell little."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, size=n)
    period = np.array([4.0, 6.0, 9.0, 13.0, 20.0])[labels % 5][:, None, None]
    y, x = np.mgrid[0:32, 0:32]
    along = np.where((labels < 5)[:, None, None], y[None], x[None])
    phase = rng.random((n, 1, 1)) * 2 * np.pi
    wave = np.sin(along * (2 * np.pi) / period + phase)
    colour = rng.uniform(40, 90, size=(n, 3, 1, 1)) * rng.choice([-1.0, 1.0], size=(n, 3, 1, 1))
    background = rng.uniform(70, 180, size=(n, 3, 1, 1))
    images = background + colour * wave[:, None, :, :] + rng.normal(0, noise, size=(n, 3, 32, 32))
    return CifarArrays(np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64))
