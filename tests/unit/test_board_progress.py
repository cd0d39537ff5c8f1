"""How far a running component is, said the same on the board and in `unseen job query`."""

from __future__ import annotations

import json
from typing import Any

from unseen.board import views
from unseen.board.progress import Point, progress_of
from unseen.cli.waiting import running_progress
from unseen.storage.models import JobRecord, TaskRecord

COMPONENTS: list[dict[str, Any]] = [
    {"name": "lr_0", "component": "hetero_lr", "params": {"max_iter": 30}},
    {"name": "sb_0", "component": "hetero_secureboost"},  # num_trees left to its default (5)
    {"name": "nn_0", "component": "homo_nn", "params": {"rounds": 20}},
    {"name": "reader_0", "component": "reader"},
]


def test_epochs_trees_and_rounds_from_the_latest_step_of_their_metrics() -> None:
    points: list[Point] = [("lr_0", "loss", s) for s in range(12)]
    points += [("sb_0", "train_loss", 2), ("sb_0", "tree_seconds", 9)]
    points += [("nn_0", "round", 6), ("nn_0", "global_loss", 19), ("reader_0", "rows", None)]
    found = progress_of(COMPONENTS, points)
    assert {name: p["text"] for name, p in found.items()} == {
        "lr_0": "epoch 12 of 30",
        "sb_0": "tree 3 of 5",
        "nn_0": "round 7 of 20",
    }
    assert found["lr_0"]["percent"] == 40


def test_a_total_the_config_does_not_give_and_no_default_says_only_the_count() -> None:
    found = progress_of([{"name": "x", "component": "hetero_lr"}], [("x", "loss", 4)], defaults=lambda k, p: None)
    assert found["x"]["text"] == "epoch 5"


def task(component: str, status: str) -> TaskRecord:
    return TaskRecord(job_id="j1", component=component, role="guest", party_id=9999, status=status, reason="",
                      exit_code=None, log_path="", created_at=1.0, started_at=1.0, ended_at=None)  # fmt: skip


def test_the_job_page_shows_progress_for_running_components_only() -> None:
    components = [COMPONENTS[0], COMPONENTS[3]]
    config = {"parties": {"guest": [9999]}, "components": components}
    record = JobRecord(job_id="j1", name="", status="running", reason="", initiator_party=9999, is_initiator=True,
                       config_json=json.dumps(config), created_at=1.0, started_at=1.0, ended_at=None)  # fmt: skip
    tasks = [task(component, status) for component, status in (("lr_0", "running"), ("reader_0", "success"))]
    progress = progress_of(components, [("lr_0", "loss", 2), ("reader_0", "loss", 1)])
    detail = views.job_detail(record, tasks, now=5.0, local_party=9999, progress=progress)
    assert [(n["name"], n["progress"] and n["progress"]["text"]) for n in detail["dag"]["nodes"]] == [
        ("lr_0", "epoch 3 of 30"),
        ("reader_0", None),
    ]
    assert detail["progress"] == "lr_0: epoch 3 of 30"


def test_job_query_reports_the_running_components_progress() -> None:
    job = {
        "config": {"components": COMPONENTS},
        "tasks": [{"component": "nn_0", "status": "running"}, {"component": "lr_0", "status": "success"}],
    }
    metrics = [
        {"component": "nn_0", "name": "round", "step": 3, "value": 4},
        {"component": "lr_0", "name": "loss", "step": 29, "value": 0.1},
        {"component": "nn_0", "name": "round", "step": True, "value": 1},
    ]
    assert running_progress(job, metrics) == {"nn_0": "round 4 of 20"}
