"""The homo_dlrm_criteo job of job.yaml, built and run from Python with the pipeline SDK.

unseen standalone start --parties 9999,10000,10001,10002,10003
python examples/homo_dlrm_criteo/pipeline.py [--keras] [--param-server]   # makes and uploads the files, runs
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from unseen.pipeline import Pipeline

HERE = Path(__file__).parent
WORKERS = (9999, 10000, 10001, 10002)
TABLE = "experiment.criteo"
VOCAB_SIZE = 1000  # ids per categorical column; the upload's --vocab-size and model.dlrm.vocab_sizes must agree


def upload(party: int) -> None:
    command = ["unseen", "data", "upload", "-f", str(HERE / f"day_0_part{party}.tsv"), "-t", TABLE,
               "--format", "criteo-tsv", "--vocab-size", str(VOCAB_SIZE), "--overwrite", "-p", str(party)]  # fmt: skip
    subprocess.run(command, check=True)


def build(framework: str = "torch", param_server: bool = False) -> Pipeline:
    name = "homo_dlrm_criteo" + ("_keras" if framework == "keras" else "") + ("_ps" if param_server else "")
    pipe = Pipeline(name, initiator=("guest", 9999), guest=9999, host=[10000, 10001, 10002], arbiter=10003,
                    timeout_s=3600)  # fmt: skip
    table = {"table": TABLE}
    reader = pipe.add("reader_0", "reader", role_params={"guest": table, "host": table})
    params: dict[str, object] = {
        "framework": framework,
        "model": {"name": "dlrm", "dlrm": {"vocab_sizes": VOCAB_SIZE, "embedding_dim": 16, "bottom_mlp": [64, 32],
                                           "top_mlp": [64]}},
        "loss": "binary_cross_entropy",
        "data": {"validation_fraction": 0.2, "predictions": "validation"},
        "strategy": {"name": "fedavg"},
        "rounds": 5, "local_epochs": 1, "batch_size": 128, "lr": 0.005, "optimizer": "adam",
        "min_workers": 4, "round_deadline_s": 600, "threads": 1, "seed": 0,
    }  # fmt: skip
    if param_server:  # one Adam step per round, at the arbiter; the workers send gradients
        params["strategy"] = {"name": "param_server", "optimizer": "adam", "steps": 1}
        params["rounds"] = 60
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
