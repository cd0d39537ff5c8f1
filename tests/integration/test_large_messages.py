"""Messages bigger than one chunk, task to task, through every local path: exact values both ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import Site, make_site, stop_site
from unseen.components.registry import BENCHMARK_MODULES, EXTRA_COMPONENTS_ENV
from unseen.pipeline import JobHandle, Pipeline
from unseen.transport.shared_buffer import buffers_dir

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _benchmark_components(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK checks component names against this process's registry: plug in what the site's nodes have."""
    monkeypatch.setenv(EXTRA_COMPONENTS_ENV, ",".join(BENCHMARK_MODULES))


@pytest.mark.parametrize(("guest", "host"), [(9999, 10000), (10000, 10000)])
def test_an_array_of_several_chunks_arrives_exactly(site: Site, guest: int, host: int) -> None:
    pipe = Pipeline("large", initiator=("guest", guest), guest=guest, host=host, timeout_s=120)
    params = {"size_bytes": 9 * 1024 * 1024 + 4, "rounds": 3, "warmup": 0}  # 5 chunks, the last one short
    pipe.add("transfer_0", "bench_transfer", params=params)
    job = pipe.submit(site.client(guest))
    job.wait(timeout=120)
    values = {m["name"]: m["value"] for m in job.metrics("transfer_0")}
    assert values["mib_per_s"] > 0


@pytest.mark.parametrize(("guest", "host"), [(9999, 10000), (10000, 10000)])
def test_a_received_array_keeps_its_values_while_later_ones_arrive(site: Site, guest: int, host: int) -> None:
    # A plug-in component of the nodes only, so the config goes as it is (the SDK checks names locally).
    config = {
        "name": "keep",
        "initiator": {"role": "guest", "party_id": guest},
        "parties": {"guest": [guest], "host": [host]},
        "timeout_s": 120,
        "components": [{"name": "keep_0", "component": "keep_all", "params": {"elements": 1024 * 1024, "rounds": 6}}],
    }
    job = JobHandle(site.client(guest).post("/jobs", config)["job_id"], site.client(guest))  # 8 MiB each
    job.wait(timeout=120)
    assert "all 6 arrays kept their values" in site.client(host).text(f"/jobs/{job.job_id}/logs", role="host")


def test_every_tasks_send_buffer_is_deleted_when_it_ends(site: Site) -> None:
    pipe = Pipeline("buffers", initiator=("guest", 9999), guest=9999, host=10000, timeout_s=120)
    for index, size in enumerate((3 * 1024 * 1024, 12 * 1024 * 1024)):
        pipe.add(f"transfer_{index}", "bench_transfer", params={"size_bytes": size, "rounds": 1, "warmup": 0})
    pipe.submit(site.client(9999)).wait(timeout=120)
    for party in (9999, 10000):
        folder = buffers_dir(site.standalone.node_config(party).home)
        site.wait_for(lambda folder=folder: not list(folder.iterdir()), 10, "buffers and body files to be deleted")


def test_a_node_clears_what_a_crashed_run_left_in_shared_memory_and_its_folder_when_it_stops(tmp_path: Path) -> None:
    site = make_site(tmp_path / "home", [9999], start=False)
    site.standalone.configure([9999], site.base_port)
    folder = buffers_dir(site.standalone.node_config(9999).home)
    (folder / "0123abcd.send").write_bytes(bytes(4096))  # as a node killed mid-job would leave them
    (folder / "0123abcd-r0.recv").write_bytes(bytes(4096))
    started = site.cli("standalone", "start", "--parties", "9999", "--base-port", str(site.base_port))
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        assert not list(folder.iterdir())
        assert "removed 2 message buffer file(s) a previous run left in shared memory" in site.node_log(9999)
    finally:
        stop_site(site)
    assert not folder.exists()


def test_a_tensor_record_is_broadcast_once_and_a_gather_names_the_silent_party(site: Site) -> None:
    """Real nodes: a 4 MiB record (one encoding, the send buffer written once) reaches guest and host intact,
    bfloat16 tag included; the host never answers, and the arbiter's gather names it after one deadline."""
    config = {
        "name": "gather",
        "initiator": {"role": "guest", "party_id": 9999},
        "parties": {"guest": [9999], "host": [10000], "arbiter": [10000]},
        "timeout_s": 120,
        "components": [
            {"name": "gather_0", "component": "gather_record", "params": {"silent_role": "host", "deadline_s": 3}}
        ],
    }
    job = JobHandle(site.client(9999).post("/jobs", config)["job_id"], site.client(9999))
    job.wait(timeout=120)
    log = site.client(10000).text(f"/jobs/{job.job_id}/logs", role="arbiter")
    assert "unreachable []; answered ['guest:9999=9999']; missing host:10000 (no answer by the deadline)" in log
