"""Tests for unseen.horizontal.worker: what a worker refuses from an aggregator, and its bounded waits."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.horizontal_helpers import ARBITER, Quadratic, model, workers
from unseen.horizontal.dp import DPConfig
from unseen.horizontal.worker import run_worker
from unseen.runtime.context import Context
from unseen.runtime.local import run_parties
from unseen.values import JsonValue, TensorRecord

WORKER = workers(1)[0]
PLAN: dict[str, JsonValue] = {"start_round": 0, "rounds": 1, "task": "fit", "secure": False, "dp": False}
ORDER: dict[str, JsonValue] = {
    "action": "train",
    "evaluate": True,
    "instruction": {
        "task": "fit",
        "server_round": 0,
        "local_epochs": 1,
        "batch_size": 8,
        "steps": 1,
        "proximal_mu": 0.0,
    },
}


def _against(aggregator_messages: list[tuple[str, object]], dp: DPConfig | None = None) -> None:
    def aggregator(ctx: Context) -> None:
        for tag, value in aggregator_messages:
            namespace, _, name = tag.partition("/")
            ctx.sub(namespace).send(name, value, to=WORKER)  # type: ignore[arg-type]

    def worker(ctx: Context) -> None:
        run_worker(ctx, Quadratic(1.0, 5), dp=dp, wait_s=2.0)

    run_parties({ARBITER: aggregator, WORKER: worker})


def test_a_worker_that_wants_dp_refuses_a_plan_without_it() -> None:
    with pytest.raises(ValueError, match="differential privacy"):
        _against([("setup/plan", PLAN)], dp=DPConfig(noise_multiplier=1.0, clip_norm=1.0))


def test_an_unknown_order_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown order"):
        _against([("setup/plan", PLAN), ("round-0/order", {"action": "exec"})])


def test_weights_that_are_not_a_record_or_not_finite_are_refused() -> None:
    with pytest.raises(ValueError, match="tensor record"):
        _against([("setup/plan", PLAN), ("round-0/order", ORDER), ("round-0/weights", [1, 2])])
    bad = TensorRecord({"w": np.array([np.nan])})
    with pytest.raises(ValueError, match="NaN"):
        _against([("setup/plan", PLAN), ("round-0/order", ORDER), ("round-0/weights", bad)])


def test_a_plan_with_absurd_rounds_is_refused() -> None:
    with pytest.raises(ValueError, match="start_round"):
        _against([("setup/plan", {**PLAN, "rounds": 10**12})])


def test_a_silent_aggregator_ends_the_worker_with_a_timeout_not_a_hang() -> None:
    with pytest.raises(TimeoutError):
        _against([("setup/plan", PLAN)])


def test_the_worker_contributes_its_weighted_change_and_statistics() -> None:
    seen: list[object] = []

    def aggregator(ctx: Context) -> None:
        ctx.sub("setup").send("plan", PLAN, to=WORKER)
        rctx = ctx.sub("round-0")
        rctx.send("order", ORDER, to=WORKER)
        rctx.send("weights", TensorRecord(model()), to=WORKER)
        seen.append(rctx.recv("contribution", frm=WORKER))
        final = ctx.sub("round-1")
        final.send("order", {"action": "final"}, to=WORKER)
        final.send("weights", TensorRecord(model()), to=WORKER)
        seen.append(final.recv("contribution", frm=WORKER))

    run_parties({ARBITER: aggregator, WORKER: lambda ctx: run_worker(ctx, Quadratic(1.0, 5), wait_s=5)})
    vector = seen[0]
    assert isinstance(vector, np.ndarray)
    start = np.concatenate([t.ravel() for t in model().values()])
    np.testing.assert_allclose(vector[:-5], 5 * (0.5 * (1.0 - start)))  # n * (w_local - w), half way to 1
    assert vector[-5] == 5.0 and vector[-4] == 5.0  # weight, weight * train loss 1.0
