"""Issue 11's workloads as homo_nn jobs on real nodes: ResNet-20 on CIFAR-10 files, DLRM on Criteo files.

A standalone site of five nodes in a temporary ``UNSEEN_HOME`` (``horizontal.Site``: one node process per party,
mTLS between them); each worker uploads its own generated file in the real format (``cifar10.patterns`` images,
``criteo.synthetic`` lines) with ``unseen data upload --format``; the jobs are the examples' job files with the
settings below. Every framework runs one CPU thread per party (``threads: 1``), as parties sharing a machine
should. Three parts, each against a baseline measured in the same run:

1. ``throughput``: one worker's training samples/s inside a job (``train_samples_per_s``, which homo_nn logs per
   round: the fit's samples over its seconds, weights in and out included; the first round left out) against a
   plain loop in this process: the same model, batches of the same size from the same data source, the
   framework's own step (torch: forward, backward, SGD step; Keras: ``train_on_batch``). Goal >= 0.9.
2. ``rounds``: seconds per round (the arbiter's ``round_seconds``, median, the first round left out) and bytes
   the arbiter sends each worker per round (``bytes_sent`` / workers: the global weights) for FedAvg and
   parameter-server mode, with and without secure aggregation: ResNet-20 with 2 workers, DLRM with 4.
3. ``param_server``: ResNet-20, 2 workers, one step per round: round seconds against one local step of the same
   batch (from part 1's loop). Goal: overhead under 25 %.

    python benchmarks/horizontal_workloads.py            # the settings below
    python benchmarks/horizontal_workloads.py --quick    # small data, few rounds
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from horizontal import Row, Site, print_table  # the sibling script (this folder is first on sys.path)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
RESULTS = Path(__file__).resolve().parent / "results" / "horizontal_workloads.json"
CIFAR_WORKERS, CRITEO_WORKERS, ARBITER = [9999, 10000], [9999, 10000, 10001, 10002], 10003
VOCAB = 1000
CIFAR_BATCH = 32  # the example's batch_size


@dataclass(frozen=True)
class Settings:
    images: int = 512  # per CIFAR worker
    lines: int = 20_000  # per Criteo worker
    rounds: int = 5
    ps_rounds: int = 20
    local_batches: int = 12  # steps of the plain local loop (after one warm-up step)


QUICK = Settings(images=96, lines=2_000, rounds=3, ps_rounds=8, local_batches=6)


def make_data(folder: Path, settings: Settings) -> None:
    from unseen.datasets import cifar10, criteo

    for seed, party in enumerate(CIFAR_WORKERS):
        data = cifar10.patterns(settings.images, seed=seed)
        cifar10.write_batch(folder / f"cifar_{party}.bin", data.images, data.labels)
        upload(folder / f"cifar_{party}.bin", "bench.cifar", party, "cifar10-bin")
    for seed, party in enumerate(CRITEO_WORKERS):
        labels, dense, sparse = criteo.synthetic(settings.lines, seed=seed)
        criteo.write_tsv(folder / f"criteo_{party}.tsv", labels, dense, sparse)
        upload(folder / f"criteo_{party}.tsv", "bench.criteo", party, "criteo-tsv", "--vocab-size", str(VOCAB))


def upload(path: Path, table: str, party: int, kind: str, *extra: str) -> None:
    command = ["unseen", "data", "upload", "-f", str(path), "-t", table, "--format", kind, *extra, "-p", str(party)]
    subprocess.run(command, check=True, capture_output=True)


def job_config(workload: str, framework: str, workers: list[int], **params: Any) -> dict[str, Any]:
    """The example's job with this benchmark's tables, parties and settings."""
    example = "homo_resnet_cifar10" if workload == "resnet20" else "homo_dlrm_criteo"
    job: dict[str, Any] = yaml.safe_load((EXAMPLES / example / "job.yaml").read_text())
    table = {"table": "bench.cifar" if workload == "resnet20" else "bench.criteo"}
    job["name"] = f"bench_{workload}_{framework}"
    job["parties"] = {"guest": workers[:1], "arbiter": [ARBITER]} | ({"host": workers[1:]} if workers[1:] else {})
    job["components"][0]["role_params"] = {"guest": table} | ({"host": table} if workers[1:] else {})
    nn = job["components"][1]["params"]
    nn.update({"framework": framework, "min_workers": len(workers), "threads": 1, "data": {}} | params)
    job["components"] = job["components"][:2]  # no evaluation: this measures training
    return job


@dataclass
class JobFigures:
    round_s: float
    downlink_bytes_per_worker: float
    samples_per_s: float
    wall_s: float


def run(job: dict[str, Any], workers: list[int]) -> JobFigures:
    from unseen.cli.client import client_for
    from unseen.cli.waiting import wait_for_job

    client = client_for(workers[0])
    began = time.perf_counter()
    job_id = client.post("/jobs", job)["job_id"]
    finished = wait_for_job(client, job_id, 3600)
    wall = time.perf_counter() - began
    if finished["status"] != "success":
        raise RuntimeError(f"job {job_id} ({job['name']}) {finished['status']}: {finished['reason']}")

    def metric(party: int, name: str) -> list[float]:
        rows = client_for(party).get(f"/jobs/{job_id}/metrics", component="homo_nn_0")
        picked = sorted((m for m in rows if m["name"] == name), key=lambda m: m["step"] or 0)
        return [float(m["value"]) for m in picked][1:] or [float(m["value"]) for m in picked]  # round 0 warms up

    rounds = metric(ARBITER, "round_seconds")
    sent = metric(ARBITER, "bytes_sent")
    rates = metric(workers[0], "train_samples_per_s")
    return JobFigures(float(np.median(rounds)), float(np.median(sent)) / len(workers),
                      float(np.median(rates)) if rates else 0.0, wall)  # fmt: skip


def local_rate(workload: str, framework: str, settings: Settings, folder: Path) -> float:
    """Samples/s of a plain loop in this process: same model and batches, the framework's own step."""
    import torch

    from unseen.components.homo_nn import HomoNNParams, build_model
    from unseen.datasets.sources import CifarData, CriteoData

    torch.set_num_threads(1)
    job = job_config(workload, framework, CIFAR_WORKERS)
    params = HomoNNParams.model_validate(job["components"][1]["params"])
    model = build_model(params)
    if workload == "resnet20":
        from unseen.datasets import cifar10

        images = cifar10.patterns(settings.images, seed=0)
        source: Any = CifarData(images.images, images.labels)
    else:
        store = Path(os.environ["UNSEEN_HOME"]) / "standalone"
        found = sorted(store.rglob("criteo.parquet"))
        source = CriteoData(found[0])
    batch = params.batch_size
    batches: list[tuple[tuple[np.ndarray, ...], np.ndarray]] = []
    rng = np.random.default_rng(0)
    while len(batches) < settings.local_batches + 1:
        batches += list(source.epoch(batch, rng))
    batches = [b for b in batches if len(b[1]) == batch][: settings.local_batches + 1]
    loss_name = params.loss
    if framework == "torch":
        from unseen.horizontal import torch as adapter

        optimizer = torch.optim.SGD(model.parameters(), lr=params.lr, momentum=params.momentum)
        loss_fn = adapter._loss_fn(loss_name)

        def step(inputs: tuple[np.ndarray, ...], labels: np.ndarray) -> None:
            optimizer.zero_grad()
            dtype = np.int64 if loss_name == "cross_entropy" else np.float32
            out = model(*(torch.from_numpy(np.ascontiguousarray(a)) for a in inputs))
            loss_fn(out, torch.from_numpy(labels.astype(dtype))).backward()  # type: ignore[no-untyped-call]
            optimizer.step()

    else:
        import keras

        from unseen.horizontal import keras as kadapter

        model.compile(optimizer=keras.optimizers.SGD(learning_rate=params.lr), loss=kadapter._loss(loss_name))

        def step(inputs: tuple[np.ndarray, ...], labels: np.ndarray) -> None:
            model.train_on_batch(inputs[0] if len(inputs) == 1 else list(inputs), labels)

    step(*batches[0])  # warm-up
    began = time.perf_counter()
    for inputs, labels in batches[1:]:
        step(inputs, labels)
    return batch * settings.local_batches / (time.perf_counter() - began)


def part_throughput(settings: Settings, folder: Path, rows: list[Row], samples: dict[str, Any]) -> dict[str, float]:
    locals_: dict[str, float] = {}
    for workload in ("resnet20", "dlrm"):
        for framework in ("torch", "keras"):
            rounds = settings.rounds
            job = job_config(workload, framework, [9999], rounds=rounds, eval_every=1000)
            before = local_rate(workload, framework, settings, folder)
            figures = run(job, [9999])
            after = local_rate(workload, framework, settings, folder)
            baseline = (before + after) / 2
            locals_[f"{workload}_{framework}"] = baseline
            samples[f"throughput_{workload}_{framework}"] = asdict(figures) | {"local": [before, after]}
            label = f"{workload} {framework}: worker samples/s in a job"
            rows.append(Row(label, figures.samples_per_s, "sam/s", baseline, 0.9))
    return locals_


def part_rounds(settings: Settings, rows: list[Row], samples: dict[str, Any]) -> dict[str, JobFigures]:
    out: dict[str, JobFigures] = {}
    for workload, workers in (("resnet20", CIFAR_WORKERS), ("dlrm", CRITEO_WORKERS)):
        for mode in ("fedavg", "param_server"):
            for secure in (False, True):
                params: dict[str, Any] = {"rounds": settings.rounds, "eval_every": 1000}
                if mode == "param_server":
                    optimizer = "sgd" if workload == "resnet20" else "adam"
                    params |= {"strategy": {"name": "param_server", "optimizer": optimizer, "steps": 1},
                               "rounds": settings.ps_rounds}  # fmt: skip
                if secure:
                    params["secure_aggregation"] = {"enabled": True}
                figures = run(job_config(workload, "torch", workers, **params), workers)
                key = f"{workload}_{mode}_{'secagg' if secure else 'plain'}"
                out[key] = figures
                samples[f"round_{key}"] = asdict(figures)
                label = f"{workload}, {len(workers)} workers, {mode}{' + SecAgg' if secure else ''}"
                plain = out.get(f"{workload}_{mode}_plain")
                rows.append(Row(f"{label}: s/round", figures.round_s, "s", plain.round_s if secure and plain else None))
                rows.append(Row(f"{label}: bytes to each worker/round", figures.downlink_bytes_per_worker / 2**20,
                                "MiB"))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, few rounds")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    settings = QUICK if args.quick else Settings()
    rows: list[Row] = []
    samples: dict[str, Any] = {"settings": asdict(settings)}
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="unseen-wbench-") as temp:
        os.environ["UNSEEN_HOME"] = str(Path(temp) / "home")
        site = Site(Path(temp) / "home", 5)
        try:
            print("starting 5 nodes ...", flush=True)
            site.start()
            make_data(Path(temp), settings)
            print("part throughput ...", flush=True)
            local = part_throughput(settings, Path(temp), rows, samples)
            print("part rounds ...", flush=True)
            rounds = part_rounds(settings, rows, samples)
            step_s = CIFAR_BATCH / local["resnet20_torch"] if local["resnet20_torch"] else 0.0
            ps = rounds["resnet20_param_server_plain"].round_s
            rows.append(Row("resnet20 torch: one local step (batch 32)", step_s, "s"))
            rows.append(Row("resnet20, 2 workers, param_server: round / local step", ps, "s", step_s, 1.25, True))
        finally:
            site.stop()
    wall, load_after = time.perf_counter() - started, os.getloadavg()[0]
    print()
    print_table(rows)
    print(
        f"\n{os.cpu_count()} CPUs; run took {wall:.0f} s; load average {load_before:.1f} before, {load_after:.1f} after"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "horizontal_workloads",
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version()},
        "run": {"wall_s": wall, "load_before": load_before, "load_after": load_after, "quick": args.quick},
        "rows": [r.as_json() for r in rows],
        "samples": samples,
    }
    args.output.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
