"""Reader throughput: CIFAR-10 binary and Criteo TSV, parsing and training batches, on generated files.

    python benchmarks/readers.py            # 50,000 CIFAR records (one real data_batch is 10,000), 500,000 Criteo lines
    python benchmarks/readers.py --quick    # 10,000 records, 100,000 lines

Each figure is the median of 3 runs over a file written once in the real format (page cache warm, so it is the
parser's speed, not the disk's). Writes ``benchmarks/results/readers.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from unseen.datasets import cifar10, criteo, record_tables

RESULTS = Path(__file__).parent / "results" / "readers.json"


def _median_rate(items: int, run: Callable[[], object], repeats: int = 3) -> float:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return items / statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    images, lines = (10_000, 100_000) if args.quick else (50_000, 500_000)
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        data = cifar10.synthetic(images, seed=0)
        cifar_file = root / "data_batch_1.bin"
        cifar10.write_batch(cifar_file, data.images, data.labels)
        loaded = cifar10.load([cifar_file])

        def train_epoch() -> None:
            for _ in cifar10.batches(loaded, 128, seed=1):
                pass

        rows.append(
            {
                "name": "cifar10 load (check + copy)",
                "value": _median_rate(images, lambda: cifar10.load([cifar_file])),
                "unit": "records/s",
            }
        )
        rows.append(
            {
                "name": "cifar10 train batches (crop+flip+normalise, 128)",
                "value": _median_rate(images, train_epoch),
                "unit": "images/s",
            }
        )
        rows.append(
            {
                "name": "cifar10 upload conversion to Parquet",
                "value": _median_rate(
                    images, lambda: record_tables.write_cifar_table(cifar_file, root / "c.parquet", "x")
                ),
                "unit": "records/s",
            }
        )

        labels, dense, sparse = criteo.synthetic(lines, seed=0)
        criteo_file = root / "day_0.tsv"
        criteo.write_tsv(criteo_file, labels, dense, sparse)

        def parse() -> None:
            for _ in criteo.iter_parsed(criteo_file):
                pass

        def criteo_batches() -> None:
            for _ in criteo.batches(criteo_file, 2048):
                pass

        def table_batches() -> None:
            for _ in record_tables.iter_criteo_table(root / "d.parquet", 2048):
                pass

        rows.append(
            {"name": "criteo TSV parse (blocks of 8 MiB)", "value": _median_rate(lines, parse), "unit": "lines/s"}
        )
        rows.append(
            {
                "name": "criteo TSV batches of 2048 (prefetched)",
                "value": _median_rate(lines, criteo_batches),
                "unit": "lines/s",
            }
        )
        rows.append(
            {
                "name": "criteo upload conversion to Parquet",
                "value": _median_rate(
                    lines,
                    lambda: record_tables.write_criteo_table(
                        criteo_file, root / "d.parquet", "x", criteo.DEFAULT_VOCAB_SIZE
                    ),
                ),
                "unit": "lines/s",
            }
        )
        rows.append(
            {
                "name": "criteo stored table batches of 2048",
                "value": _median_rate(lines, table_batches),
                "unit": "rows/s",
            }
        )
        criteo_bytes = criteo_file.stat().st_size
    print(f"{'reader':<52} {'rate':>14}")
    for row in rows:
        print(f"{row['name']:<52} {float(row['value']):>10,.0f} {row['unit']}")  # type: ignore[arg-type]
    RESULTS.parent.mkdir(exist_ok=True)
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_average": os.getloadavg(),
    }
    RESULTS.write_text(
        json.dumps(
            {"rows": rows, "images": images, "lines": lines, "criteo_bytes": criteo_bytes, "machine": machine}, indent=2
        )
    )


if __name__ == "__main__":
    main()
