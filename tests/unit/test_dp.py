"""Tests for unseen.horizontal.dp: clipping, noise split across workers, and the reported epsilon."""

from __future__ import annotations

import math
from collections.abc import Callable

import dp_accounting
import numpy as np
import pytest
from dp_accounting.rdp import RdpAccountant

from tests.unit.horizontal_helpers import ARBITER, Quadratic, model, workers
from unseen.horizontal.aggregator import AggregatorResult, FederatedConfig, run_aggregator
from unseen.horizontal.dp import DPConfig, clip, epsilon_for, gaussian
from unseen.horizontal.fedavg import FedAvg
from unseen.horizontal.secagg import SecAggClient, SecAggConfig, SecAggServer
from unseen.horizontal.summation import PlainSum, SumClient, SumServer
from unseen.horizontal.weights import l2_norm
from unseen.horizontal.worker import WorkerResult, run_worker
from unseen.runtime.context import Context
from unseen.runtime.local import LocalRun, run_parties
from unseen.runtime.parties import PartyRef


def _accountant_epsilon(sigma: float, q: float, steps: int, delta: float) -> float:
    """Straight from dp-accounting, independently of the module under test."""
    accountant = RdpAccountant()
    event = dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma))
    accountant.compose(event, steps)
    return float(accountant.get_epsilon(delta))


def test_clip_bounds_the_norm_over_all_tensors_and_leaves_small_changes_alone() -> None:
    change = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    clipped = clip(change, 1.0)
    assert l2_norm(clipped) == pytest.approx(1.0)
    np.testing.assert_allclose(clipped["a"], [0.6, 0.0])
    small = clip(change, 10.0)
    np.testing.assert_array_equal(small["a"], change["a"])


def test_noise_split_across_the_workers_adds_up_to_sigma_c() -> None:
    config = DPConfig(noise_multiplier=1.2, clip_norm=0.5, noise_at="workers", noise_shares=4)
    assert config.aggregator_std == 0
    rng = np.random.default_rng(0)
    total = sum(gaussian(200_000, config.worker_std, rng) for _ in range(4))
    assert np.std(total) == pytest.approx(1.2 * 0.5, rel=0.01)
    central = DPConfig(noise_multiplier=1.2, clip_norm=0.5)
    assert central.aggregator_std == pytest.approx(0.6) and central.worker_std == 0


@pytest.mark.parametrize(("sigma", "q", "steps"), [(1.1, 0.5, 3), (0.8, 1.0, 10), (4.0, 0.01, 1000)])
def test_epsilon_for_equals_the_accountants(sigma: float, q: float, steps: int) -> None:
    assert epsilon_for(sigma, q, steps, 1e-5) == pytest.approx(_accountant_epsilon(sigma, q, steps, 1e-5), rel=1e-12)


def _dp_run(
    dp: DPConfig, server: SumServer, client: Callable[[], SumClient], fraction: float, rounds: int
) -> LocalRun[AggregatorResult | WorkerResult]:
    def aggregator(ctx: Context) -> AggregatorResult:
        config = FederatedConfig(rounds=rounds, fraction=fraction, min_workers=dp.noise_shares, seed=3)
        return run_aggregator(ctx, FedAvg(), model(), config, summer=server, dp=dp)

    def worker(index: int) -> Callable[[Context], WorkerResult]:
        return lambda ctx: run_worker(ctx, Quadratic(float(index), 10), summer=client(), dp=dp, wait_s=20)

    programs: dict[PartyRef, Callable[[Context], AggregatorResult | WorkerResult]] = {ARBITER: aggregator}
    programs |= {p: worker(i) for i, p in enumerate(workers(4))}
    return run_parties(programs, recv_timeout=30)


def test_the_epsilon_logged_each_round_equals_the_accountants_for_the_same_sigma_rate_and_rounds() -> None:
    dp = DPConfig(noise_multiplier=1.3, clip_norm=0.5, delta=1e-5)
    run = _dp_run(dp, PlainSum(), PlainSum, fraction=0.5, rounds=4)
    result = run.results[ARBITER]
    assert isinstance(result, AggregatorResult)
    reported = [r.epsilon for r in result.history]
    expected = [_accountant_epsilon(1.3, 0.5, steps, 1e-5) for steps in range(1, 5)]
    assert reported == pytest.approx(expected, rel=1e-12)
    logged = [p.value for p in run.metrics[ARBITER].points if p.name == "epsilon"]
    assert logged == pytest.approx(expected, rel=1e-12)
    assert all(math.isfinite(e) for e in expected) and expected == sorted(expected)


def test_dp_with_secure_aggregation_noises_at_the_workers_and_clips_each_change() -> None:
    dp = DPConfig(noise_multiplier=0.0, clip_norm=0.01, noise_at="workers", noise_shares=2)
    config = SecAggConfig(stage_deadline_s=5, wait_s=20)
    run = _dp_run(dp, SecAggServer(config), lambda: SecAggClient(config), fraction=1.0, rounds=1)
    result = run.results[ARBITER]
    assert isinstance(result, AggregatorResult)
    # Each worker's change is clipped to 0.01 and weighted 1: the mean change has norm at most 0.01.
    moved = l2_norm({n: result.weights[n] - model()[n] for n in model()})
    assert 0 < moved <= 0.01 + 1e-6


def test_a_minimum_below_the_noise_shares_is_refused() -> None:
    dp = DPConfig(noise_multiplier=1.0, clip_norm=1.0, noise_at="workers", noise_shares=3)

    def aggregator(ctx: Context) -> None:
        run_aggregator(ctx, FedAvg(), model(), FederatedConfig(rounds=1, min_workers=2), dp=dp)

    with pytest.raises(ValueError, match="noise_shares"):
        run_parties({ARBITER: aggregator, workers(1)[0]: lambda ctx: None}, recv_timeout=5)
