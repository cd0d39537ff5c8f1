"""The ``bench_horizontal`` component on the in-memory federation: it trains, and its stamps add up."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from unseen.components.bench_horizontal import BenchHorizontalParams, run
from unseen.runtime.context import Context
from unseen.runtime.local import run_parties
from unseen.runtime.parties import PartyRef, Role

ARBITER = PartyRef(Role.ARBITER, 9000)


def _run(workers: int, **params: Any) -> dict[PartyRef, dict[str, Any]]:
    parsed = BenchHorizontalParams.model_validate(params)
    refs = [PartyRef(Role.GUEST, 9001)] + [PartyRef(Role.HOST, 9001 + i) for i in range(1, workers)]

    def program(ctx: Context) -> None:
        run(ctx, parsed)

    done = run_parties(dict.fromkeys([ARBITER, *refs], program), recv_timeout=60)
    return {
        ref: {p.name: p.value for p in sink.points if isinstance(p.value, dict)} for ref, sink in done.metrics.items()
    }


def test_digits_rounds_train_and_every_stamp_is_in_order() -> None:
    metrics = _run(3, model="digits", rounds=3, warmup=1, local_epochs=2)
    arbiter = metrics[ARBITER]["rounds"]
    assert arbiter["workers"] == 3
    rounds = arbiter["rounds"]
    assert [r["warmup"] for r in rounds] == [1.0, 0.0, 0.0, 0.0]
    for r in rounds:
        assert r["start_at"] <= r["collect_start_at"] <= r["collect_end_at"] <= r["apply_start_at"] <= r["end_at"]
    worker = metrics[PartyRef(Role.HOST, 9002)]["rounds"]["rounds"]
    assert [r["server_round"] for r in worker] == [0, 1, 2, 3]
    for mine, agg in zip(worker, rounds, strict=True):
        assert agg["start_at"] <= mine["weights_at"] <= mine["trained_at"] <= mine["contributed_at"]
        assert mine["contributed_at"] <= agg["collect_end_at"]
        # the local share of 80 % of 1797 digits, twice; and a plain contribution is 8 bytes per value + 5 stats
        assert mine["samples"] == 2 * len(range(1, int(0.8 * 1797), 3))
        assert mine["bytes_sent"] == 8 * (64 * 32 + 32 + 32 * 10 + 10 + 5)


def test_secure_synthetic_rounds_send_the_masked_vector_and_some_keys() -> None:
    plain = _run(3, model="synthetic", parameters=1000, rounds=1, warmup=0)
    secure = _run(3, model="synthetic", parameters=1000, rounds=1, warmup=0, secure=True)
    ref = PartyRef(Role.GUEST, 9001)
    plain_bytes = plain[ref]["rounds"]["rounds"][0]["bytes_sent"]
    secure_bytes = secure[ref]["rounds"]["rounds"][0]["bytes_sent"]
    assert plain_bytes == 8 * 1005
    assert plain_bytes < secure_bytes < plain_bytes + 4096  # uint64 masked vector + keys and sealed shares


def test_the_parameters_are_bounded() -> None:
    with pytest.raises(ValueError, match="parameters"):
        BenchHorizontalParams.model_validate({"model": "synthetic", "parameters": 10**9})
    assert np.isfinite(BenchHorizontalParams().round_deadline_s)
