"""Jobs end cleanly on every party: stopped, failed at one party, interrupted by a node restart, or
refused because a partner's node is down. Uses the ``hold`` test component (plugins/)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Site, make_site, stop_site

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh_site(tmp_path: Path) -> Iterator[Site]:
    running = make_site(tmp_path / "home", [9999, 10000])
    yield running
    stop_site(running)


def hold_job(release: Path, guest: int = 9999, host: int = 10000, **params: Any) -> dict[str, Any]:
    return {
        "name": "hold",
        "initiator": {"role": "guest", "party_id": guest},
        "parties": {"guest": [guest], "host": [host]},
        "components": [
            {"name": "hold_0", "component": "hold", "params": {"release_file": str(release), **params}},
        ],
    }


def submit_and_wait_running(site: Site, job: dict[str, Any], flags: Path) -> str:
    job_id: str = site.client(job["initiator"]["party_id"]).post("/jobs", job)["job_id"]
    expected = [flags / f"started-{role}-{party[0]}" for role, party in job["parties"].items()]
    site.wait_for(lambda: all(f.exists() for f in expected), what="both tasks to start")
    return job_id


def final_job(site: Site, party: int, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
    client = site.client(party)
    site.wait_for(lambda: client.get(f"/jobs/{job_id}")["status"] not in ("waiting", "running"), timeout, "job end")
    job: dict[str, Any] = client.get(f"/jobs/{job_id}")
    return job


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def task_pids(site: Site, job_id: str) -> list[int]:
    pids = []
    for party in (9999, 10000):
        for task in site.standalone.node_dir(party).glob(f"jobs/{job_id}/*/*/task.json"):
            log = task.with_name("task.log").read_text()
            pids.append(int(log.split("pid ")[1].split(")")[0]))
    return pids


def test_job_stop_kills_tasks_on_every_party(fresh_site: Site, tmp_path: Path) -> None:
    job_id = submit_and_wait_running(fresh_site, hold_job(tmp_path / "never"), tmp_path)
    pids = task_pids(fresh_site, job_id)
    assert len(pids) == 2 and all(alive(pid) for pid in pids)

    result = fresh_site.cli("job", "stop", "-j", job_id)
    assert result.returncode == 0 and "stopping on every party" in result.stdout
    job = final_job(fresh_site, 9999, job_id)
    assert job["status"] == "canceled" and job["reason"] == "stopped by user"
    fresh_site.wait_for(lambda: not any(alive(pid) for pid in pids), 15, "task processes to exit")
    host_view = fresh_site.client(10000).get(f"/jobs/{job_id}")
    assert host_view["status"] == "canceled"
    assert [t["status"] for t in host_view["tasks"]] == ["canceled"]


def test_a_task_failing_at_one_party_fails_the_job_everywhere(fresh_site: Site, tmp_path: Path) -> None:
    release = tmp_path / "go"
    job_id = submit_and_wait_running(fresh_site, hold_job(release, fail_role="host"), tmp_path)
    release.touch()
    job = final_job(fresh_site, 9999, job_id)
    assert job["status"] == "failed"
    assert "hold_0 failed at host:10000: RuntimeError: host was asked to fail" in job["reason"]
    host_view = final_job(fresh_site, 10000, job_id)
    assert host_view["status"] == "failed"


def test_a_job_that_succeeds_releases_both_parties(fresh_site: Site, tmp_path: Path) -> None:
    release = tmp_path / "go"
    job_id = submit_and_wait_running(fresh_site, hold_job(release), tmp_path)
    release.touch()
    assert final_job(fresh_site, 9999, job_id)["status"] == "success"
    assert final_job(fresh_site, 10000, job_id)["status"] == "success"


def test_a_node_restarted_mid_job_marks_its_tasks_failed_and_keeps_its_jobs(fresh_site: Site, tmp_path: Path) -> None:
    toy = fresh_site.cli("test", "toy", "-gid", "9999", "-hid", "10000")
    assert toy.returncode == 0
    earlier = {job["job_id"] for job in fresh_site.client(10000).get("/jobs")}
    job_id = submit_and_wait_running(fresh_site, hold_job(tmp_path / "never"), tmp_path)

    node_pid = fresh_site.standalone.pid_of(10000)
    assert node_pid is not None
    os.kill(node_pid, signal.SIGKILL)  # a crash, not a clean stop
    fresh_site.wait_for(lambda: fresh_site.standalone.pid_of(10000) is None, 10, "node to die")
    restarted = fresh_site.cli("standalone", "start")
    assert restarted.returncode == 0, restarted.stderr

    host_view = fresh_site.client(10000).get(f"/jobs/{job_id}")
    assert host_view["status"] == "failed"
    assert "restarted" in host_view["tasks"][0]["reason"]
    assert earlier <= {job["job_id"] for job in fresh_site.client(10000).get("/jobs")}
    job = final_job(fresh_site, 9999, job_id, timeout=60)
    assert job["status"] == "failed" and "host:10000" in job["reason"]


def test_a_host_that_is_down_gives_a_clear_error_quickly(tmp_path: Path) -> None:
    site = make_site(tmp_path / "home", [9999, 10000, 10001], start=False)
    site.standalone.configure(site.parties, site.base_port)
    for party in (9999, 10000):
        site.standalone.start_node(party)
        site.standalone.wait_healthy(party)
    try:
        began = time.monotonic()
        result = site.cli("test", "toy", "-gid", "9999", "-hid", "10001", "--timeout", "60")
        elapsed = time.monotonic() - began
        assert result.returncode == 1
        assert "party 10001's node at 127.0.0.1:" in result.stderr
        assert "is unreachable" in result.stderr
        assert elapsed < 30, f"took {elapsed:.1f} s"
    finally:
        for party in (9999, 10000):  # started by this process, so stopped (and reaped) by it
            site.standalone.stop_node(party)
