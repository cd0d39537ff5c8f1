"""Tests for unseen.horizontal.fedprox: the proximal term and its gradient, and FedAvg's aggregation."""

from __future__ import annotations

import numpy as np
import pytest

from unseen.horizontal.fedprox import FedProx, proximal_gradient, proximal_loss


def test_proximal_gradient_is_mu_times_the_distance_to_the_global_model() -> None:
    w = {"a": np.array([1.0, 2.0], dtype=np.float32)}
    g = {"a": np.array([0.5, 4.0], dtype=np.float32)}
    grad = proximal_gradient(w, g, mu=0.1)
    np.testing.assert_allclose(grad["a"], [0.05, -0.2], rtol=1e-6)
    assert grad["a"].dtype == np.float32
    assert proximal_loss(w, g, mu=0.1) == pytest.approx(0.5 * 0.1 * (0.25 + 4.0))


def test_proximal_gradient_matches_a_finite_difference_of_the_loss() -> None:
    rng = np.random.default_rng(2)
    w, g = {"a": rng.normal(size=5)}, {"a": rng.normal(size=5)}
    analytic = proximal_gradient(w, g, mu=0.3)["a"]
    eps = 1e-6
    numeric = [
        (proximal_loss({"a": w["a"] + eps * e}, g, 0.3) - proximal_loss({"a": w["a"] - eps * e}, g, 0.3)) / (2 * eps)
        for e in np.eye(5)
    ]
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6)


def test_fedprox_tells_workers_mu_and_aggregates_as_fedavg() -> None:
    strategy = FedProx(local_epochs=2, batch_size=8, proximal_mu=0.25)
    instruction = strategy.instruction(3)
    assert instruction.proximal_mu == 0.25 and instruction.local_epochs == 2 and instruction.task == "fit"
    new = strategy.apply({"w": np.array([1.0])}, {"w": np.array([6.0])}, 3.0)
    assert new["w"][0] == pytest.approx(3.0)
    with pytest.raises(ValueError):
        FedProx(proximal_mu=-1.0)
