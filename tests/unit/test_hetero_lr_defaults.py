"""Hetero LR at its defaults on data nobody tuned for, its optimizers, and how it reports convergence.

Every training goes through ``run_parties`` (guest, host, arbiter in threads, every message through the real
codec) with 1024-bit keys, the smallest the crypto layer accepts. The reference is scikit-learn's
``LogisticRegression()`` at its defaults (C = 1, which is the default ``alpha = 1/n``) on the joined data.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from unseen.components import hetero_lr as component
from unseen.runtime.context import Context
from unseen.runtime.local import LocalFederation, LocalHub, run_parties
from unseen.runtime.metrics import MemoryMetricSink, Metrics
from unseen.runtime.parties import PartyRef, Role
from unseen.vertical.hetero_lr import Convergence, HeteroLRConfig, TrainingSummary
from unseen.vertical.hetero_lr_arbiter import ArbiterFit, fit_arbiter
from unseen.vertical.hetero_lr_guest import GuestFit, fit_guest, predict_guest, signed_labels
from unseen.vertical.hetero_lr_host import HostFit, fit_host, predict_host
from unseen.vertical.hetero_lr_optim import OPTIMIZERS, Optimizer, OptimizerName, block_newton_preconditioner

FloatArray = npt.NDArray[np.float64]
KEY_BITS = 1024
GUEST, HOST, ARBITER = PartyRef(Role.GUEST, 9999), PartyRef(Role.HOST, 10000), PartyRef(Role.ARBITER, 10001)
AUC_MARGIN = 0.005


def train(x_guest: FloatArray, x_host: FloatArray, y: npt.ArrayLike, config: HeteroLRConfig) -> tuple[Any, ...]:
    """(guest fit, scores, host fit, arbiter fit), every party through ``run_parties``."""

    def guest(ctx: Context) -> tuple[GuestFit, FloatArray]:
        fit = fit_guest(ctx.sub("train"), x_guest, y, config)
        return fit, predict_guest(ctx.sub("predict"), x_guest, fit.coef, fit.intercept)

    def host(ctx: Context) -> HostFit:
        fit = fit_host(ctx.sub("train"), x_host, config)
        predict_host(ctx.sub("predict"), x_host, fit.coef)
        return fit

    def arbiter(ctx: Context) -> ArbiterFit:
        return fit_arbiter(ctx.sub("train"), config)

    programs: dict[PartyRef, Callable[[Context], Any]] = {GUEST: guest, HOST: host, ARBITER: arbiter}
    run = run_parties(programs, recv_timeout=120.0)
    fit, scores = run.results[GUEST]
    return fit, scores, run.results[HOST], run.results[ARBITER]


# --- the datasets: scikit-learn's own, split vertically ---------------------------------------------------------


def _standardised(x: FloatArray) -> FloatArray:
    return cast(FloatArray, StandardScaler().fit_transform(x))


def breast() -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    x, y = load_breast_cancer(return_X_y=True)
    x = _standardised(x)
    return x[:, :10], x[:, 10:], y


def wine() -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    x, y = load_wine(return_X_y=True)  # class 1 against the others: the one not separable by a single column
    x = _standardised(x)
    return x[:, :6], x[:, 6:], (y == 1).astype(np.int64)


def digits() -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    x, y = load_digits(return_X_y=True)
    rows = np.random.default_rng(0).choice(len(y), 600, replace=False)  # 600 of 1,797 rows keep the test short
    x = _standardised(x[rows])
    return x[:, :32], x[:, 32:], (y[rows] < 5).astype(np.int64)


def overlapping_ids() -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """make_classification, string ids, each party holding rows the other lacks: train on the intersection.

    The parties' tables are built apart, shuffled differently, then aligned by id as ``psi`` aligns them
    (the sorted shared ids), so the rows and their order at each party come from the ids alone.
    """
    x, y = make_classification(
        n_samples=900, n_features=16, n_informative=8, n_redundant=3, flip_y=0.05, class_sep=0.8, random_state=4
    )
    rng = np.random.default_rng(4)
    ids = np.array([f"cust-{rng.integers(1 << 40):011x}" for _ in range(len(y))])
    guest_rows = rng.permutation(len(y))[:700]
    host_rows = rng.permutation(len(y))[:650]
    guest = {ids[i]: (x[i, :8], y[i]) for i in guest_rows}
    host = {ids[i]: x[i, 8:] for i in host_rows}
    shared = sorted(set(guest) & set(host))
    assert 400 < len(shared) < 650
    x_guest = np.array([guest[i][0] for i in shared])
    x_host = np.array([host[i] for i in shared])
    labels = np.array([guest[i][1] for i in shared], dtype=np.int64)
    joined = _standardised(np.column_stack([x_guest, x_host]))
    return joined[:, :8], joined[:, 8:], labels


DATASETS: dict[str, Callable[[], tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]]] = {
    "breast": breast,
    "wine_class_1": wine,
    "digits_below_5": digits,
    "string_ids_partial_overlap": overlapping_ids,
}


@pytest.mark.parametrize("name", list(DATASETS))
def test_the_defaults_reach_scikit_learns_auc(name: str) -> None:
    x_guest, x_host, y = DATASETS[name]()
    joined = np.column_stack([x_guest, x_host])
    reference = roc_auc_score(y, LogisticRegression(max_iter=10_000).fit(joined, y).decision_function(joined))
    config = HeteroLRConfig(key_bits=KEY_BITS)  # nothing else: the defaults
    fit, scores, host, arbiter = train(x_guest, x_host, y, config)
    auc = roc_auc_score(y, scores)
    assert auc >= reference - AUC_MARGIN, (name, auc, reference, fit.summary.n_iter)
    assert fit.summary.converged and config.min_iter <= fit.summary.n_iter < config.max_iter
    assert host.summary.n_iter == arbiter.summary.n_iter == fit.summary.n_iter


# --- optimizers ----------------------------------------------------------------------------------------------------


def test_every_optimizer_minimises_a_quadratic() -> None:
    """On f(w) = |A w - b|^2 / 2n, each optimizer gets within 1e-3 of the least-squares solution."""
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(200, 5)), rng.normal(size=200)
    best = np.linalg.lstsq(a, b, rcond=None)[0]
    rates: dict[OptimizerName, float] = {
        "sgd": 0.5,
        "nesterov_momentum_sgd": 0.1,
        "rmsprop": 0.01,
        "adagrad": 0.5,
        "adam": 0.05,
        "block_newton": 0.5,  # the identity preconditioner here: heavy ball
    }
    for name in OPTIMIZERS:
        optimizer, w = Optimizer(name, 5), np.zeros(5)
        for step in range(3000):
            rate = rates[name] / (1 + step / 100) if name == "rmsprop" else rates[name]  # it needs a decay to settle
            w = optimizer.step(w, a.T @ (a @ w - b) / len(b), rate)
        np.testing.assert_allclose(w, best, atol=1e-3, err_msg=name)


def test_nesterov_is_the_look_ahead_method() -> None:
    """The folded form equals Sutskever's v = mu v - lr grad(theta + mu v), theta += v, at theta + mu v."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4, 4))
    hessian, b = a @ a.T + np.eye(4), rng.normal(size=4)

    def gradient(w: FloatArray) -> FloatArray:
        return hessian @ w - b

    theta, velocity = np.zeros(4), np.zeros(4)
    optimizer, folded = Optimizer("nesterov_momentum_sgd", 4), np.zeros(4)
    for _ in range(20):
        velocity = 0.9 * velocity - 0.05 * gradient(theta + 0.9 * velocity)
        theta = theta + velocity
        folded = optimizer.step(folded, gradient(folded), 0.05)
        np.testing.assert_allclose(folded, theta + 0.9 * velocity, rtol=1e-9, atol=1e-12)


def test_adam_first_step_is_the_rate_along_the_gradients_sign() -> None:
    w = Optimizer("adam", 3).step(np.zeros(3), np.array([2.0, -0.001, 5.0]), 0.1)
    np.testing.assert_allclose(w, [-0.1, 0.1, -0.1], rtol=1e-5)


@pytest.mark.parametrize("name", [name for name in OPTIMIZERS if name != "block_newton"])
def test_each_party_steps_its_own_weights_with_its_own_optimizer(name: OptimizerName) -> None:
    """Federated training equals the same optimizer run in the clear on the joined weights (all of them act
    coordinate by coordinate, so one state per party is one state for the whole vector)."""
    x_guest, x_host, y = wine()
    config = HeteroLRConfig(optimizer=name, learning_rate=0.05, max_iter=8, tol=0.0, key_bits=KEY_BITS)
    fit, _, host, _ = train(x_guest, x_host, y, config)
    rows = len(y)
    augmented = np.column_stack([x_guest, x_host, np.ones(rows)])
    labels, penalised = signed_labels(y), np.r_[np.ones(augmented.shape[1] - 1), 0.0]
    optimizer, w = Optimizer(name, augmented.shape[1]), np.zeros(augmented.shape[1])
    for _ in range(config.max_iter):
        d = 0.25 * augmented @ w - 0.5 * labels
        w = optimizer.step(w, augmented.T @ d / rows + penalised * w / rows, config.base_rate)
    federated = np.r_[fit.coef, host.coef, fit.intercept]
    np.testing.assert_allclose(federated, np.r_[w[:6], w[6:-1], w[-1]], atol=1e-4)


def test_block_newton_steps_each_party_by_its_own_hessian_block() -> None:
    """Federated ``block_newton`` equals, in the clear, heavy ball preconditioned by each party's own block of the
    Taylor loss's Hessian (guest: its columns and the intercept; host: its columns), never a cross-party block."""
    x_guest, x_host, y = wine()
    config = HeteroLRConfig(max_iter=8, tol=0.0, key_bits=KEY_BITS)
    assert config.optimizer == "block_newton" and config.base_rate == 0.7
    fit, _, host, _ = train(x_guest, x_host, y, config)
    rows, alpha = len(y), 1.0 / len(y)
    guest_block = np.column_stack([x_guest, np.ones(rows)])
    guest_penalty = np.r_[np.ones(x_guest.shape[1]), 0.0]
    guest_opt = Optimizer(
        "block_newton", guest_block.shape[1], block_newton_preconditioner(guest_block, rows, alpha, guest_penalty, 2)
    )
    host_penalty = np.ones(x_host.shape[1])
    host_opt = Optimizer(
        "block_newton", x_host.shape[1], block_newton_preconditioner(x_host, rows, alpha, host_penalty, 2)
    )
    labels, w_g, w_h = signed_labels(y), np.zeros(guest_block.shape[1]), np.zeros(x_host.shape[1])
    for _ in range(config.max_iter):
        d = 0.25 * (guest_block @ w_g + x_host @ w_h) - 0.5 * labels
        gradient_g = guest_block.T @ d / rows + alpha * guest_penalty * w_g
        gradient_h = x_host.T @ d / rows + alpha * w_h
        w_g, w_h = guest_opt.step(w_g, gradient_g, 0.7), host_opt.step(w_h, gradient_h, 0.7)
    np.testing.assert_allclose(np.r_[fit.coef, fit.intercept], w_g, atol=1e-4)
    np.testing.assert_allclose(host.coef, w_h, atol=1e-4)


def test_block_newton_preconditioner_is_the_scaled_inverse_of_the_partys_own_block() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(50, 3))
    penalty = np.array([1.0, 1.0, 0.0])
    block = x.T @ x / 200 + 0.1 * np.diag(penalty)
    np.testing.assert_allclose(
        block_newton_preconditioner(x, 50, 0.1, penalty, 3) @ block, np.eye(3) * 2 / 3, atol=1e-9
    )
    singular = np.column_stack([x[:, 0], np.zeros(50)])  # a constant-zero column and no L2: the pseudo-inverse
    assert np.all(np.isfinite(block_newton_preconditioner(singular, 50, 0.0, np.ones(2), 2)))
    with pytest.raises(ValueError):
        block_newton_preconditioner(x, 50, 0.1, penalty, 1)


# --- convergence: the rule and its report ------------------------------------------------------------------------


def test_the_stopping_rule_needs_calm_epochs_in_a_row_and_min_iter() -> None:
    rule = Convergence(tol=1e-3, min_iter=4, patience=2)
    assert [rule.update(c) for c in (math.inf, 1e-4, 1e-2, 1e-4, 1e-4, 1e-4)] == [
        False,
        False,
        False,
        False,
        True,  # two calm epochs in a row and five epochs run
        True,
    ]
    early = Convergence(tol=1e-3, min_iter=5, patience=1)
    assert [early.update(c) for c in (math.inf, 1e-5, 1e-5, 1e-5, 1e-5)] == [False, False, False, False, True]
    never = Convergence(tol=0.0, min_iter=1, patience=1)
    assert not any(never.update(0.0) for _ in range(5))


def _guest_context(sink: MemoryMetricSink) -> Context:
    return Context(
        job_id="local",
        component="hetero_lr_0",
        me=GUEST,
        parties={Role.GUEST: [GUEST.party_id]},
        federation=LocalFederation(LocalHub(), GUEST),
        metrics=Metrics(sink),
        logger=logging.getLogger("test.hetero_lr"),
    )


def test_a_model_that_did_not_converge_says_so(caplog: pytest.LogCaptureFixture) -> None:
    sink = MemoryMetricSink()
    summary = TrainingSummary(n_iter=30, converged=False, loss_history=[0.69, 0.5, 0.4, 0.3, 0.2995])
    with caplog.at_level(logging.WARNING, logger="test.hetero_lr"):
        component.report_convergence(_guest_context(sink), summary, HeteroLRConfig(tol=1e-4))
    logged = {p.name: p.value for p in sink.points}
    assert logged == {
        "converged": 0.0,
        "epochs_run": 30.0,
        "loss_change": pytest.approx(0.0005 / 0.2995),
        "tol": 1e-4,
    }
    assert "did not converge in 30 epochs" in caplog.text and "raise max_iter" in caplog.text


def test_a_converged_model_says_so_too() -> None:
    sink = MemoryMetricSink()
    summary = TrainingSummary(n_iter=57, converged=True, loss_history=[0.69, 0.3, 0.29999])
    component.report_convergence(_guest_context(sink), summary, HeteroLRConfig(early_stop="weight_diff"))
    assert {p.name: p.value for p in sink.points} == {"converged": 1.0, "epochs_run": 57.0}
