"""Tests for unseen.horizontal.reference, and the end-to-end check: FedAvg over 3 workers on scikit-learn's
digits (IID and label-skewed splits) reaches the test accuracy of the same MLP trained centrally for the
same number of epochs, to within 2 points."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from unseen.horizontal.aggregator import AggregatorResult, FederatedConfig, run_aggregator
from unseen.horizontal.fedavg import FedAvg
from unseen.horizontal.reference import MLPTrainer, accuracy, init_mlp, loss_and_gradient, train_centrally
from unseen.horizontal.strategy import Instruction
from unseen.horizontal.worker import WorkerResult, run_worker
from unseen.runtime.context import Context
from unseen.runtime.local import run_parties
from unseen.runtime.parties import PartyRef, Role

EPOCHS = 40
BATCH = 32
LR = 0.1


def test_the_mlp_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    weights = {n: t.astype(np.float64) for n, t in init_mlp(5, 3, hidden=4, seed=1).items()}
    weights["hidden.bias"] = rng.normal(size=4)  # away from the ReLU kink
    x, y = rng.normal(size=(7, 5)), rng.integers(0, 3, size=7)
    _, grads = loss_and_gradient(weights, x, y)
    eps = 1e-6
    for name, tensor in weights.items():
        for index in np.ndindex(tensor.shape):
            plus = {n: t.copy() for n, t in weights.items()}
            minus = {n: t.copy() for n, t in weights.items()}
            plus[name][index] += eps
            minus[name][index] -= eps
            numeric = (loss_and_gradient(plus, x, y)[0] - loss_and_gradient(minus, x, y)[0]) / (2 * eps)
            assert grads[name][index] == pytest.approx(numeric, abs=1e-4)


def test_the_gradient_task_averages_over_the_batches_it_used() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 5)).astype(np.float32), rng.integers(0, 3, size=40)
    weights = init_mlp(5, 3, hidden=0)
    result = MLPTrainer(x, y).gradient(weights, Instruction("gradient", 0, batch_size=40, steps=1))
    _, full = loss_and_gradient(weights, x, y)
    assert result.num_samples == 40
    np.testing.assert_allclose(result.gradient["out.weight"], full["out.weight"], rtol=1e-5, atol=1e-7)


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    return x_train, x_test, y_train, y_test


def _split(y: np.ndarray, skewed: bool) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    if not skewed:
        return [np.sort(p) for p in np.array_split(rng.permutation(len(y)), 3)]
    parts: list[list[int]] = [[], [], []]
    for label in range(10):  # label skew: each class spread over the workers in Dirichlet(0.5) proportions
        rows = rng.permutation(np.flatnonzero(y == label))
        cuts = (np.cumsum(rng.dirichlet([0.5] * 3))[:-1] * len(rows)).astype(int)
        for k, chunk in enumerate(np.split(rows, cuts)):
            parts[k] += chunk.tolist()
    return [np.array(sorted(p)) for p in parts]


@pytest.mark.parametrize("skewed", [False, True], ids=["iid", "label-skewed"])
def test_fedavg_on_digits_reaches_central_accuracy_within_two_points(skewed: bool) -> None:
    x_train, x_test, y_train, y_test = _digits()
    initial = init_mlp(64, 10, hidden=32, seed=0)
    central = accuracy(train_centrally(initial, x_train, y_train, EPOCHS, BATCH, LR), x_test, y_test)
    parts = _split(y_train, skewed)
    if skewed:  # the split really is skewed: some worker holds under a third of some class's share
        counts = np.array([np.bincount(y_train[p], minlength=10) for p in parts])
        assert (counts / counts.sum(axis=0)).min() < 0.1
    arbiter = PartyRef(Role.ARBITER, 1)
    workers = [PartyRef(Role.GUEST, 2), PartyRef(Role.HOST, 3), PartyRef(Role.HOST, 4)]

    def aggregator(ctx: Context) -> AggregatorResult:
        strategy = FedAvg(local_epochs=1, batch_size=BATCH)
        return run_aggregator(ctx, strategy, initial, FederatedConfig(rounds=EPOCHS, eval_every=10))

    def worker(k: int) -> Callable[[Context], WorkerResult]:
        trainer = MLPTrainer(x_train[parts[k]], y_train[parts[k]], lr=LR, seed=k)
        return lambda ctx: run_worker(ctx, trainer)

    programs: dict[PartyRef, Callable[[Context], AggregatorResult | WorkerResult]] = {arbiter: aggregator}
    programs |= {w: worker(k) for k, w in enumerate(workers)}
    result = run_parties(programs, recv_timeout=60).results[arbiter]
    assert isinstance(result, AggregatorResult) and len(result.history) == EPOCHS
    federated = accuracy(result.weights, x_test, y_test)
    assert central > 0.9
    assert federated >= central - 0.02, f"FedAvg {federated:.4f} vs central {central:.4f}"
