"""The hetero-LR job of job.yaml, built and run from Python with the pipeline SDK.

unseen standalone start --parties 9999,10000,10001
python examples/hetero_lr/pipeline.py          # uploads both tables, runs the job, prints the metrics
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from unseen.pipeline import Pipeline

HERE = Path(__file__).parent


def upload(party: int, csv: str, table: str, *label: str) -> None:
    command = ["unseen", "data", "upload", "-f", str(HERE / csv), "-t", table, "--id-column", "id", *label,
               "--overwrite", "-p", str(party)]  # fmt: skip
    subprocess.run(command, check=True)


def build() -> Pipeline:
    pipe = Pipeline("hetero_lr_breast", initiator=("guest", 9999), guest=9999, host=10000, arbiter=10001,
                    timeout_s=1800)  # fmt: skip
    reader = pipe.add("reader_0", "reader", role_params={"guest": {"table": "experiment.breast_guest"},
                                                         "host": {"table": "experiment.breast_host"}})  # fmt: skip
    psi = pipe.add("psi_0", "psi", inputs={"data": reader["data"]})
    scale = pipe.add("scale_0", "feature_scale", inputs={"data": psi["data"]})
    # the defaults, spelled out; alpha (L2) unset means 1/n, scikit-learn's default C = 1 (docs/hetero-lr.md)
    training = {"optimizer": "block_newton", "learning_rate": 0.7, "max_iter": 200, "tol": 0.0001,
                "n_iter_no_change": 3, "batch_size": -1, "key_bits": 2048}  # fmt: skip
    lr = pipe.add("hetero_lr_0", "hetero_lr", params=training, inputs={"data": scale["data"]})
    pipe.add("evaluation_0", "evaluation", inputs={"data": lr["predictions"]})
    return pipe


def main() -> int:
    upload(9999, "breast_hetero_guest.csv", "experiment.breast_guest", "--label-column", "y")
    upload(10000, "breast_hetero_host.csv", "experiment.breast_host")
    job = build().submit()
    print(f"job {job.job_id} submitted")
    job.wait(show_progress=True)
    for metric in job.metrics("hetero_lr_0"):  # converged (1/0) and epochs_run: did training converge?
        if metric["step"] is None:
            print(f"{metric['name']:>12}: {metric['value']:g}")
    for metric in job.metrics("evaluation_0"):
        if isinstance(metric["value"], float):
            print(f"{metric['name']:>12}: {metric['value']:.4f}")
    for part in job.model("hetero_lr_0"):  # the guest's own coefficients; the host's stay at the host
        print(part["slot"], part["meta"]["feature_names"], {k: len(v) for k, v in part["arrays"].items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
