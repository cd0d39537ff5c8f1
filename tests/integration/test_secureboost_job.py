"""Hetero SecureBoost on real nodes: the example job end to end, and a host node killed mid-tree.

Every node records the messages it accepts, decoded (``audit_dir``); the test checks the model against
LightGBM trained centrally on the same rows with the same trees, depth, bins and learning rate, and that no host
feature value or threshold reached the guest and no label reached the host. A 1024-bit key keeps it quick.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from tests.integration.conftest import Site, make_site, stop_site
from unseen.node.audit import read_audit

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "hetero_secureboost"
DATA = ROOT / "examples" / "hetero_lr"
PARTIES = [9999, 10000]


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    running = make_site(tmp_path_factory.mktemp("home"), PARTIES, audit_dir="audit")
    yield running
    stop_site(running)


def load_csv(name: str) -> tuple[list[str], np.ndarray]:
    rows = [line.split(",") for line in (DATA / name).read_text().splitlines()[1:]]
    return [r[0] for r in rows], np.array([[float(v) for v in r[1:]] for r in rows])


def upload(site: Site) -> None:
    for party, csv, table, extra in (
        (9999, "breast_hetero_guest.csv", "experiment.breast_guest", ["--label-column", "y"]),
        (10000, "breast_hetero_host.csv", "experiment.breast_host", []),
    ):
        result = site.cli("data", "upload", "-f", str(DATA / csv), "-t", table, "--id-column", "id", *extra,
                          "--overwrite", "-p", str(party))  # fmt: skip
        assert result.returncode == 0, result.stderr


def example_job(**params: Any) -> dict[str, Any]:
    job: dict[str, Any] = yaml.safe_load((EXAMPLE / "job.yaml").read_text())
    boost = next(c for c in job["components"] if c["component"] == "hetero_secureboost")
    boost["params"].update(key_bits=1024, **params)  # a smaller key keeps the test quick; the protocol is the same
    return job


@pytest.fixture(scope="module")
def job_id(two: Site) -> str:
    upload(two)
    client = two.client(9999)
    job_id: str = client.post("/jobs", example_job())["job_id"]
    two.wait_for(lambda: client.get(f"/jobs/{job_id}")["status"] not in ("waiting", "running"), 600, "the job")
    finished = client.get(f"/jobs/{job_id}")
    assert finished["status"] == "success", finished["reason"]
    return job_id


def test_the_example_job_matches_centralised_lightgbm(two: Site, job_id: str) -> None:
    metrics = {m["name"]: m["value"] for m in two.client(9999).get(f"/jobs/{job_id}/metrics", component="evaluation_0")}
    guest_ids, guest = load_csv("breast_hetero_guest.csv")
    host_ids, host = load_csv("breast_hetero_host.csv")
    g = dict(zip(guest_ids, guest, strict=True))
    h = dict(zip(host_ids, host, strict=True))
    shared = sorted(set(g) & set(h))
    y = np.array([g[uid][0] for uid in shared])
    joined = np.array([np.concatenate([g[uid][1:], h[uid]]) for uid in shared])
    baseline = lgb.LGBMClassifier(n_estimators=5, max_depth=3, num_leaves=8, learning_rate=0.3, max_bin=32,
                                  reg_lambda=1.0, min_child_samples=1, min_child_weight=1e-3, verbose=-1)  # fmt: skip
    baseline_auc = roc_auc_score(y, np.asarray(baseline.fit(joined, y).predict_proba(joined))[:, 1])
    assert metrics["auc"] == pytest.approx(baseline_auc, abs=0.005), (metrics["auc"], baseline_auc)
    trees = [m for m in two.client(9999).get(f"/jobs/{job_id}/metrics", component="hetero_secureboost_0")]
    assert len([m for m in trees if m["name"] == "tree_seconds"]) == 5


def test_models_per_party_and_no_clear_values_on_the_wire(two: Site, job_id: str) -> None:
    guest = two.client(9999).get(f"/jobs/{job_id}/models", component="hetero_secureboost_0")
    host = two.client(10000).get(f"/jobs/{job_id}/models", component="hetero_secureboost_0")
    assert [p["party_id"] for p in guest] == [9999] and [p["party_id"] for p in host] == [10000]
    thresholds = host[0]["arrays"]["threshold"]
    assert thresholds and "threshold" not in str(guest[0]["arrays"].keys()).replace("_threshold", "")
    _, host_values = load_csv("breast_hetero_host.csv")
    host_secrets = set(host_values.ravel().tolist()) | set(thresholds)
    host_secrets.discard(0.0)
    _, guest_values = load_csv("breast_hetero_guest.csv")
    labels = guest_values[:, 0]
    entries = []
    for party in PARTIES:
        path = two.standalone.node_dir(party) / "audit" / f"{job_id}.jsonl"
        entries += read_audit(path) if path.is_file() else []
    assert entries
    for entry in entries:
        value, where = entry["value"], f"{entry['tag']} ({entry['src']} -> {entry['dst']})"
        if "ndarray" in value:
            array = np.frombuffer(base64.b64decode(value["ndarray"]["data_b64"]), dtype=value["ndarray"]["dtype"])
            if entry["dst"].startswith("guest:") and array.dtype.kind == "f":
                assert not set(array.tolist()) & host_secrets, f"{where} carries a host value or threshold"
            if entry["dst"].startswith("host:"):
                assert array.dtype.kind in "iu", f"{where}: the host receives only node assignments as arrays"
                assert not (array.size == labels.size and set(np.unique(array).tolist()) <= {0, 1}), where
        if "json" in value and entry["dst"].startswith("guest:"):
            assert "threshold" not in str(value["json"]), where


def task_pid(site: Site, party: int, job_id: str) -> int | None:
    for task in site.standalone.node_dir(party).glob(f"jobs/{job_id}/*/*/task.log"):
        text = task.read_text()
        if "hetero_secureboost" in str(task) and "pid " in text:
            return int(text.split("pid ")[1].split(")")[0])
    return None


def test_a_host_killed_mid_tree_fails_the_job_on_every_party_naming_it(tmp_path: Path) -> None:
    site = make_site(tmp_path / "home", PARTIES)
    orphan: int | None = None
    try:
        upload(site)
        client = site.client(9999)
        job_id: str = client.post("/jobs", example_job(num_trees=1000))["job_id"]

        def training() -> bool:
            points = client.get(f"/jobs/{job_id}/metrics", component="hetero_secureboost_0")
            return any(m["name"] == "tree_seconds" for m in points)

        site.wait_for(training, 300, "the first tree")
        orphan = task_pid(site, 10000, job_id)
        node_pid = site.standalone.pid_of(10000)
        assert node_pid is not None
        os.kill(node_pid, signal.SIGKILL)  # the host's node dies while the guest waits on its histograms
        killed = time.monotonic()
        site.wait_for(lambda: client.get(f"/jobs/{job_id}")["status"] not in ("waiting", "running"), 120, "job end")
        job = client.get(f"/jobs/{job_id}")
        assert job["status"] == "failed" and "10000" in job["reason"], job["reason"]
        assert time.monotonic() - killed < 120

        def guest_task_ended() -> bool:  # the job's state is final a moment before its tasks' rows are
            tasks = client.get(f"/jobs/{job_id}")["tasks"]
            return any(t["component"] == "hetero_secureboost_0" and t["party_id"] == 9999
                       and t["status"] in ("failed", "canceled") for t in tasks)  # fmt: skip

        site.wait_for(guest_task_ended, 30, "the guest's task to end")
        job = client.get(f"/jobs/{job_id}")
        assert [t["status"] for t in job["tasks"] if t["component"] == "evaluation_0"] in ([], ["canceled"])
        restarted = site.cli("standalone", "start")
        assert restarted.returncode == 0, restarted.stderr
        host_view = site.client(10000).get(f"/jobs/{job_id}")
        assert host_view["status"] == "failed"
    finally:
        if orphan is not None:  # the host's task outlives its node's SIGKILL; it was started by this test
            with contextlib.suppress(ProcessLookupError):
                os.kill(orphan, signal.SIGKILL)
        stop_site(site)
