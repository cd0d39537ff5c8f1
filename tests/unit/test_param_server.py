"""Tests for unseen.horizontal.param_server: the aggregator's optimizer steps equal a reference computed here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unseen.horizontal.param_server import SGD, Adam, ParameterServer


def _grads(steps: int) -> list[list[float]]:
    rng = np.random.default_rng(3)
    return [list(rng.normal(size=3)) for _ in range(steps)]


def test_sgd_with_momentum_and_nesterov_follows_the_torch_recurrence() -> None:
    lr, mom, wd = 0.1, 0.9, 0.01
    server = ParameterServer(SGD(lr=lr, momentum=mom, weight_decay=wd, nesterov=True))
    weights = {"w": np.array([1.0, -2.0, 0.5])}
    ref_w, ref_b = [1.0, -2.0, 0.5], [0.0, 0.0, 0.0]
    for step, g in enumerate(_grads(4)):
        n = [2, 3]  # two workers with the same gradient: the weighted mean is that gradient
        total = {"w": np.array(g) * sum(n)}
        weights = server.apply(weights, total, float(sum(n)))
        for i in range(3):
            gi = g[i] + wd * ref_w[i]
            ref_b[i] = gi if step == 0 else mom * ref_b[i] + gi
            ref_w[i] -= lr * (gi + mom * ref_b[i])
        np.testing.assert_allclose(weights["w"], ref_w, rtol=0, atol=1e-12)


def test_adam_matches_the_bias_corrected_reference() -> None:
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    server = ParameterServer(Adam(lr=lr))
    weights = {"w": np.array([0.3, 0.1, -0.7], dtype=np.float64)}
    ref_w, m, v = [0.3, 0.1, -0.7], [0.0] * 3, [0.0] * 3
    for t, g in enumerate(_grads(5), start=1):
        weights = server.apply(weights, {"w": np.array(g) * 4.0}, 4.0)
        for i in range(3):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
            ref_w[i] -= lr * (m[i] / (1 - b1**t)) / (math.sqrt(v[i] / (1 - b2**t)) + eps)
        np.testing.assert_allclose(weights["w"], ref_w, rtol=0, atol=1e-12)


def test_the_sample_weighted_mean_gradient_is_applied() -> None:
    server = ParameterServer(SGD(lr=1.0))
    # worker A: gradient 1 on 10 rows, worker B: gradient 4 on 30 rows -> mean (10 + 120) / 40 = 3.25
    new = server.apply({"w": np.array([0.0])}, {"w": np.array([10 * 1.0 + 30 * 4.0])}, 40.0)
    assert new["w"][0] == pytest.approx(-3.25)


def test_optimizer_state_survives_a_checkpoint_and_continues_identically() -> None:
    grads = _grads(4)
    full = ParameterServer(Adam(lr=0.05))
    w_full = {"w": np.zeros(3)}
    for g in grads:
        w_full = full.apply(w_full, {"w": np.array(g)}, 1.0)
    first = ParameterServer(Adam(lr=0.05))
    w = {"w": np.zeros(3)}
    for g in grads[:2]:
        w = first.apply(w, {"w": np.array(g)}, 1.0)
    resumed = ParameterServer(Adam(lr=0.05))
    resumed.load_state(first.state())
    for g in grads[2:]:
        w = resumed.apply(w, {"w": np.array(g)}, 1.0)
    np.testing.assert_array_equal(w["w"], w_full["w"])


def test_instruction_asks_for_gradients_over_k_batches() -> None:
    instruction = ParameterServer(SGD(), steps=5, batch_size=64).instruction(7)
    assert (instruction.task, instruction.steps, instruction.batch_size, instruction.server_round) == (
        "gradient",
        5,
        64,
        7,
    )
