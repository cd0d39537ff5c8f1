"""A job whose initiator dies ends on its partners, and every party's record of it agrees afterwards.

The initiator's node is SIGKILLed while every party runs a ``hold`` task (and a ``hold_after`` waits behind
it). Its partners must notice the silence, end the job with a reason naming the initiator and kill their
tasks; the restarted initiator must learn how its partners' tasks ended rather than record them failed.
Also: a stopped job leaves no task row without a final state and an end time on its initiator.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Site, make_site, stop_site

pytestmark = pytest.mark.integration
GUEST, HOST, ARBITER = 9999, 10000, 10001
ACTIVE = ("waiting", "running")


def hold_then_after(release: Path, parties: dict[str, list[int]]) -> dict[str, Any]:
    params = {"release_file": str(release), "timeout_s": 300}
    return {
        "name": "hold",
        "initiator": {"role": "guest", "party_id": GUEST},
        "parties": parties,
        "components": [
            {"name": "hold_0", "component": "hold", "params": params},
            {"name": "after_0", "component": "hold_after", "params": params, "inputs": {"data": "hold_0.data"}},
        ],
    }


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def task_pid(site: Site, party: int, job_id: str, component: str) -> int:
    (log,) = site.standalone.node_dir(party).glob(f"jobs/{job_id}/{component}/*/task.log")
    return int(log.read_text().split("pid ")[1].split(")")[0])


def start_held_job(site: Site, flags: Path, parties: dict[str, list[int]]) -> str:
    job = hold_then_after(flags / "never", parties)
    job_id: str = site.client(GUEST).post("/jobs", job)["job_id"]
    expected = [flags / f"started-{role}-{ids[0]}" for role, ids in parties.items()]
    site.wait_for(lambda: all(f.exists() for f in expected), 60, "every hold task to start")
    return job_id


def kill_initiator(site: Site) -> None:
    pid = site.standalone.pid_of(GUEST)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # a crash: no EndJob, no last word to anyone
    site.wait_for(lambda: site.standalone.pid_of(GUEST) is None, 10, "the initiator's node to die")


def job_view(site: Site, party: int, job_id: str) -> dict[str, Any]:
    view: dict[str, Any] = site.client(party).get(f"/jobs/{job_id}")
    return view


def settled(site: Site, party: int, job_id: str) -> bool:
    view = job_view(site, party, job_id)
    return view["status"] not in ACTIVE and all(t["status"] not in ACTIVE for t in view["tasks"])


def rows(view: dict[str, Any], party: int) -> dict[tuple[str, str], tuple[str, str, float | None]]:
    return {
        (t["component"], t["role"]): (t["status"], t["reason"], t["ended_at"])
        for t in view["tasks"]
        if t["party_id"] == party
    }


def restart_initiator(site: Site) -> None:
    result = site.cli("standalone", "start")
    assert result.returncode == 0, result.stdout + result.stderr


def test_partners_end_a_job_whose_initiator_died_and_the_restarted_initiator_agrees(tmp_path: Path) -> None:
    site = make_site(tmp_path / "home", [GUEST, HOST, ARBITER], initiator_silence_s=5)
    orphan = None
    try:
        parties = {"guest": [GUEST], "host": [HOST], "arbiter": [ARBITER]}
        job_id = start_held_job(site, tmp_path, parties)
        partner_pids = [task_pid(site, party, job_id, "hold_0") for party in (HOST, ARBITER)]
        orphan = task_pid(site, GUEST, job_id, "hold_0")
        assert all(alive(pid) for pid in partner_pids)

        kill_initiator(site)

        for party in (HOST, ARBITER):
            site.wait_for(lambda p=party: settled(site, p, job_id), 90, f"party {party} to end the job")
            view = job_view(site, party, job_id)
            assert view["status"] == "failed"
            assert "initiator party 9999 silent for" in view["reason"]
            statuses = {t["component"]: t for t in view["tasks"]}
            assert statuses["hold_0"]["status"] == "canceled"
            assert "initiator party 9999" in statuses["hold_0"]["reason"]
            assert statuses["after_0"]["status"] == "canceled"  # never started: ended with the job
            assert "before this task started: initiator party 9999" in statuses["after_0"]["reason"]
            assert all(t["ended_at"] is not None for t in view["tasks"])
        site.wait_for(lambda: not any(alive(pid) for pid in partner_pids), 15, "the partners' task processes to end")

        restart_initiator(site)
        site.wait_for(lambda: settled(site, GUEST, job_id), 60, "the restarted initiator to settle the job")
        mine = job_view(site, GUEST, job_id)
        assert mine["status"] == "failed"
        for party in (HOST, ARBITER):
            theirs = job_view(site, party, job_id)
            assert rows(mine, party) == rows(theirs, party)  # what the partner recorded, not a guess
            assert all(status == "canceled" for status, _, _ in rows(mine, party).values())
        assert all(t["ended_at"] is not None for t in mine["tasks"])
    finally:
        if orphan is not None:  # the dead node's own task outlives it; the restarted node does not own it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(orphan, signal.SIGKILL)
        stop_site(site)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Two parties whose watch on a silent initiator is long: a restarted initiator speaks first."""
    running = make_site(tmp_path_factory.mktemp("home"), [GUEST, HOST], initiator_silence_s=300)
    yield running
    stop_site(running)


def test_a_restarted_initiator_ends_the_job_on_its_partner_and_mirrors_how_its_tasks_ended(
    pair: Site, tmp_path: Path
) -> None:
    job_id = start_held_job(pair, tmp_path, {"guest": [GUEST], "host": [HOST]})
    host_pid = task_pid(pair, HOST, job_id, "hold_0")
    orphan = task_pid(pair, GUEST, job_id, "hold_0")
    try:
        kill_initiator(pair)
        restart_initiator(pair)
        pair.wait_for(lambda: settled(pair, HOST, job_id), 60, "the host to end the job")
        theirs = job_view(pair, HOST, job_id)
        assert theirs["status"] == "failed"
        assert theirs["reason"].startswith("initiator party 9999: the node restarted")
        pair.wait_for(lambda: not alive(host_pid), 15, "the host's task process to end")
        pair.wait_for(lambda: settled(pair, GUEST, job_id), 30, "the initiator to mirror the host's answer")
        mine = job_view(pair, GUEST, job_id)
        assert mine["status"] == "failed"
        assert rows(mine, HOST) == rows(theirs, HOST)
        assert rows(mine, HOST)[("hold_0", "host")][0] == "canceled"  # it was killed, not failed by a restart
        assert rows(mine, GUEST)[("hold_0", "guest")][0] == "failed"  # the initiator's own: lost with its node
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(orphan, signal.SIGKILL)


def test_a_stopped_job_leaves_every_task_row_final_with_an_end_time(pair: Site, tmp_path: Path) -> None:
    job_id = start_held_job(pair, tmp_path, {"guest": [GUEST], "host": [HOST]})
    result = pair.cli("job", "stop", "-j", job_id)
    assert result.returncode == 0, result.stdout + result.stderr
    # The job's end is recorded first; its tasks settle as the parties answer EndJob (a few seconds at most).
    pair.wait_for(lambda: settled(pair, GUEST, job_id), 30, "the job and its tasks to end")
    tasks = pair.client(GUEST).get(f"/jobs/{job_id}/tasks")
    assert len(tasks) == 4
    assert all(t["status"] == "canceled" and t["ended_at"] is not None for t in tasks), tasks
    by_key = {(t["component"], t["party_id"]): t for t in tasks}
    assert by_key[("hold_0", HOST)]["reason"] == "job canceled: stopped by user"
    assert by_key[("after_0", HOST)]["reason"] == "job canceled before this task started: stopped by user"
    assert rows(job_view(pair, HOST, job_id), HOST) == rows(job_view(pair, GUEST, job_id), HOST)


def test_a_cleanly_stopped_initiator_ends_its_jobs_on_its_partners_first(pair: Site, tmp_path: Path) -> None:
    job_id = start_held_job(pair, tmp_path, {"guest": [GUEST], "host": [HOST]})
    host_pid = task_pid(pair, HOST, job_id, "hold_0")
    try:
        assert pair.standalone.stop_node(GUEST)  # SIGTERM: the node's own clean stop
        theirs = job_view(pair, HOST, job_id)  # no watch has fired: its bound here is 300 s
        assert theirs["status"] == "canceled", theirs
        assert theirs["reason"] == "initiator party 9999's node was stopped"
        pair.wait_for(lambda: not alive(host_pid), 15, "the host's task process to end")
    finally:
        restart_initiator(pair)
    mine = job_view(pair, GUEST, job_id)
    assert mine["status"] == "canceled"
    assert rows(mine, HOST) == rows(theirs, HOST)
