"""Tests for unseen.horizontal.aggregator (with worker): rounds, selection, dropouts, early stop, resume."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.unit.horizontal_helpers import ARBITER, Quadratic, model, workers
from unseen.horizontal.aggregator import AggregatorResult, FederatedConfig, run_aggregator
from unseen.horizontal.fedavg import FedAvg
from unseen.horizontal.param_server import SGD, ParameterServer
from unseen.horizontal.strategy import Strategy
from unseen.horizontal.summation import PlainSum, RoundFailedError
from unseen.horizontal.worker import WorkerResult, decline, run_worker
from unseen.runtime.context import Context
from unseen.runtime.local import LocalRun, run_parties
from unseen.runtime.parties import PartyRef

TARGETS = [2.0, -1.0, 4.0, 0.0]
SAMPLES = [10, 30, 60, 100]


def _run(
    strategy: Strategy,
    config: FederatedConfig,
    count: int = 3,
    stall: dict[int, float] | None = None,
    worker_wait: float = 30.0,
    eval_target: float | None = None,
    startup: dict[int, float] | None = None,
    broken: dict[int, str] | None = None,
) -> LocalRun[AggregatorResult | WorkerResult]:
    """``stall``: seconds a worker's every fit sleeps; ``startup``: seconds a worker takes before it joins
    (importing its framework, reading its rows); ``broken``: workers that fail to start, with their error."""
    stall, startup, broken = stall or {}, startup or {}, broken or {}

    def aggregator(ctx: Context) -> AggregatorResult:
        return run_aggregator(ctx, strategy, model(), config)

    def make_worker(index: int) -> Callable[[Context], WorkerResult]:
        trainer = Quadratic(TARGETS[index], SAMPLES[index], stall_s=stall.get(index, 0.0), eval_target=eval_target)

        def worker(ctx: Context) -> WorkerResult:
            time.sleep(startup.get(index, 0.0))
            if index in broken:  # as homo_nn does when its rows do not fit the model: say why, then stop
                decline(ctx, broken[index])
                return WorkerResult("left", None, 0, reason=broken[index])
            return run_worker(ctx, trainer, wait_s=worker_wait)

        return worker

    programs: dict[PartyRef, Callable[[Context], AggregatorResult | WorkerResult]] = {ARBITER: aggregator}
    programs |= {party: make_worker(i) for i, party in enumerate(workers(count))}
    return run_parties(programs, recv_timeout=60)


def _fedavg_reference(rounds: int, count: int, epochs: int = 1) -> dict[str, np.ndarray]:
    weights = model()
    for _ in range(rounds):
        models = []
        for i in range(count):
            keep = 0.5**epochs
            models.append({n: TARGETS[i] + keep * (t - TARGETS[i]) for n, t in weights.items()})
        total = sum(SAMPLES[:count])
        weights = {n: np.sum([m[n] * SAMPLES[i] for i, m in enumerate(models)], axis=0) / total for n in weights}
    return weights


def _result(run: LocalRun[AggregatorResult | WorkerResult]) -> AggregatorResult:
    result = run.results[ARBITER]
    assert isinstance(result, AggregatorResult)
    return result


def test_fedavg_rounds_give_the_sample_weighted_mean_and_every_worker_gets_the_model() -> None:
    run = _run(FedAvg(local_epochs=2), FederatedConfig(rounds=3))
    result = _result(run)
    expected = _fedavg_reference(3, 3, epochs=2)
    for name, tensor in expected.items():
        np.testing.assert_allclose(result.weights[name], tensor, rtol=0, atol=1e-12)
    for party in workers(3):
        worker = run.results[party]
        assert isinstance(worker, WorkerResult) and worker.status == "done" and worker.rounds_trained == 3
        assert worker.weights is not None
        np.testing.assert_array_equal(worker.weights["w"], result.weights["w"])
    assert [r.contributors for r in result.history] == [3, 3, 3]
    assert result.final_loss is not None
    points = {p.name for p in run.metrics[ARBITER].points}
    assert {"round_seconds", "workers", "train_loss", "eval_loss", "eval_accuracy", "final_loss"} <= points


def test_a_worker_that_misses_the_deadline_is_left_out_and_the_round_completes_with_the_rest() -> None:
    run = _run(FedAvg(), FederatedConfig(rounds=2, min_workers=2, round_deadline_s=1.0), stall={2: 3.0})
    result = _result(run)
    late = workers(3)[2]
    assert result.history[0].contributors == 2 and result.history[0].missing == [str(late)]
    assert result.left == [late]
    expected = _fedavg_reference(2, 2)  # the two others only, from the first round on
    np.testing.assert_allclose(result.weights["w"], expected["w"], rtol=0, atol=1e-12)
    left = run.results[late]
    assert isinstance(left, WorkerResult) and left.status == "left" and "deadline" in left.reason


def test_a_slow_starting_worker_is_waited_for_and_round_deadlines_count_rounds_only() -> None:
    """The join stage: a worker that takes longer to start than a round's deadline still takes every round."""
    run = _run(FedAvg(), FederatedConfig(rounds=2, min_workers=3, round_deadline_s=1.0), startup={2: 2.5})
    result = _result(run)
    assert [r.contributors for r in result.history] == [3, 3] and result.left == []
    np.testing.assert_allclose(result.weights["w"], _fedavg_reference(2, 3)["w"], rtol=0, atol=1e-12)
    late = run.results[workers(3)[2]]
    assert isinstance(late, WorkerResult) and late.status == "done" and late.rounds_trained == 2


def test_a_worker_not_ready_within_the_join_deadline_leaves_and_the_rest_train() -> None:
    config = FederatedConfig(rounds=2, min_workers=2, round_deadline_s=5.0, ready_timeout_s=1.0)
    run = _run(FedAvg(), config, startup={2: 2.5})
    result = _result(run)
    late = workers(3)[2]
    assert [r.contributors for r in result.history] == [2, 2] and result.left == [late]
    np.testing.assert_allclose(result.weights["w"], _fedavg_reference(2, 2)["w"], rtol=0, atol=1e-12)
    left = run.results[late]
    assert isinstance(left, WorkerResult) and left.status == "left"


def test_too_few_ready_workers_fail_the_job_naming_the_missing_ones() -> None:
    config = FederatedConfig(rounds=2, min_workers=3, ready_timeout_s=1.0)
    with pytest.raises(RoundFailedError, match=r"only 2 of 3 workers were ready.*host:9003 \(not ready within 1 s"):
        _run(FedAvg(), config, startup={2: 2.5})


def test_a_worker_that_fails_to_start_is_dropped_at_once_with_its_reason_in_one_line() -> None:
    # The join deadline is long: a worker that said nothing would fail the job "not ready within 600 s".
    config = FederatedConfig(rounds=2, min_workers=3, ready_timeout_s=600.0)
    why = "ValueError: model dlrm needs a criteo-tsv table\nforged: log line"
    expected = r"only 2 of 3 workers were ready.*host:9003 \(refused the plan: ValueError: .* table forged: log line\)"
    with pytest.raises(RoundFailedError, match=expected):
        _run(FedAvg(), config, broken={2: why})
    result = _result(_run(FedAvg(), FederatedConfig(rounds=2, min_workers=2, ready_timeout_s=600.0), broken={2: why}))
    assert [r.contributors for r in result.history] == [2, 2]


def test_too_few_workers_fail_the_round_naming_the_missing_ones_on_every_party() -> None:
    with pytest.raises(RoundFailedError, match=r"host:9003.*no answer by the deadline|stopped the job"):
        _run(FedAvg(), FederatedConfig(rounds=2, min_workers=3, round_deadline_s=1.0), stall={2: 3.0})


def test_a_fraction_of_workers_is_selected_each_round_at_least_the_minimum() -> None:
    result = _result(_run(FedAvg(), FederatedConfig(rounds=4, fraction=0.25, min_workers=2, seed=7), count=4))
    assert [r.selected for r in result.history] == [2, 2, 2, 2]
    assert all(r.contributors == 2 for r in result.history)


def test_parameter_server_applies_the_weighted_mean_gradient_with_its_optimizer() -> None:
    result = _result(_run(ParameterServer(SGD(lr=0.5, momentum=0.9)), FederatedConfig(rounds=3, eval_every=2)))
    weights, buf = model(), {n: np.zeros_like(t) for n, t in model().items()}
    mean_target = sum(t * n for t, n in zip(TARGETS[:3], SAMPLES[:3], strict=False)) / sum(SAMPLES[:3])
    for step in range(3):
        for name in weights:
            grad = weights[name] - mean_target
            buf[name] = grad if step == 0 else 0.9 * buf[name] + grad
            weights[name] = weights[name] - 0.5 * buf[name]
    np.testing.assert_allclose(result.weights["w"], weights["w"], rtol=0, atol=1e-12)
    assert [r.eval_loss is not None for r in result.history] == [True, False, True]


def test_early_stopping_ends_when_the_eval_loss_stops_improving_and_keeps_the_best_model() -> None:
    # The workers train towards their targets but validate against -5: every round makes the eval loss worse.
    result = _result(_run(FedAvg(), FederatedConfig(rounds=10, patience=2), eval_target=-5.0))
    assert result.stopped_early and len(result.history) == 3
    np.testing.assert_array_equal(result.weights["w"], model()["w"])  # round 0's model had the best loss


def test_resume_from_a_checkpoint_continues_as_if_never_stopped(tmp_path: Path) -> None:
    path = tmp_path / "global.npz"
    strategy = ParameterServer(SGD(lr=0.3, momentum=0.5))
    _run(strategy, FederatedConfig(rounds=2, checkpoint_path=path))
    assert path.exists()
    resumed = _result(_run(ParameterServer(SGD(lr=0.3, momentum=0.5)), FederatedConfig(rounds=4, checkpoint_path=path)))
    straight = _result(_run(ParameterServer(SGD(lr=0.3, momentum=0.5)), FederatedConfig(rounds=4)))
    assert [r.server_round for r in resumed.history] == [2, 3]
    np.testing.assert_allclose(resumed.weights["w"], straight.weights["w"], rtol=0, atol=1e-12)


def test_a_worker_cancelling_the_weights_fails_the_round_and_every_worker_hears_why() -> None:
    """A hostile worker sends weight -(the others' total): the aggregator refuses to divide by zero and tells
    every worker, instead of crashing and leaving them to wait."""

    class Hostile(PlainSum):
        def contribute(self, ctx: Context, aggregator: PartyRef, vector: np.ndarray) -> None:
            vector = vector.copy()
            vector[-5] = -float(sum(SAMPLES[:2]))
            super().contribute(ctx, aggregator, vector)

    def aggregator(ctx: Context) -> AggregatorResult:
        return run_aggregator(ctx, FedAvg(), model(), FederatedConfig(rounds=2))

    programs: dict[PartyRef, Callable[[Context], AggregatorResult | WorkerResult]] = {ARBITER: aggregator}
    parties = workers(3)
    for index, party in enumerate(parties[:2]):
        trainer = Quadratic(0.0, SAMPLES[index])
        programs[party] = lambda ctx, trainer=trainer: run_worker(ctx, trainer, wait_s=10)  # type: ignore[misc]
    programs[parties[2]] = lambda ctx: run_worker(ctx, Quadratic(0.0, 1), summer=Hostile(), wait_s=10)
    with pytest.raises(RoundFailedError, match="weights sum to"):
        run_parties(programs, recv_timeout=20)
