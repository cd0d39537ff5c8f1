"""A node's ``task_memory_mb`` on real nodes: a job that asks for more memory than one task may hold fails
cleanly on every party, naming the limit, and the nodes go on serving."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import Site, make_site, stop_site
from unseen.cli.waiting import wait_for_job

pytestmark = pytest.mark.integration

LIMIT_MB = 768


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    running = make_site(tmp_path_factory.mktemp("home") / "h", [9999, 10000], task_memory_mb=LIMIT_MB)
    yield running
    stop_site(running)


def _hog(site: Site, megabytes: int) -> dict[str, Any]:
    config = {
        "name": "hog",
        "initiator": {"role": "guest", "party_id": 9999},
        "parties": {"guest": [9999], "host": [10000]},
        "timeout_s": 120,
        "components": [{"name": "hog_0", "component": "hog", "params": {"megabytes": megabytes}}],
    }
    client = site.client(9999)
    return wait_for_job(client, client.post("/jobs", config)["job_id"], 120)


def test_a_job_past_the_task_memory_limit_fails_naming_it_and_the_nodes_go_on(limited: Site) -> None:
    failed = _hog(limited, 4 * LIMIT_MB)
    assert failed["status"] == "failed"
    assert f"reached this node's limit of {LIMIT_MB} MiB (task_memory_mb)" in failed["reason"], failed["reason"]
    for party in (9999, 10000):
        tasks = limited.client(party).get(f"/jobs/{failed['job_id']}/tasks")
        mine = [t for t in tasks if t["party_id"] == party]
        assert mine and all(t["status"] in {"failed", "canceled"} for t in mine), tasks
    assert _hog(limited, 64)["status"] == "success"  # within the limit, on the same nodes
