"""Tests for unseen.cli.waiting's round line: counts written as counts, whatever type the metrics store returns."""

from __future__ import annotations

from typing import Any

from unseen.cli.waiting import round_progress


def test_round_numbers_read_back_as_floats_are_shown_as_counts() -> None:
    metrics: list[dict[str, Any]] = [
        {"component": "homo_nn_0", "name": "round", "step": 4, "value": 5.0},
        {"component": "homo_nn_0", "name": "rounds", "step": 4, "value": 5.0},
        {"component": "homo_nn_0", "name": "round_seconds", "step": 4, "value": 0.5},
        {"component": "homo_nn_0", "name": "workers", "step": 4, "value": 2.0},
    ]
    assert round_progress(metrics) == {"homo_nn_0": "round 5/5, 0.50 s/round, 2 workers"}
