"""Issue 11's workloads as jobs on real nodes: ResNet-20 on CIFAR-10 binary batches, DLRM on Criteo TSV lines.

One site of five nodes. The example scripts write small files in the real formats (128 images per CIFAR worker,
600 lines per Criteo worker); each worker uploads its own with ``unseen data upload --format``; the examples' job
files run with fewer rounds. Checked: each job succeeds on PyTorch and on Keras, its training loss goes down,
``evaluation`` scores the held-out rows (accuracy for CIFAR, AUC and log loss for Criteo); the parameter-server
mode trains DLRM as a job; a model given the wrong kind of table fails the job naming the format it needs.
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

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CIFAR_WORKERS, CIFAR_ARBITER = [9999, 10000], 10001
CRITEO_WORKERS, CRITEO_ARBITER = [9999, 10000, 10001, 10002], 10003


@pytest.fixture(scope="module")
def five(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    running = make_site(tmp_path_factory.mktemp("home"), [*CRITEO_WORKERS, CRITEO_ARBITER])
    cifar, criteo = EXAMPLES / "homo_resnet_cifar10", EXAMPLES / "homo_dlrm_criteo"
    subprocess.run([sys.executable, str(cifar / "make_data.py"), "--images", "128"], check=True, capture_output=True)
    subprocess.run([sys.executable, str(criteo / "make_data.py"), "--lines", "600"], check=True, capture_output=True)
    for party in CIFAR_WORKERS:
        up = running.cli("data", "upload", "-f", str(cifar / f"data_batch_{party}.bin"), "-t", "experiment.cifar",
                         "--format", "cifar10-bin", "-p", str(party))  # fmt: skip
        assert up.returncode == 0, up.stderr
    for party in CRITEO_WORKERS:
        up = running.cli("data", "upload", "-f", str(criteo / f"day_0_part{party}.tsv"), "-t", "experiment.criteo",
                         "--format", "criteo-tsv", "--vocab-size", "1000", "-p", str(party))  # fmt: skip
        assert up.returncode == 0, up.stderr
    yield running
    stop_site(running)


def job_of(example: str, name: str, **params: Any) -> dict[str, Any]:
    job: dict[str, Any] = yaml.safe_load((EXAMPLES / example / name).read_text())
    nn = next(c for c in job["components"] if c["component"] == "homo_nn")
    nn["params"].update(params)
    return job


def run_job(site: Site, job: dict[str, Any], timeout: float = 240) -> tuple[str, dict[str, Any]]:
    client = site.client(9999)
    job_id: str = client.post("/jobs", job)["job_id"]
    site.wait_for(lambda: client.get(f"/jobs/{job_id}")["status"] not in ("waiting", "running"), timeout, "the job")
    finished: dict[str, Any] = client.get(f"/jobs/{job_id}")
    return job_id, finished


def series(site: Site, party: int, job_id: str, name: str) -> list[float]:
    metrics = site.client(party).get(f"/jobs/{job_id}/metrics", component="homo_nn_0")
    return [float(m["value"]) for m in sorted(metrics, key=lambda m: m["step"] or 0) if m["name"] == name]


def scores(site: Site, job_id: str) -> dict[str, float]:
    evaluation = site.client(9999).get(f"/jobs/{job_id}/metrics", component="evaluation_0")
    return {m["name"]: m["value"] for m in evaluation if isinstance(m["value"], float | int)}


@pytest.mark.parametrize("job_file", ["job.yaml", "job_keras.yaml"])
def test_resnet20_trains_on_cifar_batches_as_a_job(five: Site, job_file: str) -> None:
    job_id, finished = run_job(five, job_of("homo_resnet_cifar10", job_file, rounds=2, lr=0.02, batch_size=16))
    assert finished["status"] == "success", finished["reason"]
    losses = series(five, CIFAR_ARBITER, job_id, "train_loss")
    assert len(losses) == 2 and losses[1] < losses[0], losses
    metrics = scores(five, job_id)
    assert 0.0 <= metrics["accuracy"] <= 1.0 and "auc" not in metrics  # multiclass: top-1 accuracy


@pytest.mark.parametrize("job_file", ["job.yaml", "job_keras.yaml"])
def test_dlrm_trains_on_criteo_lines_as_a_job(five: Site, job_file: str) -> None:
    job_id, finished = run_job(five, job_of("homo_dlrm_criteo", job_file, rounds=3, lr=0.01))
    assert finished["status"] == "success", finished["reason"]
    losses = series(five, CRITEO_ARBITER, job_id, "train_loss")
    assert len(losses) == 3 and losses[-1] < losses[0], losses
    metrics = scores(five, job_id)
    assert metrics["auc"] > 0.6 and 0.0 < metrics["log_loss"] < 5.0, metrics


def test_dlrm_trains_in_parameter_server_mode_and_a_predict_step_scores_a_criteo_table(five: Site) -> None:
    job = job_of("homo_dlrm_criteo", "job_param_server.yaml", rounds=12, lr=0.01, eval_every=12)
    train = next(c for c in job["components"] if c["name"] == "homo_nn_0")
    predict_params = {**train["params"], "mode": "predict", "data": {"predictions": "all"}}
    job["components"][-1:] = [
        {"name": "homo_nn_1", "component": "homo_nn", "params": predict_params,
         "inputs": {"data": "reader_0.data", "model": "homo_nn_0.model"}},
        {"name": "evaluation_0", "component": "evaluation", "inputs": {"data": "homo_nn_1.predictions"}},
    ]  # fmt: skip
    job_id, finished = run_job(five, job, timeout=300)
    assert finished["status"] == "success", finished["reason"]
    losses = series(five, CRITEO_ARBITER, job_id, "train_loss")
    assert len(losses) == 12 and sum(losses[-3:]) < sum(losses[:3]), losses
    # the stored model, streamed over every row of the worker's criteo-tsv table, scores better than chance
    tasks = five.client(9999).get(f"/jobs/{job_id}/tasks")
    assert {t["status"] for t in tasks if t["component"] == "homo_nn_1" and t["role"] != "arbiter"} == {"success"}
    metrics = scores(five, job_id)
    assert metrics["auc"] > 0.6 and 0.0 < metrics["log_loss"] < 5.0, metrics


def test_a_model_given_the_wrong_kind_of_table_fails_naming_the_format_it_needs(five: Site) -> None:
    job = job_of("homo_dlrm_criteo", "job.yaml", rounds=1, min_workers=2)
    job["parties"] = {"guest": [9999], "host": [10000], "arbiter": [10003]}
    cifar = {"table": "experiment.cifar"}
    job["components"][0]["role_params"] = {"guest": cifar, "host": cifar}
    job_id, finished = run_job(five, job, timeout=180)
    assert finished["status"] == "failed"
    tasks = five.client(9999).get(f"/jobs/{job_id}/tasks")
    worker = next(t for t in tasks if t["component"] == "homo_nn_0" and t["party_id"] == 9999)
    assert worker["status"] == "failed"
    assert "model dlrm needs a criteo-tsv table" in worker["reason"], worker["reason"]
    assert "is a cifar10-bin table" in worker["reason"], worker["reason"]
    # the workers told the aggregator why before they stopped: it failed at once, naming them and the reason
    aggregator = next(t for t in tasks if t["component"] == "homo_nn_0" and t["role"] == "arbiter")
    assert "refused the plan" in aggregator["reason"] and "criteo-tsv" in aggregator["reason"], aggregator["reason"]
