"""Tests for unseen.horizontal.fedavg: the sample-weighted mean, exactly, from summed weighted changes."""

from __future__ import annotations

import numpy as np
import pytest

from unseen.horizontal.fedavg import FedAvg, weighted_average
from unseen.horizontal.strategy import Instruction
from unseen.horizontal.weights import difference


def test_weighted_average_matches_a_hand_computed_mean() -> None:
    models = [{"w": np.array([1.0, 2.0])}, {"w": np.array([4.0, 8.0])}, {"w": np.array([10.0, 0.0])}]
    counts = [1, 2, 7]
    # (1*1 + 2*4 + 7*10) / 10 = 7.9 ; (1*2 + 2*8 + 7*0) / 10 = 1.8
    np.testing.assert_allclose(weighted_average(models, counts)["w"], np.array([7.9, 1.8]), rtol=0, atol=1e-12)


def test_fedavg_apply_on_summed_changes_equals_the_weighted_mean_of_models() -> None:
    rng = np.random.default_rng(1)
    glob: dict[str, np.ndarray] = {"a": rng.normal(size=(3, 2)), "b": rng.normal(size=4).astype(np.float32)}
    models = [{n: t + rng.normal(size=t.shape).astype(t.dtype) for n, t in glob.items()} for _ in range(3)]
    counts = [50, 30, 20]
    changes = [difference(m, glob) for m in models]
    total = {n: np.sum([c * ch[n] for c, ch in zip(counts, changes, strict=True)], axis=0) for n in glob}
    new = FedAvg().apply(glob, total, float(sum(counts)))
    expected = weighted_average(models, counts)
    np.testing.assert_allclose(new["a"], expected["a"], rtol=0, atol=1e-12)
    assert new["b"].dtype == np.float32
    np.testing.assert_allclose(new["b"], expected["b"], rtol=1e-6)


def test_server_learning_rate_scales_the_mean_change() -> None:
    glob = {"w": np.array([1.0])}
    new = FedAvg(server_lr=0.5).apply(glob, {"w": np.array([30.0])}, 10.0)
    assert new["w"][0] == pytest.approx(1.0 + 0.5 * 3.0)


def test_integer_buffers_stay_integers() -> None:
    glob = {"steps": np.array(10, dtype=np.int64)}
    new = FedAvg().apply(glob, {"steps": np.array(25.0)}, 10.0)  # mean change 2.5 rounds to even, 2
    assert new["steps"].dtype == np.int64 and int(new["steps"]) == 12


def test_a_round_whose_weights_sum_to_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="nothing to average"):
        FedAvg().apply({"w": np.zeros(1)}, {"w": np.zeros(1)}, 0.0)


def test_instruction_roundtrips_and_hostile_instructions_are_refused() -> None:
    instruction = FedAvg(local_epochs=3, batch_size=16).instruction(4)
    assert Instruction.from_json(instruction.to_json()) == instruction
    for bad in [
        {**instruction.to_json(), "local_epochs": 10**9},
        {**instruction.to_json(), "task": "rm -rf"},
        {**instruction.to_json(), "batch_size": True},
        {**instruction.to_json(), "proximal_mu": -1},
        [1, 2],
    ]:
        with pytest.raises(ValueError):
            Instruction.from_json(bad)
