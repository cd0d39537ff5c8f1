"""The homo_nn job of job.yaml, built and run from Python with the pipeline SDK.

unseen standalone start --parties 9999,10000,10001,10002
python examples/homo_nn/pipeline.py [--keras] [--secure]   # makes and uploads the rows, runs the job, prints metrics
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from unseen.pipeline import Pipeline

HERE = Path(__file__).parent
WORKERS = (9999, 10000, 10001)


def upload(party: int) -> None:
    command = ["unseen", "data", "upload", "-f", str(HERE / f"digits_{party}.csv"), "-t", "experiment.digits",
               "--id-column", "id", "--label-column", "y", "--label-type", "multiclass", "--overwrite", "-p", str(party)]  # fmt: skip
    subprocess.run(command, check=True)


def build(framework: str = "torch", secure: bool = False) -> Pipeline:
    name = "homo_nn_digits" + ("_keras" if framework == "keras" else "") + ("_secagg" if secure else "")
    pipe = Pipeline(name, initiator=("guest", 9999), guest=9999, host=[10000, 10001], arbiter=10002, timeout_s=1800)
    reader = pipe.add("reader_0", "reader", role_params={"guest": {"table": "experiment.digits"},
                                                         "host": {"table": "experiment.digits"}})  # fmt: skip
    params: dict[str, object] = {
        "framework": framework,
        "model": {"name": "mlp", "input_dim": 64, "hidden": [64], "num_classes": 10},
        "data": {"label_column": "y", "validation_fraction": 0.2},
        "strategy": {"name": "fedavg"},
        "rounds": 20, "local_epochs": 1, "batch_size": 32, "lr": 0.1, "min_workers": 2, "round_deadline_s": 60,
    }  # fmt: skip
    if secure:
        params["secure_aggregation"] = {"enabled": True, "neighbours": 0, "ring_bits": 64}
    nn = pipe.add("homo_nn_0", "homo_nn", params=params, inputs={"data": reader["data"]})
    pipe.add("evaluation_0", "evaluation", inputs={"data": nn["predictions"]})
    return pipe


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keras", action="store_true")
    parser.add_argument("--secure", action="store_true")
    args = parser.parse_args()
    subprocess.run([sys.executable, str(HERE / "make_data.py")], check=True)
    for party in WORKERS:
        upload(party)
    job = build("keras" if args.keras else "torch", args.secure).submit()
    print(f"job {job.job_id} submitted")
    job.wait(show_progress=True)
    for metric in job.metrics("evaluation_0"):
        if isinstance(metric["value"], float):
            print(f"{metric['name']:>12}: {metric['value']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
