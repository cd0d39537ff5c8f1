"""The homo_nn example on four real nodes: three workers train, the arbiter aggregates with secure aggregation.

One site (9999 guest, 10000 and 10001 hosts, 10002 arbiter), every node recording what it accepts (``audit_dir``).
Checked: the job succeeds with a good evaluation metric; the global model is stored at every worker as
safetensors; nothing the arbiter received is a worker's plain update (every array a worker sent it is a masked
ring vector, indistinguishable from uniform by the share of small values); a model module the workers' operators
did not allow fails the job at proposal, naming node and module; a worker's node killed mid-job leaves the job
completing without it.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.integration.conftest import Site, make_site, stop_site
from unseen.cli.client import ClientError
from unseen.node.audit import read_audit

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "homo_nn"
WORKERS = [9999, 10000, 10001]
ARBITER = 10002


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("home")
    running = make_site(home, [*WORKERS, ARBITER], audit_dir="audit")
    subprocess.run([sys.executable, str(EXAMPLE / "make_data.py")], check=True, capture_output=True)
    for party in WORKERS:
        csv = str(EXAMPLE / f"digits_{party}.csv")
        result = running.cli("data", "upload", "-f", csv, "-t", "experiment.digits", "--id-column", "id",
                             "--label-column", "y", "--label-type", "multiclass", "-p", str(party))  # fmt: skip
        assert result.returncode == 0, result.stderr
    yield running
    stop_site(running)


def job_of(name: str, **params: Any) -> dict[str, Any]:
    job: dict[str, Any] = yaml.safe_load((EXAMPLE / name).read_text())
    nn = next(c for c in job["components"] if c["component"] == "homo_nn")
    nn["params"].update(params)
    return job


def submit(site: Site, job: dict[str, Any]) -> str:
    job_id: str = site.client(9999).post("/jobs", job)["job_id"]
    return job_id


def finish(site: Site, job_id: str, timeout: float = 300) -> dict[str, Any]:
    client = site.client(9999)
    site.wait_for(lambda: client.get(f"/jobs/{job_id}")["status"] not in ("waiting", "running"), timeout, "the job")
    finished: dict[str, Any] = client.get(f"/jobs/{job_id}")
    return finished


def test_secure_aggregation_job_stores_the_model_everywhere_and_hides_each_update(four: Site) -> None:
    job_id = submit(four, job_of("job_secagg.yaml", rounds=10))
    finished = finish(four, job_id)
    assert finished["status"] == "success", finished["reason"]
    evaluation = four.client(9999).get(f"/jobs/{job_id}/metrics", component="evaluation_0")
    metrics = {m["name"]: m["value"] for m in evaluation}
    assert metrics["accuracy"] > 0.8, metrics
    stored = []
    for party in WORKERS:
        folder = four.standalone.node_config(party).models_dir / job_id / "homo_nn_0" / "model"
        assert (folder / "tensors.safetensors").is_file(), f"no stored model at {party}"
        parts = four.client(party).get(f"/jobs/{job_id}/models", component="homo_nn_0")
        stored.append({k: np.asarray(v) for k, v in parts[0]["arrays"].items()})
    for other in stored[1:]:  # every worker holds the same global model
        for name, tensor in stored[0].items():
            np.testing.assert_array_equal(tensor, other[name])

    model_size = sum(t.size for t in stored[0].values())
    inbound = read_audit(four.standalone.node_dir(ARBITER) / "audit" / f"{job_id}.jsonl")
    from_workers = [e for e in inbound if any(e["src"].endswith(str(p)) for p in WORKERS)]
    assert from_workers
    masked = 0
    for entry in from_workers:
        array = entry["value"].get("ndarray")
        assert "tensor_record" not in entry["value"], f"{entry['tag']}: a worker sent the arbiter named tensors"
        if array is None:
            continue
        data = base64.b64decode(array["data_b64"])
        floats = ("float16", "bfloat16", "float32", "float64")
        assert array["dtype"] not in floats, f"{entry['tag']}: a float array in clear"
        values = np.frombuffer(data, dtype="<i8")
        if values.size >= model_size:  # a contribution: uniform in the 2^64 ring, so almost none is small
            small = float(np.mean(np.abs(values.astype(np.float64)) < 2.0**56))
            assert small < 0.05, f"{entry['tag']}: {small:.2%} of the masked vector is small; a plain encoding?"
            masked += 1
    assert masked >= 3 * 10, f"only {masked} masked contributions reached the arbiter"


def test_a_model_module_the_operator_did_not_allow_fails_the_job_at_proposal(four: Site) -> None:
    model = {"name": "os.path:join", "input_dim": 64, "num_classes": 10}
    job_id = submit(four, job_of("job.yaml", model=model))
    finished = finish(four, job_id, timeout=60)
    assert finished["status"] == "failed"
    assert "does not allow model module 'os.path'" in finished["reason"], finished["reason"]
    assert "party 9999" in finished["reason"], finished["reason"]
    tasks = four.client(9999).get(f"/jobs/{job_id}/tasks")
    assert all(t["status"] != "running" for t in tasks)


def test_a_model_too_large_to_build_is_refused_at_submit_before_any_party_allocates_it(four: Site) -> None:
    # 26 tables of 2^31 ids x 1024 dims: some 57 trillion weights that every party, the arbiter too, would build
    model = {"name": "dlrm", "dlrm": {"vocab_sizes": 1 << 31, "embedding_dim": 1024}}
    job = job_of("job.yaml", model=model, loss="binary_cross_entropy")
    client = four.client(9999)
    before = {j["job_id"] for j in client.get("/jobs")}
    with pytest.raises(ClientError, match=r"would have [\d,]+ parameters, more than the 1,073,741,824"):
        client.post("/jobs", job)
    assert {j["job_id"] for j in client.get("/jobs")} == before  # nothing stored, nothing proposed


def test_a_predict_step_scores_rows_with_the_stored_model(four: Site) -> None:
    job = job_of("job.yaml", rounds=3)
    train = next(c for c in job["components"] if c["name"] == "homo_nn_0")
    inputs = {"data": "reader_0.data", "model": "homo_nn_0.model"}
    params = {**train["params"], "mode": "predict"}
    predict = {"name": "homo_nn_1", "component": "homo_nn", "inputs": inputs, "params": params}
    job["components"].insert(2, predict)
    job["components"][-1]["inputs"] = {"data": "homo_nn_1.predictions"}
    job_id = submit(four, job)
    finished = finish(four, job_id)
    assert finished["status"] == "success", finished["reason"]
    evaluation = four.client(9999).get(f"/jobs/{job_id}/metrics", component="evaluation_0")
    assert {m["name"]: m["value"] for m in evaluation}["accuracy"] > 0.6  # 3 rounds: about 0.73


def test_the_keras_example_trains_and_stores_the_global_model_at_every_worker(four: Site) -> None:
    """examples/homo_nn/job_keras.yaml as a user submits it (`job submit --wait`), on the torch backend."""
    result = four.cli("job", "submit", "-c", str(EXAMPLE / "job_keras.yaml"), "--wait", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    job_id = result.stdout.split()[1]
    rounds = yaml.safe_load((EXAMPLE / "job_keras.yaml").read_text())["components"][1]["params"]["rounds"]
    assert f"round {rounds}/{rounds}" in result.stdout, result.stdout  # the live progress reached the last round
    evaluation = four.client(9999).get(f"/jobs/{job_id}/metrics", component="evaluation_0")
    accuracy = {m["name"]: m["value"] for m in evaluation}["accuracy"]
    assert accuracy > 0.8, accuracy  # as the torch job's; a central MLP reaches about 0.95 here
    stored = []
    for party in WORKERS:
        folder = four.standalone.node_config(party).models_dir / job_id / "homo_nn_0" / "model"
        assert (folder / "tensors.safetensors").is_file(), f"no stored model at {party}"
        parts = four.client(party).get(f"/jobs/{job_id}/models", component="homo_nn_0")
        assert parts[0]["meta"]["framework"] == "keras", parts[0]["meta"]
        stored.append({k: np.asarray(v) for k, v in parts[0]["arrays"].items()})
    for other in stored[1:]:
        assert other.keys() == stored[0].keys()
        for name, tensor in stored[0].items():
            np.testing.assert_array_equal(tensor, other[name])


def test_a_parameter_server_job_shows_round_progress_while_waiting_and_following(four: Site, tmp_path: Path) -> None:
    """The parameter-server mode reports its rounds as FedAvg does: round i of n, time, loss, accuracy, workers."""
    job = job_of("job.yaml", rounds=5, strategy={"name": "param_server", "steps": 2})
    config = tmp_path / "job_ps.yaml"
    config.write_text(yaml.safe_dump(job))
    submitted = four.cli("job", "submit", "-c", str(config), "--wait", timeout=300)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    job_id = submitted.stdout.split()[1]
    followed = four.cli("job", "query", "-j", job_id, "--follow", "-p", "9999")
    assert followed.returncode == 0, followed.stderr
    for output in (submitted.stdout, followed.stdout):
        line = next((x for x in output.splitlines() if "homo_nn_0: round 5/5" in x), None)
        assert line is not None, output
        assert re.search(r"round 5/5, [0-9.]+ s/round, loss [0-9.]+, accuracy [0-9.]+, 3 workers$", line), line


def test_a_worker_node_killed_mid_job_leaves_the_job_completing_without_it(four: Site) -> None:
    """Last in this module: it kills 10001's node. The job succeeds, and its reason names the lost worker."""
    job_id = submit(four, job_of("job.yaml", rounds=60, round_deadline_s=30, min_workers=2, eval_every=20))
    arbiter = four.client(ARBITER)

    def rounds_done() -> int:
        metrics = arbiter.get(f"/jobs/{job_id}/metrics", component="homo_nn_0")
        return len([m for m in metrics if m["name"] == "round_seconds"])

    four.wait_for(lambda: rounds_done() >= 3, 120, "three rounds")
    pid = four.standalone.pid_of(10001)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    finished = finish(four, job_id, timeout=240)
    assert finished["status"] == "success", finished["reason"]
    for party in (9999, 10000, ARBITER):
        status = four.client(party).get(f"/jobs/{job_id}")["status"]
        assert status == "success", f"party {party}: {status}"
    left = [m for m in arbiter.get(f"/jobs/{job_id}/metrics", component="homo_nn_0") if m["name"] == "workers"]
    assert left[-1]["value"] == 2
    for party in (9999, 10000, ARBITER):  # the reason travels with the job's end to every party
        reason = four.client(party).get(f"/jobs/{job_id}")["reason"]
        assert "homo_nn_0 host:10001 failed" in reason and "party 10001" in reason, f"party {party}: {reason}"
    query = four.cli("job", "query", "-j", job_id, "-p", "9999")
    assert query.returncode == 0, query.stderr
    assert "reason: succeeded without 1 task" in query.stdout and "host:10001" in query.stdout, query.stdout
