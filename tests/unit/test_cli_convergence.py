"""The CLI's line about whether a model converged, from the metrics a job's tasks logged."""

from __future__ import annotations

from typing import Any

from unseen.cli.waiting import convergence_notes


def point(name: str, value: Any, step: int | None = None, component: str = "hetero_lr_0") -> dict[str, Any]:
    return {"component": component, "role": "guest", "party_id": 9999, "name": name, "step": step, "value": value}


def test_a_model_that_stopped_at_max_iter_is_named_with_its_numbers() -> None:
    points = [
        *(point("loss", 0.5 - i / 100, step=i) for i in range(30)),
        point("converged", 0.0),
        point("epochs_run", 30.0),
        point("loss_change", 1.2e-3),
        point("tol", 1e-4),
        point("auc", 0.97, component="evaluation_0"),
    ]
    assert convergence_notes(points) == [
        "hetero_lr_0: did not converge in 30 epochs (loss change 1.2e-03 > tol 0.0001); raise max_iter or learning_rate"
    ]


def test_a_change_below_tol_that_did_not_last_is_told_apart() -> None:
    points = [point("converged", 0), point("epochs_run", 12), point("loss_change", 5e-5), point("tol", 1e-4)]
    (line,) = convergence_notes(points)
    assert "loss change 5.0e-05 < tol 0.0001, but not for enough epochs in a row" in line


def test_converged_models_and_other_components() -> None:
    points = [
        point("converged", 1.0),
        point("epochs_run", 57.0),
        point("converged", 0.0, component="other_lr"),  # no epochs_run, no loss_change: still said, plainly
        point("auc", 0.99, component="evaluation_0"),
    ]
    assert convergence_notes(points) == [
        "hetero_lr_0: converged in 57 epochs",
        "other_lr: did not converge in 0 epochs; raise max_iter or learning_rate",
    ]


def test_malformed_points_are_skipped() -> None:
    points = [
        point("converged", {"x": [1]}),
        point("converged", True, component="b"),
        point("converged", 0.0, step=3, component="c"),
        {"name": "converged"},
    ]
    assert convergence_notes(points) == []
