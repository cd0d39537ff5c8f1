"""Writes the two parties' files for the hetero-LR example, from scikit-learn's breast-cancer set.

The guest (a bank, say) holds the label and 10 features; the host (a shop) holds 20 other features of
partly the same people. Each side also has rows the other lacks, so the PSI has work to do.

    python examples/hetero_lr/make_data.py    # writes breast_hetero_guest.csv and breast_hetero_host.csv here
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer

HERE = Path(__file__).parent
GUEST_FEATURES = 10


def main() -> None:
    data = load_breast_cancer()
    x, y = data.data, data.target
    rows = len(y)
    rng = np.random.default_rng(20261125)
    ids = np.array([f"id{i:05d}" for i in rng.permutation(100_000)[:rows]])
    # About 85% of people are known to both parties; the rest only to one of them.
    guest_rows = np.sort(rng.choice(rows, size=int(rows * 0.92), replace=False))
    host_rows = np.sort(rng.choice(rows, size=int(rows * 0.92), replace=False))

    with (HERE / "breast_hetero_guest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "y", *(f"x{i}" for i in range(GUEST_FEATURES))])
        for row in guest_rows:
            writer.writerow([ids[row], int(y[row]), *(f"{v:.6g}" for v in x[row, :GUEST_FEATURES])])
    with (HERE / "breast_hetero_host.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *(f"x{i}" for i in range(GUEST_FEATURES, x.shape[1]))])
        for row in host_rows:
            writer.writerow([ids[row], *(f"{v:.6g}" for v in x[row, GUEST_FEATURES:])])
    shared = len(np.intersect1d(guest_rows, host_rows))
    print(f"guest: {len(guest_rows)} rows, host: {len(host_rows)} rows, shared: {shared}")


if __name__ == "__main__":
    main()
