"""The trainers' data sources: rows in memory, CIFAR-10 tables augmented per batch, Criteo tables streamed.

Files are generated in the real formats and stored as the upload stores them (``record_tables``). Checked: a
training epoch and ``ordered`` each yield every row exactly once; CIFAR augmentation changes images (each is a
crop/flip of its original) but never a label; the Criteo source holds at most its shuffle buffer plus one row
group, never the table; holdout parts are disjoint and cover the table; homo_nn refuses a table the model does
not read with a message naming both formats; sample DP refuses a streaming source.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from unseen.components import homo_nn
from unseen.datasets import cifar10, criteo, record_tables
from unseen.datasets.sources import CifarData, CriteoData
from unseen.horizontal.data import ArrayData, loss_and_correct


def _cifar(n: int = 40) -> CifarData:
    data = cifar10.patterns(n, seed=3)
    return CifarData(data.images, data.labels)


def _criteo_table(tmp_path: Path, lines: int, row_group: int) -> Path:
    labels, dense, sparse = criteo.synthetic(lines, seed=5)
    criteo.write_tsv(tmp_path / "day.tsv", labels, dense, sparse)
    stored = tmp_path / "stored.parquet"
    record_tables.write_criteo_table(tmp_path / "day.tsv", stored, "day.tsv", 1000)
    small_groups = tmp_path / "criteo.parquet"  # as a large upload is stored: many row groups
    pq.write_table(pq.read_table(stored), small_groups, row_group_size=row_group)
    return small_groups


def test_array_data_epoch_and_ordered_yield_every_row_once() -> None:
    x = np.arange(23, dtype=np.float32)[:, None]
    data = ArrayData((x,), np.arange(23))
    epoch = list(data.epoch(5, np.random.default_rng(0)))
    assert [len(labels) for _, labels in epoch] == [5, 5, 5, 5, 3]
    seen = np.concatenate([labels for _, labels in epoch])
    assert sorted(seen.tolist()) == list(range(23)) and seen.tolist() != list(range(23))
    assert all(np.array_equal(inputs[0][:, 0], labels) for inputs, labels in epoch)  # rows stay whole
    ordered = np.concatenate([labels for _, labels in data.ordered(4)])
    assert ordered.tolist() == list(range(23))


def test_cifar_augmentation_changes_images_but_keeps_labels() -> None:
    data = _cifar()
    order = np.random.default_rng(7).permutation(len(data.label))  # what the epoch draws first
    ((images,), labels) = next(data.epoch(len(data.label), np.random.default_rng(7)))
    assert np.array_equal(labels, data.label[order])
    plain = cifar10.normalise(data.images[order])
    changed = np.mean([not np.array_equal(a, b) for a, b in zip(images, plain, strict=True)])
    assert changed > 0.8  # 1 in 162 crop/flip draws is the identity
    padded = np.pad(data.images[order[0]], ((0, 0), (4, 4), (4, 4)))
    crops = [padded[:, dy : dy + 32, dx : dx + 32] for dy in range(9) for dx in range(9)]
    candidates = [cifar10.normalise(c[None])[0] for crop in crops for c in (crop, crop[:, :, ::-1])]
    assert any(np.array_equal(images[0], c) for c in candidates), "not a crop/flip of its own image"


def test_cifar_ordered_covers_every_row_once_unaugmented() -> None:
    data = _cifar(37)
    batches = list(data.ordered(8))
    images = np.concatenate([inputs[0] for inputs, _ in batches])
    assert np.array_equal(images, cifar10.normalise(data.images))
    assert np.array_equal(np.concatenate([labels for _, labels in batches]), data.labels())


def test_cifar_table_round_trip(tmp_path: Path) -> None:
    made = cifar10.patterns(30, seed=1)
    cifar10.write_batch(tmp_path / "data_batch_1.bin", made.images, made.labels)
    record_tables.write_cifar_table(tmp_path / "data_batch_1.bin", tmp_path / "t.parquet", "data_batch_1.bin")
    assert record_tables.stored_format(tmp_path / "t.parquet") == "cifar10-bin"
    loaded = CifarData.from_table(tmp_path / "t.parquet")
    assert np.array_equal(loaded.images, made.images) and np.array_equal(loaded.label, made.labels)


def test_criteo_source_streams_every_row_once_within_its_buffer(tmp_path: Path) -> None:
    path = _criteo_table(tmp_path, lines=1200, row_group=100)
    source = CriteoData(path, shuffle_buffer=300)
    whole = next(record_tables.iter_criteo_table(path, 1200))
    epoch = list(source.epoch(64, np.random.default_rng(1)))
    dense = np.concatenate([inputs[0] for inputs, _ in epoch])
    sparse = np.concatenate([inputs[1] for inputs, _ in epoch])
    labels = np.concatenate([labels for _, labels in epoch])
    assert len(labels) == source.num_samples == 1200
    assert [len(b) for _, b in epoch[:-1]] == [64] * (len(epoch) - 1)

    def rows(d: np.ndarray, s: np.ndarray, y: np.ndarray) -> list[bytes]:
        return sorted(np.concatenate([d, s.astype(np.float32), y[:, None]], axis=1).tobytes()[i * 160 : (i + 1) * 160]
                      for i in range(len(y)))  # fmt: skip

    assert rows(dense, sparse, labels) == rows(whole.dense, whole.sparse, whole.labels)  # each row exactly once
    assert not np.array_equal(labels, whole.labels)  # shuffled
    assert source.max_held <= 300 + 100 < 1200  # never the table: the buffer plus one row group


def test_criteo_ordered_and_holdout_parts(tmp_path: Path) -> None:
    path = _criteo_table(tmp_path, lines=500, row_group=128)
    whole = next(record_tables.iter_criteo_table(path, 500))
    everything = CriteoData(path)
    ordered = list(everything.ordered(100))
    assert np.array_equal(np.concatenate([i[0] for i, _ in ordered]), whole.dense)
    assert np.array_equal(everything.labels(), whole.labels)
    train, validation = CriteoData(path, "train", 0.2, seed=4), CriteoData(path, "validation", 0.2, seed=4)
    assert train.num_samples + validation.num_samples == 500 and 50 < validation.num_samples < 150
    held = np.concatenate([i[0] for i, _ in validation.ordered(64)])
    kept = np.concatenate([i[0] for i, _ in train.ordered(64)])
    assert len(held) == validation.num_samples and len(kept) == train.num_samples
    assert sorted(map(bytes, np.concatenate([held, kept]))) == sorted(map(bytes, whole.dense))
    assert np.array_equal(CriteoData(path, "validation", 0.2, seed=4).labels(), validation.labels())  # same draw


def test_the_criteo_source_refuses_another_format(tmp_path: Path) -> None:
    made = cifar10.patterns(5)
    cifar10.write_batch(tmp_path / "b.bin", made.images, made.labels)
    record_tables.write_cifar_table(tmp_path / "b.bin", tmp_path / "c.parquet", "b.bin")
    with pytest.raises(ValueError, match="not a criteo-tsv table"):
        CriteoData(tmp_path / "c.parquet")


@pytest.mark.parametrize(
    ("model", "kind", "message"),
    [
        ({"name": "dlrm"}, "cifar10-bin", "model dlrm needs a criteo-tsv table .* is a cifar10-bin table"),
        ({"name": "dlrm"}, None, "model dlrm needs a criteo-tsv table .* is a table of columns"),
        ({"name": "resnet20"}, "criteo-tsv", "criteo-tsv table; it trains model dlrm, not resnet20"),
        ({"name": "mlp", "input_dim": 4}, "cifar10-bin", "cifar10-bin table of 3x32x32 images; it trains resnet"),
    ],
)
def test_homo_nn_names_the_table_format_a_model_needs(model: dict[str, object], kind: str | None, message: str) -> None:
    loss = "binary_cross_entropy" if model["name"] == "dlrm" else "cross_entropy"
    params = homo_nn.HomoNNParams.model_validate({"model": model, "loss": loss})
    with pytest.raises(ValueError, match=message):
        homo_nn._fits_model(params, kind)


def test_dlrm_needs_the_binary_loss_and_predictions_on_held_out_rows_need_a_holdout() -> None:
    with pytest.raises(ValueError, match="loss: binary_cross_entropy"):
        homo_nn.HomoNNParams.model_validate({"model": {"name": "dlrm"}})
    with pytest.raises(ValueError, match="validation_fraction > 0"):
        homo_nn.HomoNNParams.model_validate(
            {"model": {"name": "mlp", "input_dim": 2}, "data": {"predictions": "validation"}}
        )


def test_sample_dp_refuses_a_source_that_augments_or_streams() -> None:
    torch_adapter = pytest.importorskip("unseen.horizontal.torch")
    from unseen.models.config import resnet_by_name
    from unseen.models.torch_resnet import build_resnet

    with pytest.raises(ValueError, match="needs the worker's rows in memory"):
        torch_adapter.TorchTrainer(build_resnet(resnet_by_name("resnet20")), _cifar(), dp=torch_adapter.SampleDP(1.0))


def test_losses_in_numpy_match_their_definitions() -> None:
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 3.0]])
    total, correct = loss_and_correct(logits, np.array([0, 1]), "cross_entropy")
    expected = -np.log(np.exp(2) / np.exp(logits[0]).sum()) - np.log(1 / np.exp(logits[1]).sum())
    assert total == pytest.approx(expected) and correct == 1
    total, correct = loss_and_correct(np.array([800.0, -3.0]), np.array([1.0, 1.0]), "binary_cross_entropy")
    assert total == pytest.approx(np.log1p(np.exp(3.0))) and correct == 1  # no overflow at 800


def test_parameter_server_workers_re_estimate_batch_norm_statistics_from_their_rows() -> None:
    """The server steps parameters only, so the global running statistics stay at 0/1; a worker that trained by
    gradients re-estimates them from its own batches before it evaluates (else eval-mode outputs are garbage)."""
    torch_adapter = pytest.importorskip("unseen.horizontal.torch")
    from unseen.horizontal.strategy import Instruction
    from unseen.models.config import resnet_by_name
    from unseen.models.torch_resnet import build_resnet

    module = build_resnet(resnet_by_name("resnet20"))
    trainer = torch_adapter.TorchTrainer(module, _cifar(32), seed=0)
    weights = {n: a.copy() for n, a in torch_adapter.get_weights(module).items()}
    trainer.evaluate(weights)
    assert np.all(torch_adapter.get_weights(module)["bn.running_mean"] == 0)  # FedAvg averages them: untouched
    trainer.gradient(weights, Instruction("gradient", 0, batch_size=16, steps=1))
    trainer.evaluate(weights)
    calibrated = torch_adapter.get_weights(module)["bn.running_mean"]
    assert np.all(np.isfinite(calibrated)) and np.abs(calibrated).max() > 0.01
    assert np.all(weights["bn.running_mean"] == 0)  # the global weights themselves are not changed
