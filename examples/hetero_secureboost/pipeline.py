"""The hetero-SecureBoost job of job.yaml, built and run from Python with the pipeline SDK.

unseen standalone start --parties 9999,10000
python examples/hetero_secureboost/pipeline.py      # uploads both tables, runs the job, prints metrics and importance
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from unseen.pipeline import Pipeline

DATA = Path(__file__).parent.parent / "hetero_lr"  # the same breast-cancer split as the hetero-LR example


def upload(party: int, csv: str, table: str, *label: str) -> None:
    command = ["unseen", "data", "upload", "-f", str(DATA / csv), "-t", table, "--id-column", "id", *label,
               "--overwrite", "-p", str(party)]  # fmt: skip
    subprocess.run(command, check=True)


def build() -> Pipeline:
    pipe = Pipeline("hetero_secureboost_breast", initiator=("guest", 9999), guest=9999, host=10000, timeout_s=1800)
    reader = pipe.add("reader_0", "reader", role_params={"guest": {"table": "experiment.breast_guest"},
                                                         "host": {"table": "experiment.breast_host"}})  # fmt: skip
    psi = pipe.add("psi_0", "psi", inputs={"data": reader["data"]})
    training = {"objective": "binary", "num_trees": 5, "max_depth": 3, "learning_rate": 0.3, "max_bin": 32,
                "key_bits": 2048}  # fmt: skip
    boost = pipe.add("hetero_secureboost_0", "hetero_secureboost", params=training, inputs={"data": psi["data"]})
    pipe.add("evaluation_0", "evaluation", inputs={"data": boost["predictions"]})
    return pipe


def main() -> int:
    upload(9999, "breast_hetero_guest.csv", "experiment.breast_guest", "--label-column", "y")
    upload(10000, "breast_hetero_host.csv", "experiment.breast_host")
    job = build().submit()
    print(f"job {job.job_id} submitted")
    job.wait(show_progress=True)
    for metric in job.metrics("evaluation_0"):
        if isinstance(metric["value"], float):
            print(f"{metric['name']:>12}: {metric['value']:.4f}")
    for part in job.model("hetero_secureboost_0"):  # the guest's trees; the host's thresholds stay at the host
        print(part["slot"], part["meta"]["trees"], "trees; importance:", part["meta"]["feature_importance"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
