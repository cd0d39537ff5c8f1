"""The jobs list pages and sorts in the database, so every job is reachable, not only the newest few hundred;
each row says which roles this node's party plays and when the job ended."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, update

from unseen.board import views
from unseen.board.job_list import JobListQuery, list_page
from unseen.storage.models import JobRecord
from unseen.storage.repository import NodeStore


@pytest.fixture
def store(engine: Engine) -> NodeStore:
    store = NodeStore(engine)
    config = json.dumps({"parties": {"guest": [9999], "host": [10000, 10001], "arbiter": [10000]}})
    for i in range(620):
        store.add_job(f"2026010100000000{i:04d}", f"job-{i % 7}", 9999, True, config)
    with store.session() as db, db.begin():
        for i in range(620):  # created one second apart, started 10 s later, run i seconds
            db.execute(
                update(JobRecord)
                .where(JobRecord.job_id == f"2026010100000000{i:04d}")
                .values(
                    created_at=1000.0 + i,
                    started_at=1010.0 + i,
                    ended_at=1010.0 + 2 * i,
                    status="success" if i % 2 else "failed",
                )
            )
    return store


def ids(jobs: list[JobRecord]) -> list[int]:
    return [int(j.job_id[-4:]) for j in jobs]


def test_every_job_is_reachable_by_paging_past_the_first_hundreds(store: NodeStore) -> None:
    first, total = list_page(store.session, JobListQuery.parse())
    assert total == 620 and ids(first) == list(range(619, 569, -1))
    last, _ = list_page(store.session, JobListQuery.parse(page="13"))
    assert ids(last) == list(range(19, -1, -1))


def test_sorting_by_duration_ascending_and_filtering_by_state_and_name(store: NodeStore) -> None:
    shortest, _ = list_page(store.session, JobListQuery.parse(sort="duration", order="asc", per="3"))
    assert ids(shortest) == [0, 1, 2]
    failed, total = list_page(store.session, JobListQuery.parse(state="failed", q="JOB-3", per="200"))
    assert total == len([i for i in range(620) if i % 2 == 0 and i % 7 == 3])
    assert all(j.status == "failed" and j.name == "job-3" for j in failed)


def test_untrusted_list_parameters_fall_back_to_defaults() -> None:
    query = JobListQuery.parse(state="<x>", sort="password", order="sideways", page="-4", per="100000")
    assert query == JobListQuery(state="", sort="created", descending=True, page=1, per_page=200)
    assert JobListQuery.parse(q="%_", page="x").params() == {"q": "%_"}


def test_a_search_for_like_wildcards_matches_them_literally(store: NodeStore) -> None:
    assert list_page(store.session, JobListQuery.parse(q="%"))[1] == 0


def test_a_row_says_which_roles_this_party_plays_and_when_the_job_ended(store: NodeStore) -> None:
    (job,), _ = list_page(store.session, JobListQuery.parse(per="1"))
    row = views.job_row(job, now=5000.0, local_party=10000)
    assert row["my_roles"] == "host, arbiter"
    assert row["ended"] == views.fmt_time(1010.0 + 2 * 619)
    assert views.job_row(job, now=5000.0, local_party=12345)["my_roles"] == ""
