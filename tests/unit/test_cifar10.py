"""CIFAR-10 binary batches: the real record layout, refusals that name file and record, augmentation, batches."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from unseen.datasets import cifar10


@pytest.fixture
def batch_file(tmp_path: Path) -> tuple[Path, cifar10.CifarArrays]:
    data = cifar10.synthetic(50, seed=3)
    path = tmp_path / "data_batch_1.bin"
    cifar10.write_batch(path, data.images, data.labels)
    return path, data


def test_records_are_label_then_channel_major_pixels(batch_file: tuple[Path, cifar10.CifarArrays]) -> None:
    path, data = batch_file
    raw = path.read_bytes()
    assert len(raw) == 50 * 3073
    assert raw[0] == data.labels[0] and raw[3073] == data.labels[1]
    assert raw[1 : 1 + 1024] == data.images[0, 0].tobytes()  # red plane first, row-major
    assert raw[1 + 2048 : 3073] == data.images[0, 2].tobytes()
    loaded = cifar10.load([path, path])
    assert len(loaded) == 100 and np.array_equal(loaded.images[50:], data.images)
    blocks = list(cifar10.iter_blocks(path, block_records=16))
    assert [len(b) for b in blocks] == [16, 16, 16, 2]
    assert np.array_equal(np.concatenate([b.labels for b in blocks]), data.labels)


def test_a_truncated_file_names_the_record(batch_file: tuple[Path, cifar10.CifarArrays], tmp_path: Path) -> None:
    path, _ = batch_file
    cut = tmp_path / "cut.bin"
    cut.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(cifar10.CifarFormatError, match=r"cut\.bin: .* record 50 is truncated \(2973 of 3073 bytes\)"):
        cifar10.load([cut])
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(cifar10.CifarFormatError, match=re.escape("empty.bin: the file is empty")):
        cifar10.open_batch(tmp_path / "empty.bin")


def test_a_label_over_9_names_the_record(batch_file: tuple[Path, cifar10.CifarArrays], tmp_path: Path) -> None:
    path, _ = batch_file
    raw = bytearray(path.read_bytes())
    raw[37 * 3073] = 42  # the label byte of record 38
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes(raw))
    with pytest.raises(cifar10.CifarFormatError, match=re.escape("bad.bin: record 38 has label 42")):
        list(cifar10.iter_blocks(bad, block_records=16))


def test_augment_crops_within_the_padding_and_flips() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, size=(64, 3, 32, 32), dtype=np.uint8)  # no zero pixel: zeros come from padding
    out = cifar10.augment(images, np.random.default_rng(5))
    assert out.shape == images.shape and out.dtype == np.uint8
    assert not np.array_equal(out, images)
    again = cifar10.augment(images, np.random.default_rng(5))
    assert np.array_equal(out, again)  # seeded
    padded = np.pad(images, ((0, 0), (0, 0), (4, 4), (4, 4)))
    for i in range(len(images)):  # each output is some crop of the padded image, possibly mirrored
        found = any(
            np.array_equal(out[i], candidate[:, dy : dy + 32, dx : dx + 32])
            for candidate in (padded[i], padded[i][:, :, ::-1])
            for dy in range(9)
            for dx in range(9)
        )
        assert found
    flipped = sum(np.array_equal(out[i], images[i][:, :, ::-1]) for i in range(len(images)))
    kept = sum(np.array_equal(out[i], images[i]) for i in range(len(images)))
    assert flipped + kept < len(images)  # most crops move the image


def test_normalise_uses_the_channel_mean_and_std() -> None:
    images = np.zeros((1, 3, 32, 32), dtype=np.uint8)
    images[:, 1] = 255
    out = cifar10.normalise(images)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, :, 0, 0], [-0.4914 / 0.2470, (1 - 0.4822) / 0.2435, -0.4465 / 0.2616], rtol=1e-5)


def test_batches_cover_the_epoch_once(batch_file: tuple[Path, cifar10.CifarArrays]) -> None:
    _, data = batch_file
    with cifar10.batches(data, 16, seed=1) as train:
        seen = [(x, y) for x, y in train]
    assert [len(y) for _, y in seen] == [16, 16, 16, 2]
    assert seen[0][0].shape == (16, 3, 32, 32) and seen[0][0].dtype == np.float32
    assert sorted(np.concatenate([y for _, y in seen]).tolist()) == sorted(data.labels.tolist())
    evaluation = list(cifar10.batches(data, 16, train=False, drop_last=True))
    assert len(evaluation) == 3
    np.testing.assert_array_equal(evaluation[0][1], data.labels[:16])
    np.testing.assert_allclose(evaluation[0][0], cifar10.normalise(data.images[:16]))


def test_the_synthetic_set_is_learnable() -> None:
    """Class-dependent patterns: a linear model on 8x8-pooled pixels separates the classes well (chance is 10%)."""
    from sklearn.linear_model import LogisticRegression

    train, test = cifar10.synthetic(1500, seed=1), cifar10.synthetic(500, seed=2)

    def pooled(images: np.ndarray) -> np.ndarray:
        blocks: np.ndarray = cifar10.normalise(images).reshape(len(images), 3, 8, 4, 8, 4).mean(axis=(3, 5))
        return blocks.reshape(len(images), -1)

    model = LogisticRegression(max_iter=300).fit(pooled(train.images), train.labels)
    assert model.score(pooled(test.images), test.labels) > 0.6
