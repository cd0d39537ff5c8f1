"""Writes each worker's rows for the homo_nn example, from scikit-learn's digits (8x8 images, 10 classes).

Three shops (say) each hold different people with the same 64 features: 9999, 10000 and 10001 get a third of the
rows each (``--skew`` gives each a label-skewed share instead); the arbiter 10002 holds no data.

    python examples/homo_nn/make_data.py [--skew]   # writes digits_9999.csv, digits_10000.csv, digits_10001.csv
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

HERE = Path(__file__).parent
WORKERS = (9999, 10000, 10001)


def split(y: np.ndarray, skew: bool, rng: np.random.Generator) -> list[np.ndarray]:
    if not skew:
        return [np.sort(p) for p in np.array_split(rng.permutation(len(y)), len(WORKERS))]
    parts: list[list[int]] = [[] for _ in WORKERS]
    for label in range(10):  # each class spread over the workers in Dirichlet(0.5) proportions
        rows = rng.permutation(np.flatnonzero(y == label))
        cuts = (np.cumsum(rng.dirichlet([0.5] * len(WORKERS)))[:-1] * len(rows)).astype(int)
        for k, chunk in enumerate(np.split(rows, cuts)):
            parts[k] += chunk.tolist()
    return [np.array(sorted(p)) for p in parts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skew", action="store_true", help="label-skewed (non-IID) shares")
    args = parser.parse_args()
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    rng = np.random.default_rng(20261202)
    for party, rows in zip(WORKERS, split(y, args.skew, rng), strict=True):
        with (HERE / f"digits_{party}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "y", *(f"x{i}" for i in range(x.shape[1]))])
            for row in rows:
                writer.writerow([f"id{row:05d}", int(y[row]), *(f"{v:.4g}" for v in x[row])])
        print(f"digits_{party}.csv: {len(rows)} rows")


if __name__ == "__main__":
    main()
