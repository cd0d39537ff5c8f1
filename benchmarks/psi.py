"""ECDH-PSI benchmark: N x N ids with 50% overlap, guest and host on this machine, against the compute bound.

The protocol must do 4N group operations: each side hashes-and-blinds its own N ids and blinds the other's N
points. The *compute bound* is the time those 4N operations take alone, in the same run, on the same pool of
worker processes (all cores): whatever the protocol adds (messages, codec, shuffles, matching, waiting) is the
ratio wall / bound. Goal: within 1.5x.

Both parties run as threads of this process (``unseen.runtime.local.run_parties``, every message through the real
wire codec) sharing one :class:`~unseen.crypto.ristretto.RistrettoPool`, so the cores are shared as they would be
by two parties on one machine.

    python benchmarks/psi.py                 # N = 1,000,000 (minutes on few cores)
    python benchmarks/psi.py --quick         # N = 20,000
    python benchmarks/psi.py --memory 100000,1000000   # peak memory of separate runs, per id

Writes ``benchmarks/results/psi.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from unseen.crypto import ristretto
from unseen.crypto.ristretto import RistrettoPool, available_cores
from unseen.runtime.local import LocalHub, RecordedMessage, run_parties
from unseen.runtime.parties import PartyRef, Role
from unseen.vertical.psi import DEFAULT_BATCH_SIZE, PsiResult, psi_guest, psi_host

GUEST = PartyRef(Role.GUEST, 9999)
HOST = PartyRef(Role.HOST, 10000)
RESULTS = Path(__file__).parent / "results" / "psi.json"


def make_ids(n: int) -> tuple[list[str], list[str]]:
    """Guest ids 0..n-1 and host ids n/2..3n/2-1 (so half of each side is shared), in a scrambled row order."""
    start = n // 2
    guest = [f"customer-{(i * 7919) % n:012d}" for i in range(n)]
    host = [f"customer-{start + (i * 104729) % n:012d}" for i in range(n)]
    return guest, host


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def child_pids() -> list[int]:
    """This process's children (the pool's workers), from /proc."""
    pids: list[int] = []
    for task in Path("/proc/self/task").iterdir():
        pids += [int(pid) for pid in (task / "children").read_text().split()]
    return pids


def peak_rss_of(pid: int) -> int:
    """VmHWM of a live process: its own peak, unlike a child's ru_maxrss, which starts from its parent's at fork."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of this process and of ``pids`` so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    own = resource.getrusage(resource.RUSAGE_SELF)
    total = own.ru_utime + own.ru_stime
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime: fields 14 and 15 of stat
    return total


class CountingLog(list[RecordedMessage]):
    """Stands in for the hub's recording: counts messages and bytes without keeping the bodies.

    ``run_parties`` records every message for the privacy tests; at a million ids that would be 100 MiB of
    bodies held only by the benchmark, and would be counted as the protocol's memory.
    """

    def __init__(self) -> None:
        super().__init__()
        self.messages = 0
        self.total_bytes = 0

    def append(self, message: RecordedMessage) -> None:
        self.messages += 1
        self.total_bytes += len(message.body)


def single_core_rates(count: int = 2000) -> tuple[float, float]:
    """Hash-and-blind and blind operations per second on one core, in this process."""
    ids = [f"probe-{i}".encode() for i in range(count)]
    scalar = ristretto.random_scalar()
    start = time.perf_counter()
    points = ristretto.hash_and_blind(ids, scalar)
    hash_blind = count / (time.perf_counter() - start)
    start = time.perf_counter()
    ristretto.blind(points, scalar)
    blind = count / (time.perf_counter() - start)
    return hash_blind, blind


def compute_bound(
    pool: RistrettoPool, pids: list[int], guest: list[str], host: list[str], batch: int
) -> tuple[float, float]:
    """Wall and CPU seconds of the 4N group operations alone on ``pool``: 2N hash-and-blinds, then 2N blinds."""
    scalar = ristretto.random_scalar()
    ids = [item.encode() for item in guest + host]
    cpu = cpu_seconds(pids)
    start = time.perf_counter()
    blinded = list(pool.hash_and_blind((ids[i : i + batch] for i in range(0, len(ids), batch)), scalar))
    for _ in pool.blind(iter(blinded), scalar):
        pass
    return time.perf_counter() - start, cpu_seconds(pids) - cpu


def run(n: int, workers: int, batch: int, chunk: int, bound: bool) -> dict[str, Any]:
    guest_ids, host_ids = make_ids(n)
    expected = n - n // 2
    with RistrettoPool(workers, chunk=chunk) as pool:
        pool.warm_up()
        pids = child_pids()
        bound_before = compute_bound(pool, pids, guest_ids, host_ids, batch) if bound else None
        rss_before = rss_bytes()
        log = CountingLog()
        hub = LocalHub(recorded=log)
        cpu_start, load_start = cpu_seconds(pids), os.getloadavg()[0]
        start = time.perf_counter()
        outcome = run_parties(
            {
                GUEST: lambda ctx: psi_guest(ctx, guest_ids, pool=pool, batch_size=batch),
                HOST: lambda ctx: psi_host(ctx, host_ids, pool=pool, batch_size=batch),
            },
            recv_timeout=3600.0,
            hub=hub,
        )
        wall = time.perf_counter() - start
        cpu = cpu_seconds(pids) - cpu_start
        load_end = os.getloadavg()[0]
        peak_parent = maxrss_bytes()
        guest: PsiResult = outcome.results[GUEST]
        host: PsiResult = outcome.results[HOST]
        aligned = all(guest_ids[g] == host_ids[h] for g, h in zip(guest.positions, host.positions, strict=True))
        if guest.size != expected or host.size != expected or not aligned:
            raise SystemExit(f"wrong intersection: {guest.size}/{host.size} of {expected}, aligned={aligned}")
        del outcome, guest, host
        bound_after = compute_bound(pool, pids, guest_ids, host_ids, batch) if bound else None
        peak_worker = max(peak_rss_of(pid) for pid in pids)
    hash_blind_rate, blind_rate = single_core_rates()
    ideal = (2 * n / hash_blind_rate + 2 * n / blind_rate) / workers
    bounds = [b for b in (bound_before, bound_after) if b is not None]
    bound_s, bound_cpu = min(bounds) if bounds else (None, None)
    return {
        "n": n,
        "overlap": expected,
        "workers": workers,
        "cores": available_cores(),
        "batch_size": batch,
        "chunk": chunk,
        "wall_s": wall,
        "ids_per_s": 2 * n / wall,
        "bound_s": bound_s,
        "bound_before_s": bound_before[0] if bound_before else None,
        "bound_after_s": bound_after[0] if bound_after else None,
        "bound_cpu_s": bound_cpu,
        "ratio_cpu_psi_to_bound": cpu / bound_cpu if bound_cpu else None,
        "ratio_wall_to_bound": wall / bound_s if bound_s else None,
        "ideal_bound_s": ideal,
        "ratio_wall_to_ideal": wall / ideal,
        "hash_and_blind_per_s_per_core": hash_blind_rate,
        "blind_per_s_per_core": blind_rate,
        "cpu_s_during_psi": cpu,
        "cpu_utilisation": cpu / (wall * available_cores()),
        "load_average_1m": [load_start, load_end],
        "messages": log.messages,
        "wire_bytes": log.total_bytes,
        "rss_before_psi_bytes": rss_before,
        "peak_rss_parent_bytes": peak_parent,
        "psi_extra_bytes_per_id": (peak_parent - rss_before) / (2 * n),
        "peak_rss_worker_bytes": peak_worker,
        "libsodium": ristretto.libsodium_version(),
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
    }


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def report(result: dict[str, Any]) -> str:
    mib = 1024 * 1024
    bound = result["bound_s"]
    rows = [
        ("ids per side (N)", f"{result['n']:,}"),
        ("intersection", f"{result['overlap']:,}"),
        ("workers / cores", f"{result['workers']} / {result['cores']}"),
        ("batch / chunk", f"{result['batch_size']:,} / {result['chunk']:,}"),
        ("wall time", f"{result['wall_s']:.2f} s"),
        ("ids/s (2N / wall)", f"{result['ids_per_s']:,.0f}"),
        (
            "compute bound (4N ops, same pool)",
            f"{bound:.2f} s  (before {result['bound_before_s']:.2f}, after {result['bound_after_s']:.2f})"
            if bound
            else "-",
        ),
        ("wall / bound", f"{result['ratio_wall_to_bound']:.3f}x  (goal <= 1.5x)" if bound else "-"),
        ("ideal (1-core rates / workers)", f"{result['ideal_bound_s']:.2f} s"),
        ("wall / ideal", f"{result['ratio_wall_to_ideal']:.3f}x"),
        ("hash+blind per s per core", f"{result['hash_and_blind_per_s_per_core']:,.0f}"),
        ("blind per s per core", f"{result['blind_per_s_per_core']:,.0f}"),
        ("CPU busy during PSI (all cores)", f"{100 * result['cpu_utilisation']:.0f}%"),
        (
            "CPU seconds PSI / bound",
            f"{result['cpu_s_during_psi']:.1f} / {result['bound_cpu_s']:.1f} = {result['ratio_cpu_psi_to_bound']:.3f}x"
            if bound
            else f"{result['cpu_s_during_psi']:.1f} / -",
        ),
        ("load average at start / end", " / ".join(f"{x:.1f}" for x in result["load_average_1m"])),
        ("messages / bytes on the wire", f"{result['messages']:,} / {result['wire_bytes'] / mib:,.1f} MiB"),
        ("RSS before PSI (ids held)", f"{result['rss_before_psi_bytes'] / mib:,.0f} MiB"),
        ("peak RSS, both parties' process", f"{result['peak_rss_parent_bytes'] / mib:,.0f} MiB"),
        ("PSI peak extra per id (2N ids)", f"{result['psi_extra_bytes_per_id']:,.0f} B"),
        ("peak RSS, one worker", f"{result['peak_rss_worker_bytes'] / mib:,.0f} MiB"),
    ]
    return table(rows)


def memory_check(sizes: list[int], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each size in a fresh process, so ``ru_maxrss`` is that run's own peak."""
    results = []
    for n in sizes:
        out = RESULTS.with_name(f"psi-memory-{n}.json")
        command = [
            sys.executable,
            __file__,
            "--n",
            str(n),
            "--no-bound",
            "--workers",
            str(args.workers),
            "--batch-size",
            str(args.batch_size),
            "--chunk",
            str(args.chunk),
            "--json",
            str(out),
        ]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        results.append(json.loads(out.read_text()))
    mib = 1024 * 1024
    print(
        table(
            [("N", "peak RSS parent | extra per id | peak RSS worker")]
            + [
                (
                    f"{r['n']:,}",
                    f"{r['peak_rss_parent_bytes'] / mib:,.0f} MiB | {r['psi_extra_bytes_per_id']:,.0f} B "
                    f"| {r['peak_rss_worker_bytes'] / mib:,.0f} MiB",
                )
                for r in results
            ]
        )
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="ids per side")
    parser.add_argument("--quick", action="store_true", help="N = 20,000")
    parser.add_argument("--workers", type=int, default=available_cores())
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--chunk", type=int, default=4096, help="rows per task in a worker process")
    parser.add_argument("--no-bound", dest="bound", action="store_false", help="skip timing the compute bound")
    parser.add_argument("--memory", help="comma-separated sizes to compare peak memory of (each in its own run)")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    if args.memory:
        results = memory_check([int(size) for size in args.memory.split(",")], args)
        args.json.with_name("psi-memory.json").write_text(json.dumps(results, indent=2))
        return
    n = 20_000 if args.quick else args.n
    result = run(n, args.workers, args.batch_size, args.chunk, args.bound)
    print(report(result))
    args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
