"""The toy end to end through the CLI, as a new user runs it: one party, two parties, and the job commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.conftest import Site

pytestmark = pytest.mark.integration
EXPECTED = "success to calculate secure_sum, it is 2000.0"
REPO = Path(__file__).resolve().parents[2]


def test_toy_with_one_party_playing_both_roles(site: Site) -> None:
    result = site.cli("test", "toy", "-gid", "10000", "-hid", "10000")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == EXPECTED


def test_toy_between_two_parties(site: Site) -> None:
    result = site.cli("test", "toy", "-gid", "9999", "-hid", "10000")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == EXPECTED


def test_toy_with_other_sizes_sums_exactly(site: Site) -> None:
    result = site.cli("test", "toy", "-gid", "10000", "-hid", "9999", "--data-num", "12345", "--partitions", "7")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "success to calculate secure_sum, it is 24690.0"


def test_each_task_ran_as_its_own_process_with_its_own_log(site: Site) -> None:
    result = site.cli("test", "toy", "-gid", "10000", "-hid", "10000", "--verbose")
    job_id = re.search(r"job (\w+) submitted", result.stdout).group(1)  # type: ignore[union-attr]
    log = site.cli("job", "log", "-j", job_id).stdout
    pids = set(re.findall(r"\(component toy_secure_sum, pid (\d+)\)", log))
    assert len(pids) == 2, log
    assert "==> secure_sum_0 guest:10000 (success) <==" in log
    assert "==> secure_sum_0 host:10000 (success) <==" in log
    guest_only = site.cli("job", "log", "-j", job_id, "--role", "guest").stdout
    assert "guest:10000" in guest_only and "host:10000" not in guest_only


def test_job_submit_wait_list_query_and_metrics(site: Site) -> None:
    result = site.cli("job", "submit", "-c", str(REPO / "examples/toy/job.yaml"), "--wait")
    assert result.returncode == 0, result.stderr
    job_id = re.search(r"job (\w+) submitted to party 10000", result.stdout).group(1)  # type: ignore[union-attr]
    assert "secure_sum_0: guest:10000 success, host:10000 success" in result.stdout
    assert f"job {job_id} succeeded" in result.stdout

    listed = site.cli("job", "list", "--party", "10000").stdout
    assert re.search(rf"^{job_id}\s+success\s+10000", listed, re.M), listed
    query = site.cli("job", "query", "-j", job_id).stdout
    assert f"job {job_id} (toy): success" in query
    assert re.search(r"secure_sum_0\s+guest\s+10000\s+success", query)
    metrics = site.cli("job", "metrics", "-j", job_id).stdout
    assert re.search(r"secure_sum_0\s+guest:10000\s+secure_sum\s+-\s+2000.0", metrics), metrics


def test_starting_twice_is_harmless_and_says_so(site: Site) -> None:
    result = site.cli("standalone", "start")
    assert result.returncode == 0
    assert "already running" in result.stdout
    status = site.cli("standalone", "status")
    assert status.returncode == 0
    assert status.stdout.count("healthy") == 2


def test_unknown_job_is_a_clear_error(site: Site) -> None:
    result = site.cli("job", "query", "-j", "nosuchjob")
    assert result.returncode == 1
    assert "no node of the standalone site knows job nosuchjob" in result.stderr


def test_bad_job_file_names_the_problem(site: Site, tmp_path: Path) -> None:
    bad = tmp_path / "job.yaml"
    bad.write_text((REPO / "examples/toy/job.yaml").read_text().replace("data_num: 1000", "data_num: -5"))
    result = site.cli("job", "submit", "-c", str(bad))
    assert result.returncode == 1
    assert "components[0].params.data_num" in result.stderr
    missing = site.cli("job", "submit", "-c", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1 and "nope.yaml" in missing.stderr
