"""Tests for unseen.horizontal.secagg: the sum and nothing else, with workers dropping mid-round."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.unit.horizontal_helpers import ARBITER, Quadratic, workers
from unseen.crypto import masking
from unseen.horizontal.aggregator import AggregatorResult, FederatedConfig, run_aggregator
from unseen.horizontal.fedavg import FedAvg
from unseen.horizontal.secagg import (
    SecAggClient,
    SecAggConfig,
    SecAggServer,
    _ServerRound,
    encoding_for,
    neighbourhoods,
)
from unseen.horizontal.summation import PlainSum, RoundFailedError, SumClient, Summed, SumServer
from unseen.horizontal.worker import WorkerResult, run_worker
from unseen.runtime.context import Context
from unseen.runtime.local import LocalHub, run_parties
from unseen.runtime.parties import PartyRef
from unseen.values import JsonValue

CONFIG = SecAggConfig(stage_deadline_s=5.0, wait_s=20.0)


class KilledError(Exception):
    """The worker's process dies: after sending its shares, before its masked vector."""


class DiesBeforeMasking(SecAggClient):
    def _send_masked(self, sctx: Context, aggregator: PartyRef, masked: np.ndarray) -> None:
        raise KilledError


class DiesBeforeSharing(SecAggClient):
    """Advertises its keys (its neighbours mask against it), then dies before its shares leave."""

    def _send_shares(self, sctx: Context, aggregator: PartyRef, sealed: dict[str, JsonValue]) -> None:
        raise KilledError


def _vectors(count: int, length: int) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    return [rng.normal(scale=3.0, size=length) for _ in range(count)]


def _sum_run(
    count: int,
    length: int,
    dying: set[int],
    config: SecAggConfig = CONFIG,
    minimum: int = 1,
    unsharing: frozenset[int] = frozenset(),
) -> tuple[Summed, SecAggServer, list[np.ndarray]]:
    parties = workers(count)
    vectors = _vectors(count, length)
    server = SecAggServer(config)
    out: list[Summed] = []

    def aggregator(ctx: Context) -> None:
        out.append(server.collect(ctx.sub("r0"), parties, length, 10.0, minimum))

    def worker(index: int) -> Callable[[Context], None]:
        client = DiesBeforeMasking(config) if index in dying else SecAggClient(config)
        if index in unsharing:
            client = DiesBeforeSharing(config)

        def program(ctx: Context) -> None:
            try:
                client.contribute(ctx.sub("r0"), ARBITER, vectors[index])
            except KilledError:
                return  # a dead worker reads nothing more

        return program

    programs: dict[PartyRef, Callable[[Context], None]] = {ARBITER: aggregator}
    programs |= {p: worker(i) for i, p in enumerate(parties)}
    run_parties(programs, recv_timeout=30)
    return out[0], server, vectors


def test_secure_sum_equals_the_plain_sum_within_the_encoding_error() -> None:
    summed, _, vectors = _sum_run(4, 257, set())
    assert len(summed.contributors) == 4 and summed.missing == {}
    np.testing.assert_allclose(summed.total, np.sum(vectors, axis=0), rtol=0, atol=4 * 2.0**-CONFIG.frac_bits)


def test_ten_workers_three_killed_after_sharing_the_sum_of_the_seven_is_exact_in_the_ring() -> None:
    dying = {2, 5, 9}
    summed, server, vectors = _sum_run(10, 300, dying)
    survivors = [p for i, p in enumerate(workers(10)) if i not in dying]
    assert summed.contributors == survivors
    assert set(summed.missing) == {workers(10)[i] for i in dying}
    expected = np.zeros(300, dtype=np.uint64)
    for i, vector in enumerate(vectors):
        if i not in dying:
            expected += masking.encode(vector, CONFIG.clip, CONFIG.frac_bits, CONFIG.ring_bits)
    assert server.last_ring_total is not None
    np.testing.assert_array_equal(server.last_ring_total, expected)
    np.testing.assert_array_equal(summed.total, masking.decode(expected, CONFIG.frac_bits, CONFIG.ring_bits))


def test_in_the_2_32_ring_dropped_workers_are_recovered_and_the_sum_is_exact_at_half_the_bytes() -> None:
    frac_bits, clip = encoding_for(32)
    config = SecAggConfig(ring_bits=32, frac_bits=frac_bits, clip=clip, stage_deadline_s=5.0, wait_s=20.0)
    dying = {1, 4}
    summed, server, vectors = _sum_run(6, 300, dying, config=config)
    expected = np.zeros(300, dtype=np.uint32)
    for i, vector in enumerate(vectors):
        if i not in dying:
            expected += masking.encode(vector, clip, frac_bits, 32)
    assert server.last_ring_total is not None and server.last_ring_total.dtype == np.uint32
    np.testing.assert_array_equal(server.last_ring_total, expected)
    plain = np.sum([v for i, v in enumerate(vectors) if i not in dying], axis=0)
    np.testing.assert_allclose(summed.total, plain, rtol=0, atol=4 * 2.0**-frac_bits)


def test_a_round_too_large_for_the_ring_is_refused_naming_the_fix() -> None:
    """32 workers of +-256 with 18 fraction bits could wrap a 2^32 ring: the round is refused, not wrong."""
    config = SecAggConfig(ring_bits=32, frac_bits=18, clip=256.0, stage_deadline_s=2.0, wait_s=20.0)
    with pytest.raises(RoundFailedError, match=r"32 values of up to \+-256 with 18 fraction bits overflow a 32-bit"):
        _sum_run(32, 8, set(), config=config)


def test_workers_that_advertised_keys_but_never_shared_leave_no_mask_in_the_sum() -> None:
    """Survivors mask against every neighbour with keys, before the shares are routed; for a neighbour whose
    shares never came they reveal that one pairwise seed, and the sum of the others is exact in the ring."""
    config = SecAggConfig(stage_deadline_s=3.0, wait_s=20.0)  # all 7 others: 4 surviving holders suffice
    summed, server, vectors = _sum_run(8, 99, {6}, config=config, unsharing=frozenset({1, 4}))
    survivors = [p for i, p in enumerate(workers(8)) if i not in {1, 4, 6}]
    assert summed.contributors == survivors
    expected = np.zeros(99, dtype=np.uint64)
    for i, vector in enumerate(vectors):
        if i not in {1, 4, 6}:
            expected += masking.encode(vector, config.clip, config.frac_bits, config.ring_bits)
    assert server.last_ring_total is not None
    np.testing.assert_array_equal(server.last_ring_total, expected)


def test_secagg_plus_sparse_graph_recovers_a_dropped_worker_from_its_neighbours() -> None:
    config = SecAggConfig(neighbours=4, stage_deadline_s=5.0, wait_s=20.0)
    graph = neighbourhoods(workers(10), 4, seed=3)
    assert all(len(n) == 4 for n in graph.values())
    assert all(p in graph[q] for p, ns in graph.items() for q in ns)  # symmetric
    _, server, vectors = _sum_run(10, 64, {4}, config=config)
    expected = np.zeros(64, dtype=np.uint64)
    for i, vector in enumerate(vectors):
        if i != 4:
            expected += masking.encode(vector, config.clip, config.frac_bits, config.ring_bits)
    assert server.last_ring_total is not None
    np.testing.assert_array_equal(server.last_ring_total, expected)


def test_dropout_recovery_works_at_the_threshold_and_fails_naming_the_missing_workers_below_it() -> None:
    """Six workers, all-to-all (k = 5 neighbours each), t = 4: one worker killed after sharing leaves every
    secret exactly 4 surviving holders (recovered, the sum of the 5 exact); two leave 3 (< t), and the round
    fails cleanly, naming the workers it cannot recover and the missing ones."""
    config = SecAggConfig(threshold=4, stage_deadline_s=3.0, wait_s=20.0)
    summed, server, vectors = _sum_run(6, 40, {2}, config=config)
    assert len(summed.contributors) == 5
    expected = np.zeros(40, dtype=np.uint64)
    for i, vector in enumerate(vectors):
        if i != 2:
            expected += masking.encode(vector, config.clip, config.frac_bits, config.ring_bits)
    assert server.last_ring_total is not None
    np.testing.assert_array_equal(server.last_ring_total, expected)
    with pytest.raises(RoundFailedError, match=r"too few shares.*missing: host:9003 \(.*\), host:9005 \("):
        _sum_run(6, 40, {2, 4}, config=config)


def test_a_threshold_outside_the_neighbourhood_bounds_is_refused_naming_the_fix() -> None:
    with pytest.raises(ValueError, match=r"threshold must be 0 \(k // 2 \+ 1\) or at least 2"):
        SecAggConfig(threshold=1)
    with pytest.raises(ValueError, match=r"threshold 2 is too low: with 4 neighbours it must be at least 3.*set"):
        SecAggConfig(neighbours=4, threshold=2)
    # All-to-all among 4 workers: k = 3 holders, so t = 4 cannot be met; every party hears why.
    with pytest.raises(RoundFailedError, match=r"threshold 4 is too high: with 3 neighbours it must be at most 3"):
        _sum_run(4, 8, set(), config=SecAggConfig(threshold=4, stage_deadline_s=2.0, wait_s=5.0))


def test_too_many_drops_fail_the_round_naming_the_missing_workers() -> None:
    with pytest.raises(RoundFailedError, match=r"host:9004.*host:9005|stopped the round"):
        _sum_run(5, 16, {3, 4}, minimum=4)


def _fedavg_with(
    server: SumServer, client: Callable[[], SumClient], hub: LocalHub, count: int = 3
) -> tuple[AggregatorResult, dict[PartyRef, list[np.ndarray]]]:
    """Three workers, a 200-weight model; returns the result and each worker's plaintext contributions."""
    plain: dict[PartyRef, list[np.ndarray]] = {}

    def recording(party: PartyRef) -> SumClient:
        inner = client()

        class Recorder:
            secure = inner.secure

            def weight(self, num_samples: int) -> float:
                return inner.weight(num_samples)

            def prepare(self, ctx: Context, aggregator: PartyRef, setup: JsonValue = None) -> None:
                inner.prepare(ctx, aggregator, setup)

            def contribute(self, ctx: Context, aggregator: PartyRef, vector: np.ndarray) -> None:
                plain.setdefault(party, []).append(vector.copy())
                inner.contribute(ctx, aggregator, vector)

        return Recorder()

    weights = {"w": np.linspace(-1, 1, 200)}

    def aggregator(ctx: Context) -> AggregatorResult:
        return run_aggregator(ctx, FedAvg(), weights, FederatedConfig(rounds=2), summer=server)

    def worker(index: int, party: PartyRef) -> Callable[[Context], WorkerResult]:
        trainer = Quadratic(float(index + 1), 100 * (index + 1))
        return lambda ctx: run_worker(ctx, trainer, summer=recording(party), wait_s=20)

    programs: dict[PartyRef, Callable[[Context], AggregatorResult | WorkerResult]] = {ARBITER: aggregator}
    programs |= {p: worker(i, p) for i, p in enumerate(workers(count))}
    run = run_parties(programs, hub=hub, recv_timeout=30)
    result = run.results[ARBITER]
    assert isinstance(result, AggregatorResult)
    return result, plain


def _leaks(hub: LocalHub, plain: dict[PartyRef, list[np.ndarray]]) -> list[str]:
    """Every 3-value window of every plaintext update, as float64, float32 and ring encoding, found in any
    message the aggregator received."""
    inbound = [m.body for m in hub.recorded if m.dst == ARBITER]
    found: list[str] = []
    for party, vectors in plain.items():
        for vector in vectors:
            update = vector[:-5]
            if not np.any(update):
                continue
            forms = {
                "float64": update.astype(np.float64).tobytes(),
                "float32": update.astype(np.float32).tobytes(),
                "ring": masking.encode(update, CONFIG.clip, CONFIG.frac_bits, CONFIG.ring_bits).tobytes(),
            }
            for form, raw in forms.items():
                width = len(raw) // update.size * 3
                step = len(raw) // update.size
                if any(raw[i : i + width] in body for i in range(0, len(raw) - width + 1, step) for body in inbound):
                    found.append(f"{party} {form}")
    return found


def test_fedavg_with_secagg_matches_plain_fedavg_and_the_aggregator_sees_no_plain_update() -> None:
    secure_hub, plain_hub = LocalHub(), LocalHub()
    secure, recorded = _fedavg_with(SecAggServer(CONFIG), lambda: SecAggClient(CONFIG), secure_hub)
    plain, plain_recorded = _fedavg_with(PlainSum(), PlainSum, plain_hub)
    # Secure aggregation caps weights at weight_cap, far above these sample counts: the same weighting.
    np.testing.assert_allclose(secure.weights["w"], plain.weights["w"], rtol=0, atol=1e-6)
    masked = [m for m in secure_hub.recorded if m.dst == ARBITER and m.tag.endswith("secagg/masked")]
    assert len(masked) == 3 * 3  # three workers, two rounds and the final evaluation
    # Keys travel once as their own exchange; later rounds use the pairs advertised with each reveal.
    key_tags = sorted({m.tag for m in secure_hub.recorded if m.tag.endswith("secagg/keys")})
    assert [t.split("/")[-3] for t in key_tags] == ["round-0"], key_tags
    # A training round's setup travels inside each worker's order; only the final evaluation, which has no
    # begin, sends it as a message of its own.
    setup_tags = sorted({m.tag for m in secure_hub.recorded if m.tag.endswith("secagg/setup")})
    assert [t.split("/")[-3] for t in setup_tags] == ["round-2"], setup_tags
    assert _leaks(secure_hub, recorded) == []
    # The same search finds every worker's update in the plain run's traffic: it can see a leak.
    assert len(_leaks(plain_hub, plain_recorded)) >= 3


def test_a_worker_refuses_parameters_that_differ_from_its_own() -> None:
    parties = workers(2)

    def aggregator(ctx: Context) -> None:
        SecAggServer(SecAggConfig(frac_bits=20, stage_deadline_s=2.0)).collect(ctx, parties, 8, 2.0, 2)

    def worker(ctx: Context) -> None:
        SecAggClient(CONFIG).contribute(ctx, ARBITER, np.zeros(8))

    with pytest.raises((ValueError, RoundFailedError)):
        run_parties({ARBITER: aggregator, **{p: worker for p in parties}}, recv_timeout=10)


def test_a_round_of_one_worker_is_refused_and_the_worker_is_told_not_left_waiting() -> None:
    parties = workers(1)
    errors: list[str] = []

    def aggregator(ctx: Context) -> None:
        try:
            SecAggServer(CONFIG).collect(ctx, parties, 8, 2.0, 1)
        except RoundFailedError as exc:
            errors.append(str(exc))

    def worker(ctx: Context) -> None:  # returns at once: excluded, not waiting out wait_s
        SecAggClient(CONFIG).contribute(ctx, ARBITER, np.zeros(8))

    run_parties({ARBITER: aggregator, parties[0]: worker}, recv_timeout=10)
    assert errors and "at least 2 workers" in errors[0]


def test_fedavg_rounds_with_secagg_go_on_without_a_worker_killed_mid_round() -> None:
    parties = workers(4)
    weights = {"w": np.linspace(-1, 1, 50)}
    config = SecAggConfig(stage_deadline_s=2.0, wait_s=20.0)

    def aggregator(ctx: Context) -> AggregatorResult:
        # Keys and shares go round while the workers train, so a worker dead before masking is one that died
        # training: the round's deadline (not a stage's) decides when it counts as dropped.
        federated = FederatedConfig(rounds=3, min_workers=3, round_deadline_s=3.0)
        return run_aggregator(ctx, FedAvg(), weights, federated, SecAggServer(config))

    def worker(index: int) -> Callable[[Context], WorkerResult | None]:
        client = DiesBeforeMasking(config) if index == 1 else SecAggClient(config)

        def program(ctx: Context) -> WorkerResult | None:
            try:
                return run_worker(ctx, Quadratic(float(index), 10), summer=client, wait_s=20)
            except KilledError:
                return None

        return program

    programs: dict[PartyRef, Callable[[Context], AggregatorResult | WorkerResult | None]] = {ARBITER: aggregator}
    programs |= {p: worker(i) for i, p in enumerate(parties)}
    result = run_parties(programs, recv_timeout=30).results[ARBITER]
    assert isinstance(result, AggregatorResult)
    assert result.left == [parties[1]]
    assert [r.contributors for r in result.history] == [3, 3, 3]
    # The survivors' targets are 0, 2 and 3 with equal weights: FedAvg moves towards their mean, 5/3.
    expected = weights["w"]
    for _ in range(3):
        expected = np.mean([t + 0.5 * (expected - t) for t in (0.0, 2.0, 3.0)], axis=0)
    np.testing.assert_allclose(result.weights["w"], expected, rtol=0, atol=1e-6)


def test_a_round_whose_neighbourhoods_break_the_threshold_fails_on_every_party_with_the_reason() -> None:
    parties = workers(3)
    config = SecAggConfig(threshold=3, stage_deadline_s=2.0, wait_s=20.0)  # 3 workers: 2 holders each, t=3 > 2
    outcomes: dict[PartyRef, str] = {}

    def aggregator(ctx: Context) -> None:
        federated = FederatedConfig(rounds=2, min_workers=3, round_deadline_s=5.0)
        with pytest.raises(RoundFailedError) as failed:
            run_aggregator(ctx, FedAvg(), {"w": np.zeros(4)}, federated, SecAggServer(config))
        outcomes[ARBITER] = str(failed.value)

    def worker(party: PartyRef) -> Callable[[Context], None]:
        def program(ctx: Context) -> None:
            # Told by its abort order, not by running into wait_s (which would raise TimeoutError instead).
            with pytest.raises(RoundFailedError) as failed:
                run_worker(ctx, Quadratic(1.0, 10), summer=SecAggClient(config), wait_s=20)
            outcomes[party] = str(failed.value)

        return program

    run_parties({ARBITER: aggregator, **{p: worker(p) for p in parties}}, recv_timeout=30)
    assert set(outcomes) == {ARBITER, *parties}
    assert all("threshold 3 is too high: with 2 neighbours" in why for why in outcomes.values()), outcomes


def test_a_hostile_aggregator_that_calls_a_sharing_neighbour_unshared_gets_no_pairwise_seed() -> None:
    """The attack: the aggregator routes ``v``'s shares to a holder yet calls ``v`` unshared, hoping for the
    pairwise seed ``s_uv`` too. With ``v``'s self-mask shares from the others, that seed would help unmask
    ``v``. The holder refuses and reveals nothing."""
    parties = workers(3)
    holder, victim = parties[0], parties[1]
    refusals: dict[PartyRef, str] = {}
    revealed: list[object] = []

    def aggregator(ctx: Context) -> None:
        rctx = ctx.sub("r0")
        run = _ServerRound(rctx, CONFIG, parties, 8, 1, None, True)
        u2 = run.shares(run.keys(5.0))
        assert u2 == parties
        run.sctx.gather("masked", u2, timeout=5.0)
        lie: dict[str, JsonValue] = {
            "survivors": [str(p) for p in parties if p != victim],
            "dropped": [],
            "unshared": [str(victim)],
            "shares": run.routed[holder],  # the victim's shares are in there: the holder can see the lie
        }
        assert str(victim) in run.routed[holder]
        run.sctx.send("unmask", lie, to=holder)
        answer = run.sctx.gather("reveal", [holder], timeout=3.0)
        revealed.extend(answer.values.values())
        run.sctx.broadcast("unmask", {"abort": "the test ends the round"}, [p for p in parties if p != holder])

    def worker(party: PartyRef, index: int) -> Callable[[Context], None]:
        def program(ctx: Context) -> None:
            try:
                SecAggClient(CONFIG).contribute(ctx.sub("r0"), ARBITER, _vectors(3, 8)[index])
            except (ValueError, RoundFailedError) as exc:
                refusals[party] = str(exc)

        return program

    run_parties({ARBITER: aggregator, **{p: worker(p, i) for i, p in enumerate(parties)}}, recv_timeout=30)
    assert "calls unshared a neighbour whose shares this worker holds" in refusals[holder]
    assert revealed == []  # no reveal at all, so no pairwise seed and no share


def test_a_worker_the_orders_missed_is_not_waited_for_and_the_sum_of_the_others_is_exact() -> None:
    """Round 0: four workers (each advertises next round's keys). Round 1: the order to the fourth is lost, so
    it never starts, yet the setup lists its keys and its neighbours mask against it. The aggregator names it
    unreached at once (no stage waits for it), removes the pairwise masks through the unshared path and sums
    the other three exactly."""
    parties = workers(4)
    config = SecAggConfig(stage_deadline_s=20.0, wait_s=20.0)
    vectors = _vectors(4, 16)
    server = SecAggServer(config)
    sums: list[Summed] = []

    def aggregator(ctx: Context) -> None:
        for index, reached in enumerate((parties, parties[:3])):
            rctx = ctx.sub(f"round-{index}")
            setup = server.begin(rctx, parties, 16, 3)
            assert setup is not None and ("peer_keys" in setup) == (index == 1)
            for party in reached:
                rctx.send("order", {"sum_setup": setup}, to=party)
            sums.append(server.collect(rctx, reached, 16, 20.0, 3))

    def worker(index: int) -> Callable[[Context], None]:
        client = SecAggClient(config)

        def program(ctx: Context) -> None:
            for server_round in range(2 if index < 3 else 1):
                rctx = ctx.sub(f"round-{server_round}")
                order = rctx.recv("order", frm=ARBITER, timeout=20.0)
                assert isinstance(order, dict)
                client.prepare(rctx, ARBITER, order["sum_setup"])
                client.contribute(rctx, ARBITER, vectors[index])

        return program

    run_parties({ARBITER: aggregator, **{p: worker(i) for i, p in enumerate(parties)}}, recv_timeout=30)
    assert sums[1].missing == {parties[3]: "could not be reached"}
    assert sums[1].contributors == parties[:3]
    expected = np.zeros(16, dtype=np.uint64)
    for vector in vectors[:3]:
        expected += masking.encode(vector, config.clip, config.frac_bits, config.ring_bits)
    assert server.last_ring_total is not None
    np.testing.assert_array_equal(server.last_ring_total, expected)
