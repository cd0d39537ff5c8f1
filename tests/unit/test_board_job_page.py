"""The job page: its headline results, its config as YAML, remote tasks' exit codes, and components that never
run at this party shown as "not here"."""

from __future__ import annotations

import json

import yaml
from sqlalchemy import Engine

from unseen.board import views
from unseen.node.driver import mirror_states
from unseen.storage.models import JobRecord, MetricRecord
from unseen.storage.repository import NodeStore
from unseen.transport.proto import federation_pb2 as pb


def metric(component: str, name: str, value: object, step: int | None = None) -> MetricRecord:
    return MetricRecord(job_id="j", component=component, role="guest", party_id=1, name=name, step=step,
                        value_json=json.dumps(value))  # fmt: skip


def test_the_headline_shows_results_in_words_and_rounded_for_people() -> None:
    records = [
        metric("psi_0", "intersection_size", 12345),
        metric("evaluation_0", "ks", 0.61234),
        metric("evaluation_0", "auc", 0.98765),
        metric("evaluation_0", "accuracy", 0.9731),
        metric("lr_0", "loss", 0.3, step=4),  # a curve, not a result
        metric("evaluation_0", "auc", float("nan")),  # not finite: not shown (the earlier value stays)
    ]
    assert views.headline(records) == [
        {"label": "AUC", "value": "0.988", "component": "evaluation_0"},
        {"label": "KS", "value": "0.612", "component": "evaluation_0"},
        {"label": "Accuracy", "value": "97.3 %", "component": "evaluation_0"},
        {"label": "Intersection", "value": "12,345 rows", "component": "psi_0"},
    ]


def test_the_config_is_yaml_in_the_order_it_was_written() -> None:
    config = {"name": "x", "parties": {"guest": [1]}, "components": [{"name": "a", "component": "reader"}]}
    job = JobRecord(job_id="j", name="x", status="success", reason="", initiator_party=1, is_initiator=True,
                    config_json=json.dumps(config), created_at=1.0)  # fmt: skip
    text = views.config_yaml(job)
    assert yaml.safe_load(text) == config
    assert text.index("name: x") < text.index("parties:") < text.index("components:")


def test_a_remote_tasks_exit_code_reaches_the_initiators_record(engine: Engine) -> None:
    store = NodeStore(engine)
    store.add_job("20260101000000000001", "", 9999, True, "{}")
    store.add_tasks("20260101000000000001", [("lr_0", "host", 10000), ("lr_0", "arbiter", 10000)])
    states = pb.TaskStates(
        tasks=[
            pb.TaskState(component="lr_0", role="host", party=10000, status="failed", reason="boom", exit_code=3),
            pb.TaskState(component="lr_0", role="arbiter", party=10000, status="running"),
        ]
    )
    mirror_states(store, "20260101000000000001", 10000, states)
    codes = {t.role: (t.status, t.exit_code) for t in store.tasks("20260101000000000001")}
    assert codes == {"host": ("failed", 3), "arbiter": ("running", None)}


def test_a_component_that_never_runs_here_reads_not_here() -> None:
    assert views.ELSEWHERE == "not-here"
    config = {"parties": {"guest": [9999], "host": [10000]}, "components": [{"name": "evaluation_0"}]}
    job = JobRecord(job_id="j", name="", status="running", reason="", initiator_party=9999, is_initiator=False,
                    config_json=json.dumps(config), created_at=1.0)  # fmt: skip
    detail = views.job_detail(job, [], now=2.0, local_party=10000)
    assert detail["dag"]["nodes"][0]["status"] == "not-here"
    assert detail["my_roles"] == "host"
