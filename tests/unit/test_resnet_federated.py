"""Federated ResNet-20 reaches the accuracy of the same model trained centrally, on a learnable CIFAR-format set.

The images are ``cifar10.patterns``: stripes whose direction and spacing are the class, with random colour, phase
and heavy noise (a linear model on the pixels scores about 0.3 here), stored as a CIFAR-10 binary batch and read
through the upload's table and the job's data source (without augmentation: a few epochs of it would blur a
budget this small). Two workers hold an IID half
each; FedAvg with one local epoch per round runs for as many rounds as the central model trains epochs, from the
same initial weights, through the in-memory federation (every message through the real codec). Goal: the
federated top-1 accuracy on held-out images within 3 points of the central one. Kept small (ResNet-20 itself,
few images and epochs) so it runs in well under a minute of CPU; torch uses one thread, as a worker sharing a
machine should.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from unseen.datasets import cifar10, record_tables
from unseen.datasets.sources import CifarData
from unseen.horizontal.aggregator import AggregatorResult, FederatedConfig, run_aggregator
from unseen.horizontal.fedavg import FedAvg
from unseen.horizontal.strategy import Instruction
from unseen.horizontal.worker import WorkerResult, run_worker
from unseen.runtime.context import Context
from unseen.runtime.local import run_parties
from unseen.runtime.parties import PartyRef, Role

torch = pytest.importorskip("torch")

TRAIN, TEST, EPOCHS, BATCH, LR, NOISE = 256, 160, 6, 16, 0.05, 15.0
ARBITER, WORKERS = PartyRef(Role.ARBITER, 1), [PartyRef(Role.GUEST, 2), PartyRef(Role.HOST, 3)]


@pytest.fixture
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _stored(tmp_path: Path, name: str, n: int, seed: int) -> CifarData:
    made = cifar10.patterns(n, seed=seed, noise=NOISE)
    cifar10.write_batch(tmp_path / f"{name}.bin", made.images, made.labels)
    record_tables.write_cifar_table(tmp_path / f"{name}.bin", tmp_path / f"{name}.parquet", f"{name}.bin")
    return CifarData.from_table(tmp_path / f"{name}.parquet").take(np.arange(n), augment=False)


def test_federated_resnet20_is_within_three_points_of_central(tmp_path: Path, one_thread: None) -> None:
    from unseen.horizontal import torch as adapter
    from unseen.models.config import resnet_by_name
    from unseen.models.torch_resnet import build_resnet

    train, test = _stored(tmp_path, "train", TRAIN, 1), _stored(tmp_path, "test", TEST, 2)
    torch.manual_seed(0)
    initial = {n: a.copy() for n, a in adapter.get_weights(build_resnet(resnet_by_name("resnet20"))).items()}

    def trainer(data: CifarData, seed: int) -> adapter.TorchTrainer:
        model = build_resnet(resnet_by_name("resnet20"))
        return adapter.TorchTrainer(model, data, x_val=test, lr=LR, momentum=0.9, seed=seed)

    central = trainer(train, 0)
    fitted = central.fit(initial, Instruction("fit", 0, local_epochs=EPOCHS, batch_size=BATCH)).weights
    central_accuracy = central.evaluate(fitted).accuracy

    halves = np.array_split(np.random.default_rng(0).permutation(TRAIN), len(WORKERS))

    def aggregator(ctx: Context) -> AggregatorResult:
        return run_aggregator(ctx, FedAvg(1, BATCH), initial, FederatedConfig(rounds=EPOCHS, eval_every=EPOCHS))

    def worker(k: int) -> Callable[[Context], WorkerResult]:
        local = trainer(train.take(halves[k]), k + 1)
        return lambda ctx: run_worker(ctx, local)

    programs: dict[PartyRef, Callable[[Context], AggregatorResult | WorkerResult]] = {ARBITER: aggregator}
    programs |= {w: worker(k) for k, w in enumerate(WORKERS)}
    result = run_parties(programs, recv_timeout=300).results[ARBITER]
    assert isinstance(result, AggregatorResult) and len(result.history) == EPOCHS
    federated_accuracy = central.evaluate(result.weights).accuracy
    print(f"central {central_accuracy:.4f}, federated {federated_accuracy:.4f}")
    assert central_accuracy > 0.5, f"central ResNet-20 learned too little to compare: {central_accuracy:.4f}"
    assert federated_accuracy >= central_accuracy - 0.03, f"FedAvg {federated_accuracy:.4f} vs {central_accuracy:.4f}"
