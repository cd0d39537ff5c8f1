"""A horizontal FedAvg job (homo_nn, secure aggregation) on real nodes in simulated attestation mode.

Five nodes, each with its own CA and a certificate reissued with its evidence (``unseen attest issue``):
three workers (9999, 10000, 10001) and the arbiter 10002 claim the measurement every policy allows; 10003, a
would-be arbiter, claims another. The 4-party job runs with attestation required on both ends of every link
(each node's log names every partner it attested); the same job with 10003 as its arbiter is refused before
10003 receives one job message, and the refusal names the field, the expected value and the one it got.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import Site, make_site, stop_site
from tests.integration.test_attestation_links import BAD, GOOD, attestation

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "homo_nn"
WORKERS = [9999, 10000, 10001]
ARBITER, ROGUE = 10002, 10003
PARTIES = [*WORKERS, ARBITER, ROGUE]


@pytest.fixture(scope="module")
def attested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    site = make_site(
        tmp_path_factory.mktemp("attest_nn"), PARTIES, start=False, attestation=attestation(GOOD), audit_dir="audit"
    )
    site.set_node_option(ROGUE, attestation=attestation(BAD))
    for party in PARTIES:
        ca = site.standalone.node_dir(party) / "ca"
        config = str(site.standalone.node_config_path(party))
        issued = site.cli(
            "attest", "issue", "-c", config, "--ca-cert", str(ca / "ca.crt"), "--ca-key", str(ca / "ca.key")
        )
        assert issued.returncode == 0, issued.stdout + issued.stderr
    started = site.cli(
        "standalone", "start", "--parties", ",".join(map(str, PARTIES)), "--base-port", str(site.base_port)
    )
    assert started.returncode == 0, started.stdout + started.stderr
    subprocess.run([sys.executable, str(EXAMPLE / "make_data.py")], check=True, capture_output=True)
    for party in WORKERS:
        csv = str(EXAMPLE / f"digits_{party}.csv")
        result = site.cli("data", "upload", "-f", csv, "-t", "experiment.digits", "--id-column", "id",
                          "--label-column", "y", "--label-type", "multiclass", "-p", str(party))  # fmt: skip
        assert result.returncode == 0, result.stderr
    yield site
    stop_site(site)


def secagg_job(arbiter: int) -> dict[str, Any]:
    job: dict[str, Any] = yaml.safe_load((EXAMPLE / "job_secagg.yaml").read_text())
    job["parties"]["arbiter"] = [arbiter]
    nn = next(c for c in job["components"] if c["component"] == "homo_nn")
    nn["params"].update(rounds=3, round_deadline_s=60)
    return job


def run_job(site: Site, job: dict[str, Any], timeout: float = 300) -> tuple[str, dict[str, Any]]:
    client = site.client(9999)
    job_id: str = client.post("/jobs", job)["job_id"]
    site.wait_for(lambda: client.get(f"/jobs/{job_id}")["status"] not in ("waiting", "running"), timeout, "the job")
    finished: dict[str, Any] = client.get(f"/jobs/{job_id}")
    return job_id, finished


def test_a_secure_fedavg_job_runs_with_every_link_attested_on_both_ends(attested: Site) -> None:
    job_id, finished = run_job(attested, secagg_job(ARBITER))
    assert finished["status"] == "success", finished["reason"]
    evaluation = attested.client(9999).get(f"/jobs/{job_id}/metrics", component="evaluation_0")
    assert {m["name"]: m["value"] for m in evaluation}["accuracy"] > 0.6  # 3 rounds of the digits MLP
    rounds = attested.client(ARBITER).get(f"/jobs/{job_id}/metrics", component="homo_nn_0")
    assert [m["value"] for m in rounds if m["name"] == "workers"] == [3, 3, 3]
    for party in WORKERS:
        folder = attested.standalone.node_config(party).models_dir / job_id / "homo_nn_0" / "model"
        assert (folder / "tensors.safetensors").is_file(), f"no stored model at {party}"
    # Both ends of each worker-arbiter link believed the other's evidence, as each node's log says.
    arbiter_log = attested.node_log(ARBITER)
    for party in WORKERS:
        assert f"attested party {party}: simulated evidence, mrenclave {GOOD}" in arbiter_log
        assert f"attested party {ARBITER}: simulated evidence, mrenclave {GOOD}" in attested.node_log(party)
    for party in PARTIES:
        assert "attested party 10003" not in attested.node_log(party)


def test_an_arbiter_whose_measurement_is_not_in_the_policy_gets_no_job_message(attested: Site) -> None:
    job_id, finished = run_job(attested, secagg_job(ROGUE), timeout=120)
    assert finished["status"] == "failed"
    assert f"party {ROGUE}" in finished["reason"], finished["reason"]
    assert f"mrenclave: expected {GOOD}, got {BAD}" in finished["reason"], finished["reason"]
    assert f"refused party {ROGUE}: attestation failed: mrenclave: expected {GOOD}, got {BAD}" in (
        attested.node_log(9999)
    )
    rogue_log = attested.node_log(ROGUE)
    assert job_id not in rogue_log and "accepted job" not in rogue_log
    assert not (attested.standalone.node_dir(ROGUE) / "audit" / f"{job_id}.jsonl").exists()
    for party in WORKERS:  # no worker started training for it
        tasks = attested.client(party).get(f"/jobs/{job_id}/tasks")
        assert all(t["status"] not in ("running", "success") for t in tasks), (party, tasks)
