"""The homo_resnet_cifar10 job of job.yaml, built and run from Python with the pipeline SDK.

unseen standalone start --parties 9999,10000,10001
python examples/homo_resnet_cifar10/pipeline.py [--keras] [--param-server]   # makes and uploads the files, runs
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from unseen.pipeline import Pipeline

HERE = Path(__file__).parent
WORKERS = (9999, 10000)
TABLE = "experiment.cifar"


def upload(party: int) -> None:
    command = ["unseen", "data", "upload", "-f", str(HERE / f"data_batch_{party}.bin"), "-t", TABLE,
               "--format", "cifar10-bin", "--overwrite", "-p", str(party)]  # fmt: skip
    subprocess.run(command, check=True)


def build(framework: str = "torch", param_server: bool = False) -> Pipeline:
    name = "homo_resnet_cifar10" + ("_keras" if framework == "keras" else "") + ("_ps" if param_server else "")
    pipe = Pipeline(name, initiator=("guest", 9999), guest=9999, host=[10000], arbiter=10001, timeout_s=3600)
    reader = pipe.add("reader_0", "reader", role_params={"guest": {"table": TABLE}, "host": {"table": TABLE}})
    params: dict[str, object] = {
        "framework": framework,
        "model": {"name": "resnet20", "num_classes": 10},
        "data": {"validation_fraction": 0.2, "predictions": "validation"},
        "strategy": {"name": "fedavg"},
        "rounds": 5, "local_epochs": 1, "batch_size": 32, "lr": 0.05, "momentum": 0.9,
        "min_workers": 2, "round_deadline_s": 600, "threads": 1, "seed": 0,
    }  # fmt: skip
    if param_server:  # one optimizer step per round, at the arbiter; the workers send gradients
        params["strategy"] = {"name": "param_server", "optimizer": "sgd", "server_momentum": 0.9, "steps": 1}
        params["rounds"] = 40
    nn = pipe.add("homo_nn_0", "homo_nn", params=params, inputs={"data": reader["data"]})
    pipe.add("evaluation_0", "evaluation", inputs={"data": nn["predictions"]})
    return pipe


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keras", action="store_true")
    parser.add_argument("--param-server", action="store_true")
    args = parser.parse_args()
    subprocess.run([sys.executable, str(HERE / "make_data.py")], check=True)
    for party in WORKERS:
        upload(party)
    job = build("keras" if args.keras else "torch", args.param_server).submit()
    print(f"job {job.job_id} submitted")
    job.wait(show_progress=True)
    for metric in job.metrics("evaluation_0"):
        if isinstance(metric["value"], float):
            print(f"{metric['name']:>12}: {metric['value']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
