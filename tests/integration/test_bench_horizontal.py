"""``bench_horizontal`` on real nodes: an aggregator and 3 workers, each on its own node, plain and secure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Site, make_site, stop_site
from unseen.pipeline import JobHandle

pytestmark = pytest.mark.integration

WORKERS = [9999, 10000, 10001]
ARBITER = 10002


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    running = make_site(tmp_path_factory.mktemp("home") / "h", [*WORKERS, ARBITER])
    yield running
    stop_site(running)


def _rounds(site: Site, job: JobHandle, party: int, role: str) -> list[dict[str, float]]:
    for metric in site.client(party).get(f"/jobs/{job.job_id}/metrics", component="fl_0"):
        if metric["name"] == "rounds" and metric["role"] == role:
            return list(metric["value"]["rounds"])
    raise AssertionError(f"no rounds metric from {role} {party}")


@pytest.mark.parametrize("secure", [False, True])
def test_fedavg_rounds_run_across_four_nodes_and_report_their_phases(four: Site, secure: bool, tmp_path: Path) -> None:
    params = {"model": "synthetic", "parameters": 10_000, "rounds": 2, "warmup": 1, "secure": secure}
    config = {
        "name": "hbench",
        "initiator": {"role": "guest", "party_id": WORKERS[0]},
        "parties": {"guest": WORKERS[:1], "host": WORKERS[1:], "arbiter": [ARBITER]},
        "timeout_s": 120,
        "components": [{"name": "fl_0", "component": "bench_horizontal", "params": params}],
    }
    job = JobHandle(four.client(WORKERS[0]).post("/jobs", config)["job_id"], four.client(WORKERS[0]))
    assert job.wait(timeout=120)["status"] == "success"
    arbiter = _rounds(four, job, ARBITER, "arbiter")
    assert len(arbiter) == 3 and all(r["collect_start_at"] <= r["collect_end_at"] for r in arbiter)
    for party, role in zip(WORKERS, ["guest", "host", "host"], strict=True):
        mine = _rounds(four, job, party, role)
        assert [r["server_round"] for r in mine] == [0, 1, 2]
        # plain: 10,005 float64 values; secure: as many uint64 values plus keys and sealed shares
        expected = 8 * 10_005
        assert all(expected <= r["bytes_sent"] <= expected + (4096 if secure else 0) for r in mine)
