"""What the board shows: charts only for metrics that exist and have the expected shape, the DAG's levels,
a component's state from its tasks, and a log read in whole lines from an offset."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unseen.board import views
from unseen.storage.models import JobRecord, MetricRecord, TaskRecord
from unseen.storage.models_store import ModelPart, ModelStore


def metric(name: str, value: object, step: int | None = None, role: str = "guest", party: int = 9999) -> MetricRecord:
    return MetricRecord(
        job_id="j", component="c", role=role, party_id=party, name=name, step=step, value_json=json.dumps(value)
    )


def kinds(result: dict[str, object]) -> list[str]:
    charts = result["charts"]
    assert isinstance(charts, list)
    return [chart["kind"] for chart in charts]


def test_nothing_logged_draws_nothing() -> None:
    assert views.metric_views([]) == {"charts": [], "values": [], "other": [], "flags": [], "count": 0}


def test_whether_a_model_converged_is_flagged_per_party() -> None:
    records = [
        metric("loss", 0.5, step=0),
        metric("converged", 0.0),
        metric("epochs_run", 30.0),
        metric("converged", 1.0, role="host", party=10000),
        metric("epochs_run", 12.0, role="host", party=10000),
        metric("auc", 0.9, role="host", party=10001),
    ]
    assert views.metric_views(records)["flags"] == [
        {
            "who": "guest:9999",
            "converged": False,
            "text": "did not converge in 30 epochs: raise max_iter or learning_rate",
        },
        {"who": "host:10000", "converged": True, "text": "converged in 12 epochs"},
    ]


def test_a_number_per_step_is_a_line_per_party_in_step_order() -> None:
    records = [metric("loss", 0.5, step=1), metric("loss", 0.9, step=0), metric("loss", 0.7, step=0, role="host")]
    (chart,) = views.metric_views(records)["charts"]
    assert (
        chart["kind"] == "line" and chart["title"] == "Training loss per iteration" and chart["x_label"] == "iteration"
    )
    assert chart["series"] == [
        {"name": "guest:9999", "points": [[0.0, 0.9], [1.0, 0.5]]},
        {"name": "host:9999", "points": [[0.0, 0.7]]},
    ]


def test_accuracy_is_per_round_and_plain_numbers_are_a_table() -> None:
    result = views.metric_views([metric("accuracy", 0.8, step=0), metric("auc", 0.91)])
    assert result["charts"][0]["title"] == "Accuracy per round"
    assert result["values"] == [{"name": "auc", "who": "guest:9999", "value": 0.91, "label": "AUC", "text": "0.910"}]


def test_round_metrics_count_rounds_from_one_with_titles_in_words() -> None:
    (chart,) = views.metric_views([metric("global_loss", 0.5, step=0), metric("global_loss", 0.4, step=1)])["charts"]
    assert chart["title"] == "Global loss (the aggregator's evaluation) per round"
    assert chart["series"][0]["points"] == [[1.0, 0.5], [2.0, 0.4]]


def test_roc_ks_and_confusion_matrix_become_their_charts_in_a_fixed_order() -> None:
    records = [
        metric("confusion_matrix", {"labels": [0, 1], "matrix": [[5, 1], [2, 7]]}),
        metric("ks_curve", {"threshold": [1.0, 0.5, 0.0], "tpr": [0.0, 0.8, 1.0], "fpr": [0.0, 0.3, 1.0]}),
        # without thresholds, no decision charts: KS stays by threshold
        metric("roc", {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 1.0, 1.0], "extra": 1}),
        metric("loss", 1.0, step=0),
    ]
    result = views.metric_views(records)
    assert kinds(result) == ["line", "roc", "ks", "confusion"]
    roc, ks, confusion = result["charts"][1:]
    assert roc["series"][0]["auc"] == pytest.approx(0.75)
    assert "AUC 0.750 (guest:9999)" in roc["title"]
    assert ks["series"][0]["ks"] == pytest.approx(0.5) and ks["series"][0]["at"] == 0.5
    assert confusion["labels"] == ["0", "1"] and confusion["matrix"] == [[5.0, 1.0], [2.0, 7.0]]


def test_roc_and_confusion_matrix_give_ks_by_population_gain_lift_pr_and_accuracy_f1() -> None:
    records = [  # P = 9 positives (second row), N = 6 negatives
        metric("confusion_matrix", {"labels": [0, 1], "matrix": [[5, 1], [2, 7]]}),
        metric("ks_curve", {"threshold": [1.0, 0.5, 0.0], "tpr": [0.0, 1.0, 1.0], "fpr": [0.0, 0.5, 1.0]}),
        metric("roc", {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 1.0, 1.0], "thresholds": [1, 0.5, 0]}),
    ]
    result = views.metric_views(records, threshold=0.5)
    charts = {c["metric"]: c for c in result["charts"]}
    assert "ks" not in kinds(result), "KS is drawn by population fraction, not by threshold"
    ks = charts["ks-population"]
    assert ks["title"] == "KS by population fraction: 0.500 at the top 80.0 % (guest:9999)"
    assert ks["series"][2]["points"] == [[0.0, 0.0], [0.8, 0.5], [1.0, 0.0]]
    assert charts["gain"]["series"][0]["points"] == [[0.0, 0.0], [0.8, 1.0], [1.0, 1.0]]
    assert charts["lift"]["series"][0]["points"] == [[0.8, 1.25], [1.0, 1.0]]
    assert charts["pr"]["series"][0]["points"] == [[1.0, 0.6], [1.0, 0.75]]
    accuracy, f1 = charts["accuracy-f1"]["series"]
    assert accuracy["points"] == [[0.0, 0.6], [0.5, 0.8], [1.0, 0.4]]
    assert f1["points"][1] == [0.5, pytest.approx(0.857143)]
    confusion = charts["confusion_matrix"]
    assert confusion["title"] == "Confusion matrix at threshold 0.5 (guest:9999)"
    assert confusion["percent"] == [[33.3, 6.7], [13.3, 46.7]]
    assert confusion["row_percent"] == [[83.3, 16.7], [22.2, 77.8]]


@pytest.mark.parametrize(
    "value",
    [
        {"fpr": [0, 1], "tpr": [0]},  # lengths differ
        {"fpr": [0, "x"], "tpr": [0, 1]},  # not numbers
        {"fpr": [], "tpr": []},  # empty
        {"tpr": [0, 1]},  # missing
        [0, 1],  # not an object
    ],
)
def test_a_malformed_curve_is_shown_as_text_not_as_a_wrong_chart(value: object) -> None:
    result = views.metric_views([metric("roc", value)])
    assert result["charts"] == []
    assert result["other"][0]["name"] == "roc"


def test_a_repeated_curve_shows_its_latest_value() -> None:
    old = metric("roc", {"fpr": [0, 1], "tpr": [0, 1]}, step=0)
    new = metric("roc", {"fpr": [0, 0, 1], "tpr": [0, 1, 1]}, step=1)
    (chart,) = views.metric_views([old, new])["charts"]
    assert chart["series"][0]["auc"] == pytest.approx(1.0)


def test_long_curves_are_thinned_keeping_both_ends() -> None:
    n = 10 * views.CURVE_MAX_POINTS
    xs = [i / (n - 1) for i in range(n)]
    (chart,) = views.metric_views([metric("roc", {"fpr": xs, "tpr": xs})])["charts"]
    points = chart["series"][0]["points"]
    assert len(points) <= views.CURVE_MAX_POINTS
    assert points[0] == [0.0, 0.0] and points[-1] == [1.0, 1.0]


def job(config: Mapping[str, object], status: str = "running") -> JobRecord:
    return JobRecord(
        job_id="j1",
        name="n",
        initiator_party=9999,
        is_initiator=True,
        config_json=json.dumps(config),
        status=status,
        reason="",
        created_at=100.0,
        started_at=100.0,
        ended_at=None,
    )


def test_dag_columns_are_topological_levels_and_rows_keep_the_config_order() -> None:
    components: list[dict[str, Any]] = [
        {"name": "reader_0", "component": "reader"},
        {"name": "reader_1", "component": "reader"},
        {"name": "psi_0", "component": "psi", "inputs": {"a": "reader_0.data", "b": "reader_1.data"}},
        {"name": "lr_0", "component": "hetero_lr", "inputs": {"data": "psi_0.data"}},
        {"name": "eval_0", "component": "evaluation", "inputs": {"data": "lr_0.data", "raw": "reader_0.data"}},
    ]
    assert views.dag_layout(components) == {
        "reader_0": (0, 0),
        "reader_1": (0, 1),
        "psi_0": (1, 0),
        "lr_0": (2, 0),
        "eval_0": (3, 0),
    }


def test_job_detail_colours_components_and_lists_edges() -> None:
    config = {
        "parties": {"guest": [9999], "host": [10000]},
        "components": [{"name": "a", "component": "x"}, {"name": "b", "component": "y", "inputs": {"d": "a.d"}}],
    }
    detail = views.job_detail(job(config), [], now=103.0, local_party=9999)
    assert detail["parties_text"] == "guest 9999 · host 10000"
    assert detail["duration"] == "3.0 s"
    assert detail["dag"]["edges"] == [{"source": "a", "target": "b"}]
    assert [n["status"] for n in detail["dag"]["nodes"]] == ["waiting", "waiting"]


def test_a_job_with_a_damaged_config_still_shows() -> None:
    record = job({})
    record.config_json = "not json"
    assert views.job_detail(record, [], now=101.0, local_party=9999)["dag"]["nodes"] == []


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([], "waiting"),
        (["success", "success"], "success"),
        (["success", "running"], "running"),
        (["success", "waiting"], "running"),
        (["running", "failed"], "failed"),
        (["success", "canceled"], "canceled"),
        (["timeout", "canceled"], "timeout"),
    ],
)
def test_a_components_state_is_the_one_to_notice_first(states: list[str], expected: str) -> None:
    assert views.component_status(states) == expected


def test_a_running_tasks_log_is_sent_in_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "task.log"
    log.write_bytes(b"first line\nsecond li")
    chunk = views.read_log_chunk(log, 0, complete=False)
    assert chunk["text"] == "first line\n" and chunk["offset"] == 11
    with log.open("ab") as handle:
        handle.write(b"ne\n")
    chunk = views.read_log_chunk(log, chunk["offset"], complete=False)
    assert chunk["text"] == "second line\n"
    assert views.read_log_chunk(log, chunk["offset"], complete=False)["text"] == ""


def test_an_ended_tasks_last_line_is_sent_even_without_a_newline(tmp_path: Path) -> None:
    log = tmp_path / "task.log"
    log.write_text("done")
    assert views.read_log_chunk(log, 0, complete=True)["text"] == "done"


def test_the_first_look_at_a_long_log_is_its_tail_from_a_line_start(tmp_path: Path) -> None:
    log = tmp_path / "task.log"
    log.write_text("".join(f"line {i}\n" for i in range(1000)))
    chunk = views.read_log_chunk(log, -1, complete=True, limit=100)
    assert chunk["text"].startswith("line ") and chunk["text"].endswith("line 999\n")
    assert chunk["skipped"] > 0 and chunk["offset"] == log.stat().st_size


def test_a_missing_log_is_reported_not_raised(tmp_path: Path) -> None:
    assert views.read_log_chunk(tmp_path / "nope.log", 0, complete=False)["missing"] is True


def test_model_summaries_read_npz_headers_without_loading_arrays(tmp_path: Path) -> None:
    ModelStore(tmp_path).save(
        "j1", "lr_0", "model", ModelPart(meta={"iterations": 3}, arrays={"coef": np.zeros((4, 2), dtype=np.float32)})
    )
    (part,) = views.model_parts(tmp_path, "j1", "lr_0")
    assert part["slot"] == "model"
    assert part["arrays"] == [{"name": "coef", "shape": [4, 2], "dtype": "float32"}]
    assert '"iterations": 3' in part["meta"]


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, ""), (2.04, "2.0 s"), (75, "1 min 15 s"), (3 * 3600 + 120, "3 h 02 min")]
)
def test_durations_read_like_a_person_writes_them(seconds: float | None, text: str) -> None:
    assert views.fmt_duration(seconds) == text


def test_a_participant_shows_components_that_run_elsewhere_as_such_not_waiting() -> None:
    config = {
        "parties": {"guest": [9999], "arbiter": [10001]},
        "components": [{"name": "reader_0", "component": "reader"}, {"name": "lr_0", "component": "hetero_lr"}],
    }
    record = job(config, status="success")
    record.is_initiator, record.ended_at = False, 110.0
    lr = TaskRecord(
        job_id="j1", component="lr_0", role="arbiter", party_id=10001, status="success", reason="",
        exit_code=0, log_path="", created_at=100.0, started_at=101.0, ended_at=109.0,
    )  # fmt: skip
    detail = views.job_detail(record, [lr], now=500.0, local_party=10001)
    assert [n["status"] for n in detail["dag"]["nodes"]] == [views.ELSEWHERE, "success"]
    assert detail["tasks"][0]["duration"] == "8.0 s"
