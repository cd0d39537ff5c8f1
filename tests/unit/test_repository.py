"""Tests for unseen.storage.repository and database: the node's jobs, tasks and metrics, on SQLite and on
PostgreSQL (``database_url``, tests/conftest.py; the PostgreSQL cases skip when no server is configured)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from unseen.storage.database import migrate, open_engine
from unseen.storage.models import FINAL_STATUSES, Status, TableRecord
from unseen.storage.repository import JobNotFoundError, MetricPoint, NodeStore

TASKS = [("reader_0", "guest", 9999), ("reader_0", "host", 10000), ("lr_0", "guest", 9999), ("lr_0", "host", 10000)]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> NodeStore:
    return NodeStore(engine)


def add_job(store: NodeStore, job_id: str = "job-1", tasks: bool = True) -> None:
    store.add_job(job_id, "toy", initiator_party=9999, is_initiator=True, config_json='{"dag": {}}')
    if tasks:
        store.add_tasks(job_id, TASKS)


def statuses(store: NodeStore, job_id: str = "job-1") -> dict[tuple[str, str, int], str]:
    return {(t.component, t.role, t.party_id): t.status for t in store.tasks(job_id)}


# --- database -----------------------------------------------------------------------------------------------


def test_migrate_creates_the_tables(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"jobs", "tasks", "metrics", "data_tables", "board_users", "alembic_version"} <= tables


def test_migrating_twice_is_harmless_and_keeps_data(database_url: str) -> None:
    url = database_url
    engine = open_engine(url)
    migrate(engine)
    NodeStore(engine).add_job("job-1", "toy", 9999, True, "{}")
    migrate(engine)
    engine.dispose()
    reopened = open_engine(url)
    migrate(reopened)
    with reopened.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    assert len(versions) == 1
    assert NodeStore(reopened).get_job("job-1").name == "toy"
    reopened.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'node.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


# --- jobs ---------------------------------------------------------------------------------------------------


def test_new_job_is_waiting_and_readable(store: NodeStore) -> None:
    created = store.add_job("job-1", "toy", initiator_party=9999, is_initiator=False, config_json='{"a": 1}')
    job = store.get_job("job-1")
    assert job.status == Status.WAITING.value
    assert (job.name, job.initiator_party, job.is_initiator, job.config_json) == ("toy", 9999, False, '{"a": 1}')
    assert job.reason == ""
    assert job.started_at is None
    assert job.ended_at is None
    assert job.created_at == created.created_at


def test_unknown_job_raises_with_a_hint_and_find_returns_none(store: NodeStore) -> None:
    with pytest.raises(JobNotFoundError, match="job nope not found"):
        store.get_job("nope")
    assert store.find_job("nope") is None


def test_duplicate_job_id_is_refused(store: NodeStore) -> None:
    add_job(store, tasks=False)
    with pytest.raises(IntegrityError):
        add_job(store, tasks=False)


def test_job_lifecycle_records_start_and_end(store: NodeStore) -> None:
    add_job(store, tasks=False)
    assert store.set_job_status("job-1", Status.RUNNING)
    running = store.get_job("job-1")
    assert running.status == "running"
    assert running.started_at is not None
    assert running.ended_at is None
    assert store.set_job_status("job-1", Status.SUCCESS)
    done = store.get_job("job-1")
    assert done.status == "success"
    assert done.started_at == running.started_at
    assert done.ended_at is not None
    assert done.ended_at >= done.started_at


@pytest.mark.parametrize("first", sorted(FINAL_STATUSES))
def test_first_final_job_state_wins(store: NodeStore, first: Status) -> None:
    add_job(store, tasks=False)
    store.set_job_status("job-1", Status.RUNNING)
    assert store.set_job_status("job-1", first, reason="first reason")
    ended_at = store.get_job("job-1").ended_at
    for later in (*sorted(FINAL_STATUSES), Status.RUNNING, Status.WAITING):
        assert not store.set_job_status("job-1", later, reason="later reason")
    job = store.get_job("job-1")
    assert job.status == first.value
    assert job.reason == "first reason"
    assert job.ended_at == ended_at


def test_status_change_without_reason_keeps_the_previous_reason(store: NodeStore) -> None:
    add_job(store, tasks=False)
    store.set_job_status("job-1", Status.RUNNING, reason="started by 9999")
    store.set_job_status("job-1", Status.FAILED)
    assert store.get_job("job-1").reason == "started by 9999"


def test_set_status_of_an_unknown_job_changes_nothing(store: NodeStore) -> None:
    assert not store.set_job_status("nope", Status.RUNNING)


def test_job_status_follows_every_change_and_reads_the_database_once(store: NodeStore, engine: Engine) -> None:
    assert store.job_status("job-1") is None
    add_job(store, tasks=False)
    assert store.job_status("job-1") == Status.WAITING
    store.set_job_status("job-1", Status.RUNNING)
    assert store.job_status("job-1") == Status.RUNNING
    store.set_job_status("job-1", Status.CANCELED)
    store.set_job_status("job-1", Status.SUCCESS)  # too late: the first ending stays
    assert store.job_status("job-1") == Status.CANCELED
    restarted = NodeStore(engine)  # a new node process on the same database reads it from there
    assert restarted.job_status("job-1") == Status.CANCELED
    with engine.begin() as connection:  # behind the store's back: the status it read stays in memory
        connection.execute(text("UPDATE jobs SET status = 'running' WHERE job_id = 'job-1'"))
    assert restarted.job_status("job-1") == Status.CANCELED


def test_interrupting_a_run_updates_the_statuses_in_memory(store: NodeStore) -> None:
    add_job(store, tasks=False)
    store.set_job_status("job-1", Status.RUNNING)
    assert store.job_status("job-1") == Status.RUNNING
    store.interrupt_active("node restarted", 9999)
    assert store.job_status("job-1") == Status.FAILED


def test_list_jobs_newest_first_with_limit_and_status_filter(store: NodeStore) -> None:
    for index in range(4):
        add_job(store, f"job-{index}", tasks=False)
    store.set_job_status("job-1", Status.FAILED, "x")
    assert [j.job_id for j in store.list_jobs()] == ["job-3", "job-2", "job-1", "job-0"]
    assert [j.job_id for j in store.list_jobs(limit=2)] == ["job-3", "job-2"]
    assert [j.job_id for j in store.list_jobs(status="failed")] == ["job-1"]


# --- tasks --------------------------------------------------------------------------------------------------


def test_tasks_are_added_waiting_in_order_and_filtered_by_party(store: NodeStore) -> None:
    add_job(store)
    tasks = store.tasks("job-1")
    assert [(t.component, t.role, t.party_id) for t in tasks] == TASKS
    assert {t.status for t in tasks} == {"waiting"}
    assert [t.role for t in store.tasks("job-1", party_id=10000)] == ["host", "host"]
    assert store.tasks("other") == []


def test_one_task_is_found_by_component_role_and_party(store: NodeStore) -> None:
    add_job(store)
    task = store.task("job-1", "lr_0", "host", 10000)
    assert task is not None
    assert (task.component, task.role, task.party_id) == ("lr_0", "host", 10000)
    assert store.task("job-1", "lr_0", "arbiter", 10000) is None


def test_same_party_as_guest_and_host_has_two_tasks(store: NodeStore) -> None:
    add_job(store, tasks=False)
    store.add_tasks("job-1", [("toy_0", "guest", 10000), ("toy_0", "host", 10000)])
    store.update_task("job-1", "toy_0", "host", 10000, status=Status.RUNNING)
    assert statuses(store) == {("toy_0", "guest", 10000): "waiting", ("toy_0", "host", 10000): "running"}


def test_duplicate_task_is_refused(store: NodeStore) -> None:
    add_job(store)
    with pytest.raises(IntegrityError):
        store.add_tasks("job-1", [TASKS[0]])


def test_task_of_an_unknown_job_is_refused(store: NodeStore) -> None:
    with pytest.raises(IntegrityError):
        store.add_tasks("no-such-job", [TASKS[0]])


def test_task_lifecycle_updates_fields(store: NodeStore) -> None:
    add_job(store)
    assert store.update_task("job-1", "lr_0", "guest", 9999, status="running", pid=4242, started_at=10.0)
    assert store.update_task(
        "job-1", "lr_0", "guest", 9999, status=Status.SUCCESS, exit_code=0, ended_at=11.0, log_path="/l"
    )
    task = store.task("job-1", "lr_0", "guest", 9999)
    assert task is not None
    assert (task.status, task.pid, task.exit_code, task.started_at, task.ended_at, task.log_path) == (
        "success",
        4242,
        0,
        10.0,
        11.0,
        "/l",
    )


def test_update_task_refuses_an_unknown_status(store: NodeStore) -> None:
    add_job(store)
    with pytest.raises(ValueError, match="finished"):
        store.update_task("job-1", "lr_0", "guest", 9999, status="finished")
    assert statuses(store)[("lr_0", "guest", 9999)] == "waiting"


@pytest.mark.parametrize("final", sorted(FINAL_STATUSES))
def test_ended_task_is_not_changed(store: NodeStore, final: Status) -> None:
    add_job(store)
    store.update_task("job-1", "lr_0", "host", 10000, status=final, reason="first", exit_code=3)
    assert not store.update_task("job-1", "lr_0", "host", 10000, status=Status.RUNNING, reason="late", exit_code=0)
    assert not store.update_task("job-1", "lr_0", "host", 10000, pid=1)
    task = store.task("job-1", "lr_0", "host", 10000)
    assert task is not None
    assert (task.status, task.reason, task.exit_code, task.pid) == (final.value, "first", 3, None)


def test_update_of_an_unknown_task_changes_nothing(store: NodeStore) -> None:
    add_job(store)
    assert not store.update_task("job-1", "lr_0", "arbiter", 1, status=Status.RUNNING)


# --- interrupted runs ---------------------------------------------------------------------------------------


def test_interrupt_active_fails_running_and_waiting_work_and_spares_ended_work(store: NodeStore) -> None:
    add_job(store, "job-1")
    store.set_job_status("job-1", Status.RUNNING)
    store.update_task("job-1", "reader_0", "guest", 9999, status=Status.SUCCESS, reason="ok")
    store.update_task("job-1", "reader_0", "host", 10000, status=Status.CANCELED, reason="user")
    store.update_task("job-1", "lr_0", "guest", 9999, status=Status.RUNNING)
    add_job(store, "job-2", tasks=False)  # still waiting
    add_job(store, "job-3", tasks=False)
    store.set_job_status("job-3", Status.SUCCESS, "done")

    changed = store.interrupt_active("node restarted", 9999)

    assert changed == 1  # lr_0 guest (running); lr_0 host is the partner's task, which only it can end
    assert statuses(store) == {
        ("reader_0", "guest", 9999): "success",
        ("reader_0", "host", 10000): "canceled",
        ("lr_0", "guest", 9999): "failed",
        ("lr_0", "host", 10000): "waiting",
    }
    assert {(t.component, t.role): t.reason for t in store.tasks("job-1")} == {
        ("reader_0", "guest"): "ok",
        ("reader_0", "host"): "user",
        ("lr_0", "guest"): "node restarted",
        ("lr_0", "host"): "",
    }
    assert store.task("job-1", "lr_0", "guest", 9999).ended_at is not None  # type: ignore[union-attr]
    for job_id in ("job-1", "job-2"):
        job = store.get_job(job_id)
        assert (job.status, job.reason) == ("failed", "node restarted")
        assert job.ended_at is not None
    untouched = store.get_job("job-3")
    assert (untouched.status, untouched.reason) == ("success", "done")
    assert [job.job_id for job in store.unsettled_jobs(9999)] == ["job-1"]  # the host's row awaits its answer


def test_unsettled_jobs_are_ended_jobs_with_a_partner_task_still_active(store: NodeStore) -> None:
    add_job(store, "job-1")  # running: its driver still follows the partner
    store.set_job_status("job-1", Status.RUNNING)
    add_job(store, "job-2")
    store.set_job_status("job-2", Status.FAILED, "lost")
    for component, role, party in TASKS:
        if party != 10000:
            store.update_task("job-2", component, role, party, status=Status.CANCELED)
    store.add_job("job-3", "toy", initiator_party=10000, is_initiator=False, config_json="{}")
    store.add_tasks("job-3", [("reader_0", "host", 9999)])
    store.set_job_status("job-3", Status.FAILED, "x")
    assert [job.job_id for job in store.unsettled_jobs(9999)] == ["job-2"]
    for component, role, party in TASKS:
        store.update_task("job-2", component, role, party, status=Status.CANCELED)
    assert store.unsettled_jobs(9999) == []


def test_interrupt_active_on_a_quiet_node_changes_nothing(store: NodeStore) -> None:
    add_job(store)
    for component, role, party in TASKS:
        store.update_task("job-1", component, role, party, status=Status.SUCCESS)
    store.set_job_status("job-1", Status.SUCCESS)
    assert store.interrupt_active("restart", 9999) == 0
    assert store.get_job("job-1").status == "success"


# --- metrics ------------------------------------------------------------------------------------------------


def test_scalar_metrics_with_steps_round_trip_in_order(store: NodeStore) -> None:
    add_job(store)
    points = [MetricPoint("loss", step, 1.0 / (step + 1)) for step in range(5)]
    store.add_metrics("job-1", "lr_0", "guest", 9999, points)
    records = store.metrics("job-1")
    assert [(r.name, r.step, json.loads(r.value_json)) for r in records] == [("loss", p.step, p.value) for p in points]
    assert {(r.component, r.role, r.party_id) for r in records} == {("lr_0", "guest", 9999)}


def test_json_object_metric_without_step_round_trips(store: NodeStore) -> None:
    add_job(store)
    curve = {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.8, 1.0], "thresholds": [1.0, 0.5, 0.0], "name": "roc"}
    store.add_metrics("job-1", "eval_0", "guest", 9999, [MetricPoint("roc", None, curve)])
    [record] = store.metrics("job-1")
    assert record.step is None
    assert json.loads(record.value_json) == curve


def test_metrics_are_filtered_by_job_and_component(store: NodeStore) -> None:
    add_job(store, "job-1")
    add_job(store, "job-2")
    store.add_metrics("job-1", "lr_0", "guest", 9999, [MetricPoint("loss", 0, 0.5)])
    store.add_metrics("job-1", "eval_0", "guest", 9999, [MetricPoint("auc", None, 0.9)])
    store.add_metrics("job-2", "lr_0", "guest", 9999, [MetricPoint("loss", 0, 0.7)])
    assert [r.name for r in store.metrics("job-1")] == ["loss", "auc"]
    assert [r.name for r in store.metrics("job-1", component="eval_0")] == ["auc"]
    assert [json.loads(r.value_json) for r in store.metrics("job-2")] == [0.7]


def test_metrics_of_an_unknown_job_are_refused(store: NodeStore) -> None:
    with pytest.raises(IntegrityError):
        store.add_metrics("no-such-job", "lr_0", "guest", 9999, [MetricPoint("loss", 0, 0.5)])


# --- what PostgreSQL would refuse ---------------------------------------------------------------------------


def test_text_with_a_nul_is_stored_with_a_replacement_character(store: NodeStore) -> None:
    """A partner's failure reason (mirrored as it came) or a login name may carry U+0000, which PostgreSQL's text
    cannot hold: the write must not fail, and both databases keep the same string."""
    add_job(store)
    assert store.update_task("job-1", "lr_0", "host", 10000, status=Status.FAILED, reason="bad\x00reason")
    assert store.set_job_status("job-1", Status.FAILED, reason="party 10000: bad\x00reason")
    task = store.task("job-1", "lr_0", "host", 10000)
    assert task is not None
    assert task.reason == "bad\ufffdreason"
    assert store.get_job("job-1").reason == "party 10000: bad\ufffdreason"


def test_tables_past_32_bit_rows_and_the_longest_names_are_kept(store: NodeStore) -> None:
    longest = f"{'n' * 128}.{'t' * 128}"  # the longest name parse_table_name accepts
    column = "c" * 300  # a CSV header may name its id column at any length
    with store.session() as session, session.begin():
        session.add(
            TableRecord(
                name=longest, rows=2**40, columns_json="[]", id_column=column, label_column=column, created_at=1.0
            )
        )
    add_job(store)
    long_name = "/".join(["epoch"] * 40)  # a component's namespaces make long metric names
    store.add_metrics("job-1", "lr_0", "guest", 9999, [MetricPoint(long_name, 2**40, 0.5)])
    record = store.find_table(longest)
    assert record is not None
    assert (record.rows, record.id_column, record.label_column) == (2**40, column, column)
    assert [(r.name, r.step) for r in store.metrics("job-1")] == [(long_name, 2**40)]
