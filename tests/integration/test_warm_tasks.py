"""Tasks forked warm from the node's task zygote are as isolated as cold ones, and a dead zygote costs nothing
but speed: each task its own process, session, working folder, token, environment and log; a stopped job's
tasks are killed; a zygote killed under the node is replaced, the tasks in between starting cold."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Site, make_site, stop_site

pytestmark = pytest.mark.integration
PARTY = 10000
ROLES = ("guest", "host")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    running = make_site(tmp_path_factory.mktemp("home"), [PARTY], start=False)
    running.env["UNSEEN_COMPONENTS"] += ",unseen_test_whoami"
    running.env["UNSEEN_TEST_MARK"] = "from-the-node"
    started = running.cli("standalone", "start", "--parties", str(PARTY), "--base-port", str(running.base_port))
    assert started.returncode == 0, started.stdout + started.stderr
    yield running
    stop_site(running)


def whoami_job(out: Path, hold: Path | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"out_dir": str(out)}
    if hold is not None:
        params["hold_file"] = str(hold)
    return {
        "name": "whoami",
        "initiator": {"role": "guest", "party_id": PARTY},
        "parties": {"guest": [PARTY], "host": [PARTY]},
        "components": [{"name": "whoami_0", "component": "whoami", "params": params}],
    }


def zygote_pids(site: Site) -> list[int]:
    return [int(pid) for pid in re.findall(r"task zygote started, pid (\d+)", site.node_log(PARTY))]


def wait_zygote_ready(site: Site) -> int:
    socket_path = site.standalone.node_config(PARTY).zygote_socket
    site.wait_for(lambda: socket_path.exists() and zygote_pids(site), 60, "the task zygote to be ready")
    return zygote_pids(site)[-1]


def run_job(site: Site, out: Path, hold: Path | None = None) -> tuple[str, dict[str, dict[str, Any]]]:
    out.mkdir(parents=True, exist_ok=True)
    client = site.client(PARTY)
    job_id: str = client.post("/jobs", whoami_job(out, hold))["job_id"]
    files = [out / f"whoami-{role}-{PARTY}.json" for role in ROLES]
    site.wait_for(lambda: all(f.exists() and f.read_text() for f in files), 60, "both tasks to report")
    return job_id, {role: json.loads(f.read_text()) for role, f in zip(ROLES, files, strict=True)}


def final(site: Site, job_id: str) -> dict[str, Any]:
    client = site.client(PARTY)
    site.wait_for(lambda: client.get(f"/jobs/{job_id}")["status"] not in ("waiting", "running"), 60, "job end")
    job: dict[str, Any] = client.get(f"/jobs/{job_id}")
    return job


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def dead(pid: int) -> bool:
    """Gone, or a zombie its parent (the node, for the zygote) has not reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def start_lines(site: Site, job_id: str) -> list[str]:
    return re.findall(rf"started task {job_id}/whoami_0 as \S+, pid \d+ \((\w+)\)", site.node_log(PARTY))


def test_warm_tasks_each_get_their_own_process_session_folder_token_env_and_log(site: Site, tmp_path: Path) -> None:
    zygote = wait_zygote_ready(site)
    node_pid = site.standalone.pid_of(PARTY)
    job_id, facts = run_job(site, tmp_path / "out")
    assert final(site, job_id)["status"] == "success"
    assert start_lines(site, job_id) == ["warm", "warm"]

    pids = {facts[role]["pid"] for role in ROLES}
    assert len(pids) == 2 and zygote not in pids and node_pid not in pids
    draws = {facts[role]["draw"] for role in ROLES}
    assert len(draws) == 2, "numpy's global generator must be drawn afresh in each task"
    jobs = site.standalone.node_dir(PARTY) / "jobs" / job_id / "whoami_0"
    metrics = site.client(PARTY).get(f"/jobs/{job_id}/metrics", component="whoami_0")
    for role in ROLES:
        mine = facts[role]
        assert mine["ppid"] == zygote  # forked by the zygote, not started by the node
        assert mine["sid"] == mine["pid"] == mine["pgid"]  # a session and process group of its own
        assert Path(mine["cwd"]) == (jobs / f"{role}_{PARTY}").resolve()
        assert mine["token_in_env"] is False  # taken out of the environment before the component runs
        assert mine["mark"] == "from-the-node"
        # the metric went through the node with this task's own token, under its own role
        assert [m["value"] for m in metrics if m["role"] == role and m["name"] == "pid"] == [mine["pid"]]
        log = (jobs / f"{role}_{PARTY}" / "task.log").read_text()
        assert f"whoami pid {mine['pid']}" in log and "task succeeded" in log
        other = facts["host" if role == "guest" else "guest"]["pid"]
        assert f"whoami pid {other}" not in log


def test_stopping_a_job_kills_its_warm_tasks(site: Site, tmp_path: Path) -> None:
    wait_zygote_ready(site)
    job_id, facts = run_job(site, tmp_path / "out", hold=tmp_path / "never")
    pids = [facts[role]["pid"] for role in ROLES]
    assert all(alive(pid) for pid in pids)
    assert start_lines(site, job_id) == ["warm", "warm"]
    stopped = site.cli("job", "stop", "-j", job_id)
    assert stopped.returncode == 0, stopped.stderr
    job = final(site, job_id)
    assert job["status"] == "canceled"
    assert [t["status"] for t in job["tasks"]] == ["canceled", "canceled"]
    site.wait_for(lambda: not any(alive(pid) for pid in pids), 15, "task processes to exit")


def test_a_killed_zygote_is_replaced_and_tasks_meanwhile_start_cold(site: Site, tmp_path: Path) -> None:
    zygote = wait_zygote_ready(site)
    time.sleep(11)  # past the crash-loop bound, so that this counts as a crash, not a zygote unable to start
    os.kill(zygote, signal.SIGKILL)
    site.wait_for(lambda: dead(zygote), 10, "the zygote to die")

    job_id, facts = run_job(site, tmp_path / "cold")
    assert final(site, job_id)["status"] == "success"
    assert start_lines(site, job_id)[0] == "cold"
    node_log = site.node_log(PARTY)
    assert len(re.findall(rf"the task zygote \(pid {zygote}\) exited with signal SIGKILL", node_log)) == 1
    cold = facts["guest"] if start_lines(site, job_id)[0] == "cold" else facts["host"]
    assert cold["ppid"] == site.standalone.pid_of(PARTY) and cold["sid"] == cold["pid"]

    replacement = wait_zygote_ready(site)
    assert replacement != zygote
    job_id, facts = run_job(site, tmp_path / "warm-again")
    assert final(site, job_id)["status"] == "success"
    assert start_lines(site, job_id) == ["warm", "warm"]
    assert {facts[role]["ppid"] for role in ROLES} == {replacement}
