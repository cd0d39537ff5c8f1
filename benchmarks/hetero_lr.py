"""Hetero logistic regression (arbiter-held Paillier key): seconds per epoch and AUC on generated data.

Guest, host and arbiter run in one process (``run_parties``: threads, every message through the real codec); the
Paillier work of guest and host goes to one shared pool of worker processes, one per core, as if the two
parties shared this machine. The data is scikit-learn's ``make_classification`` (30 features, standardised),
split 15 + 15. Training runs a fixed number of epochs of 5 mini-batches each (tol = 0, so no early stop),
then the federated prediction scores the same rows and the AUC is computed at the guest, beside scikit-learn's
LogisticRegression on the joined data with the same L2.

    python benchmarks/hetero_lr.py            # 100,000 rows, 2048-bit key, 3 epochs (~3 min on 2 idle cores)
    python benchmarks/hetero_lr.py --quick    # 10,000 rows, 1024-bit key, 1 epoch (~15 s)
    python benchmarks/hetero_lr.py --small    # the README's vertical example: breast cancer, 569 rows, 10 + 20
                                              # features, whole-table batches, 2048-bit key, 10 epochs, no pool

Run it with ``PYTHONPATH`` pointing at an older checkout's ``src`` to compare: it uses only the API both share.

On a shared machine the wall time depends on what else runs: the table also gives the CPU seconds per epoch
of all our processes, and the cores they got on average.

Prints a table and writes benchmarks/results/hetero_lr.json. Phase seconds are per epoch and per party,
measured in each party's own thread; parties overlap, so phases do not add up to the epoch's wall time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, cast

import gmpy2  # type: ignore[import-untyped]
import numpy as np
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

import unseen
from unseen.runtime.context import Context
from unseen.runtime.local import run_parties
from unseen.runtime.parties import PartyRef, Role
from unseen.transport import codec
from unseen.transport.codec import BigInts
from unseen.vertical.hetero_lr import HeteroLRConfig
from unseen.vertical.hetero_lr_arbiter import ArbiterFit, fit_arbiter
from unseen.vertical.hetero_lr_engine import PaillierEngine, ProcessPoolEngine, SerialEngine
from unseen.vertical.hetero_lr_guest import GuestFit, fit_guest, predict_guest
from unseen.vertical.hetero_lr_host import HostFit, fit_host, predict_host

RESULTS = Path(__file__).resolve().parent / "results" / "hetero_lr.json"
PHASES = ("encrypt", "d", "xtd", "mask", "decrypt", "unmask", "loss")
PHASE_NAMES = {
    "encrypt": "encrypt [[v]] / [[u_h/4]]",
    "d": "exchange them (incl. waiting)",
    "xtd": "X^T [[d]] + loss column",
    "mask": "mask, re-randomise, send",
    "decrypt": "arbiter round trip",
    "unmask": "unmask, step",
    "loss": "loss terms (incl. waiting)",
}
GUEST, HOST, ARBITER = PartyRef(Role.GUEST, 9999), PartyRef(Role.HOST, 10000), PartyRef(Role.ARBITER, 10001)


def _warm(n: int) -> int:
    return n


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of this process (all threads) and of the given worker processes, from /proc."""
    total = sum(os.times()[:2])
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 rows, 1 epoch, 1024-bit key")
    parser.add_argument("--small", action="store_true", help="breast cancer (569 rows, 10 + 20), 10 epochs, 1 core")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument(
        "--batch-size", type=int, default=None, help="rows per batch, -1: full batch (default 20,000; quick: 2,000)"
    )
    parser.add_argument("--key-bits", type=int, default=None)
    parser.add_argument("--feature-bits", type=int, default=HeteroLRConfig.feature_bits)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: cores)")
    parser.add_argument("--learning-rate", type=float, default=None, help="default: the code's own default")
    parser.add_argument("--output", type=Path, default=None, help=f"default {RESULTS}, or _small.json")
    args = parser.parse_args()
    rows = args.rows or (10_000 if args.quick else 100_000)
    epochs = args.epochs or (1 if args.quick else 10 if args.small else 3)
    key_bits = args.key_bits or (1024 if args.quick else 2048)
    batch_size = args.batch_size or (2_000 if args.quick else -1 if args.small else 20_000)

    if args.small:
        features, y = load_breast_cancer(return_X_y=True)
        x = StandardScaler().fit_transform(features)
        x_guest, x_host = x[:, :10], x[:, 10:]
        rows = len(y)
    else:
        x, y = make_classification(
            n_samples=rows, n_features=30, n_informative=12, n_redundant=6, flip_y=0.05, class_sep=0.8, random_state=0
        )
        x = StandardScaler().fit_transform(x)
        x_guest, x_host = x[:, :15], x[:, 15:]
    rate = {} if args.learning_rate is None else {"learning_rate": args.learning_rate}
    config = HeteroLRConfig(
        max_iter=epochs,
        batch_size=batch_size,
        **rate,
        alpha=0.001,
        tol=0.0,
        key_bits=key_bits,
        feature_bits=args.feature_bits,
        random_seed=0,
    )

    started = time.perf_counter()
    executor = ProcessPoolExecutor(max_workers=args.workers, mp_context=multiprocessing.get_context("spawn"))
    list(executor.map(_warm, range(args.workers)))  # start the processes before the clock runs
    pool_start_s = time.perf_counter() - started
    # a small table runs in the task's thread, as make_engine decides in a job
    engine: PaillierEngine = SerialEngine() if args.small else ProcessPoolEngine(args.workers, executor=executor)

    def guest(ctx: Context) -> tuple[GuestFit, np.ndarray]:
        fit = fit_guest(ctx.sub("train"), x_guest, y, config, engine)
        return fit, predict_guest(ctx.sub("predict"), x_guest, fit.coef, fit.intercept)

    def host(ctx: Context) -> HostFit:
        fit = fit_host(ctx.sub("train"), x_host, config, engine)
        predict_host(ctx.sub("predict"), x_host, fit.coef)
        return fit

    def arbiter(ctx: Context) -> ArbiterFit:
        return fit_arbiter(ctx.sub("train"), config)

    pids = list(getattr(executor, "_processes", {}) or {})  # the workers, to read their CPU time from /proc
    cpu_before, started = _cpu_seconds(pids), time.perf_counter()
    programs: dict[PartyRef, Callable[[Context], Any]] = {GUEST: guest, HOST: host, ARBITER: arbiter}
    run = run_parties(programs, recv_timeout=3600.0)
    total_s = time.perf_counter() - started
    cpu_s = _cpu_seconds(pids) - cpu_before
    executor.shutdown()

    guest_fit, scores = cast(tuple[GuestFit, np.ndarray], run.results[GUEST])
    host_fit = cast(HostFit, run.results[HOST])
    arbiter_fit = cast(ArbiterFit, run.results[ARBITER])
    auc = float(roc_auc_score(y, scores))
    reference = LogisticRegression(C=1 / (config.alpha_for(rows) * rows), max_iter=2000).fit(x, y)
    reference_auc = float(roc_auc_score(y, reference.decision_function(x)))
    epoch_s = guest_fit.summary.epoch_seconds
    n_epochs = guest_fit.summary.n_iter
    phases = {
        party: {p: fit.summary.phase_seconds.get(p, 0.0) / n_epochs for p in PHASES}
        for party, fit in (("guest", guest_fit), ("host", host_fit))
    }
    phases["arbiter"] = {p: arbiter_fit.summary.phase_seconds.get(p, 0.0) / n_epochs for p in ("decrypt", "wait")}
    # CPU seconds of each party's own thread per phase (not the pool's work); older code does not record them
    cpu_phases = {
        party: {p: getattr(fit.summary, "phase_cpu_seconds", {}).get(p, 0.0) / n_epochs for p in PHASES}
        for party, fit in (("guest", guest_fit), ("host", host_fit), ("arbiter", arbiter_fit))
    }
    wire_bytes = sum(len(m.body) for m in run.hub.recorded)
    to_arbiter = [m for m in run.hub.recorded if m.dst == ARBITER and m.tag.endswith("/gradient")]
    arbiter_ciphertexts = sum(len(cast(BigInts, codec.decode(m.header, m.body))) for m in to_arbiter)

    report: dict[str, Any] = {
        "benchmark": "hetero_lr",
        "quick": args.quick,
        "rows": rows,
        "features": {"guest": x_guest.shape[1], "host": x_host.shape[1]},
        "key_bits": key_bits,
        "feature_bits": config.feature_bits,
        "batch_size": config.batch_size,
        "epochs": n_epochs,
        "workers": args.workers,
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "gmpy2": gmpy2.version(),
        "numpy": np.__version__,
        "pool_start_s": pool_start_s,
        "total_s": total_s,
        "cpu_s": cpu_s,
        "cpu_s_per_epoch": cpu_s / n_epochs,
        "cores_used": cpu_s / total_s,
        "epoch_s": epoch_s,
        "mean_epoch_s": float(np.mean(epoch_s)),
        "auc": auc,
        "sklearn_auc": reference_auc,
        "loss_history": guest_fit.summary.loss_history,
        "wire_mb_per_epoch": wire_bytes / n_epochs / 1e6,
        "phase_s_per_epoch": phases,
        "phase_cpu_s_per_epoch": cpu_phases,
        "goal_s_per_epoch": 60.0,
        "to_arbiter_per_epoch": arbiter_ciphertexts / n_epochs,
        "code": str(Path(unseen.__file__).parent),
    }
    output = args.output or (RESULTS.with_name("hetero_lr_small.json") if args.small else RESULTS)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")

    print(
        f"hetero LR, {rows:,} rows x {x.shape[1]} features ({x_guest.shape[1]} guest + {x_host.shape[1]} host), "
        f"{key_bits}-bit key, {'no pool' if args.small else f'{args.workers} workers'}"
    )
    print(f"{'epoch':>6} {'seconds':>9} {'loss':>10}")
    for index, (seconds, loss) in enumerate(zip(epoch_s, guest_fit.summary.loss_history, strict=True)):
        print(f"{index:>6} {seconds:>9.1f} {loss:>10.5f}")
    print(
        f"mean seconds per epoch: {report['mean_epoch_s']:.1f} "
        "(goal < 60; FATE 2.0: 139 s for 100k x 330, 16 cores/party)"
    )
    print(f"AUC (training rows, federated prediction): {auc:.4f}; scikit-learn LR on joined data: {reference_auc:.4f}")
    print(f"wire: {report['wire_mb_per_epoch']:.0f} MB per epoch; pool start {pool_start_s:.1f} s (not in epochs)")
    print(
        f"CPU: {cpu_s / n_epochs:.1f} s per epoch (all processes; training and scoring), "
        f"{cpu_s / total_s:.2f} cores busy on average (load average now: {os.getloadavg()[0]:.1f})"
    )
    print()
    print(f"{'phase (s per epoch)':<32} {'guest':>8} {'host':>8} {'guest CPU':>10} {'host CPU':>10}")
    for phase in PHASES:
        print(
            f"{PHASE_NAMES[phase]:<32} {phases['guest'][phase]:>8.2f} {phases['host'][phase]:>8.2f} "
            f"{cpu_phases['guest'][phase]:>10.3f} {cpu_phases['host'][phase]:>10.3f}"
        )
    print(f"{'arbiter: decrypt':<32} {phases['arbiter']['decrypt']:>8.3f} (CPU {cpu_phases['arbiter']['decrypt']:.3f})")
    print(f"{'arbiter: waiting':<32} {phases['arbiter']['wait']:>8.3f}")
    print(f"ciphertexts to the arbiter per epoch: {report['to_arbiter_per_epoch']}")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
