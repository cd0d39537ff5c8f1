"""The board shows what a model is: coefficients by feature name, trees, rounds; read from this party's part."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from unseen.board import model_views, views
from unseen.storage.models import MetricRecord
from unseen.storage.models_store import ModelPart, ModelStore


def saved(tmp_path: Path, meta: dict[str, object], arrays: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    ModelStore(tmp_path).save("j1", "c_0", "model", ModelPart(meta=meta, arrays=arrays or {}))
    (part,) = views.model_parts(tmp_path, "j1", "c_0")
    summary = part["summary"]
    assert isinstance(summary, dict)
    return summary


def test_hetero_lr_shows_this_partys_coefficients_by_name_largest_first(tmp_path: Path) -> None:
    meta = {"model": "hetero_lr", "role": "guest", "feature_names": ["age", "income", "debt"], "n_iter": 12,
            "converged": True, "loss_history": [0.69, 0.41]}  # fmt: skip
    arrays = {"coef": np.array([0.25, -1.5, 0.75]), "intercept": np.array([-0.125])}
    summary = saved(tmp_path, meta, arrays)
    assert summary["coefficients"] == [
        {"feature": "income", "weight": -1.5},
        {"feature": "debt", "weight": 0.75},
        {"feature": "age", "weight": 0.25},
    ]
    assert (summary["intercept"], summary["iterations"], summary["converged"]) == (-0.125, 12, True)


def test_hetero_lr_arbiter_has_no_coefficients(tmp_path: Path) -> None:
    summary = saved(tmp_path, {"model": "hetero_lr", "role": "arbiter", "n_iter": 3, "converged": False})
    assert summary["coefficients"] == [] and summary["intercept"] is None and summary["converged"] is False


def test_homo_nn_rounds_count_from_one_with_workers_seconds_loss_and_accuracy(tmp_path: Path) -> None:
    history = [
        {"round": 0, "workers": 3, "seconds": 0.5, "eval_loss": 1.2, "eval_accuracy": 0.6, "missing": []},
        {"round": 1, "workers": 2, "seconds": 0.25, "eval_loss": 0.8, "eval_accuracy": 0.75, "missing": ["host:10001"]},
        {"round": "bad"},
    ]
    meta = {"model": "homo_nn", "role": "arbiter", "framework": "torch", "history": history, "final_accuracy": 0.8}
    summary = saved(tmp_path, meta)
    assert summary["rounds"] == [
        {"round": 1, "workers": 3.0, "seconds": 0.5, "loss": 1.2, "accuracy": 0.6, "missing": []},
        {"round": 2, "workers": 2.0, "seconds": 0.25, "loss": 0.8, "accuracy": 0.75, "missing": ["host:10001"]},
    ]
    assert summary["final_accuracy"] == 0.8


def tree_arrays(prefix: str) -> dict[str, np.ndarray]:
    """root: guest's feature 1 < 2.5; left: host 10000's split 7; leaves."""
    return {
        f"{prefix}left": np.array([1, 3, -1, -1, -1], dtype=np.int32),
        f"{prefix}right": np.array([2, 4, -1, -1, -1], dtype=np.int32),
        f"{prefix}owner": np.array([0, 1, -1, -1, -1], dtype=np.int32),
        f"{prefix}feature": np.array([1, -1, -1, -1, -1], dtype=np.int32),
        f"{prefix}threshold": np.array([2.5, 0, 0, 0, 0], dtype=np.float64),
        f"{prefix}missing_left": np.array([True, False, False, False, False]),
        f"{prefix}split_id": np.array([-1, 7, -1, -1, -1], dtype=np.int64),
        f"{prefix}weight": np.array([0, 0, 0.5, -0.25, 0.125], dtype=np.float64),
        f"{prefix}gain": np.array([3.0, 1.0, 0, 0, 0], dtype=np.float64),
    }


def test_secureboost_guest_sees_its_splits_by_name_and_hosts_splits_as_ids(tmp_path: Path) -> None:
    importance = {"income": {"splits": 1, "gain": 3.0}, "host_10000_feature_2": {"splits": 1, "gain": 1.0}}
    meta = {"model": "hetero_secureboost", "role": "guest", "feature_names": ["age", "income"], "trees": 1,
            "hosts": [10000], "objective": "binary", "feature_importance": importance}  # fmt: skip
    summary = saved(tmp_path, meta, tree_arrays("tree0_"))
    assert summary["trees"] == [[
        {"depth": 0, "text": "income < 2.5 (missing: yes)", "leaf": False},
        {"depth": 1, "text": "host 10000, split #7", "leaf": False},
        {"depth": 2, "text": "leaf -0.25", "leaf": True},
        {"depth": 2, "text": "leaf +0.125", "leaf": True},
        {"depth": 1, "text": "leaf +0.5", "leaf": True},
    ]]  # fmt: skip
    assert [f["feature"] for f in summary["importance"]] == ["income", "host_10000_feature_2"]


def test_a_cyclic_damaged_tree_does_not_loop(tmp_path: Path) -> None:
    arrays = tree_arrays("tree0_")
    arrays["tree0_left"] = np.array([0, 3, -1, -1, -1], dtype=np.int32)  # the root is its own child
    meta = {"model": "hetero_secureboost", "role": "guest", "feature_names": ["a", "b"], "trees": 1, "hosts": [1]}
    (tree,) = saved(tmp_path, meta, arrays)["trees"]
    assert len(tree) <= model_views.VALUES_SHOWN_MAX


def test_an_unknown_model_kind_has_no_summary(tmp_path: Path) -> None:
    ModelStore(tmp_path).save("j1", "c_0", "model", ModelPart(meta={"model": "other"}, arrays={}))
    assert views.model_parts(tmp_path, "j1", "c_0")[0]["summary"] is None


def dp_metric(name: str, value: float, step: int | None) -> MetricRecord:
    return MetricRecord(job_id="j", component="c", role="arbiter", party_id=1, name=name, step=step,
                        value_json=json.dumps(value))  # fmt: skip


def test_privacy_spent_is_the_latest_epsilon_with_the_configured_delta() -> None:
    records = [dp_metric("epsilon", 0.5, 0), dp_metric("epsilon", 1.25, 4), dp_metric("epsilon", 0.9, 2)]
    spent = views.privacy_spent(records, {"params": {"dp": {"delta": 1e-6}}})
    assert spent == {"epsilon": 1.25, "delta": 1e-6, "kind": "per worker (DP-FedAvg)", "after_round": 5}
    assert views.privacy_spent([dp_metric("loss", 1.0, 0)], {}) is None
