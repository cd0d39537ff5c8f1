"""Horizontal FL on real nodes: FedAvg round time, secure-aggregation overhead, worker training throughput.

Every job runs the ``bench_horizontal`` component (``src/unseen/components/bench_horizontal.py``) on a
standalone site in a temporary ``UNSEEN_HOME``: one node process per party, every worker on its own node,
the aggregator (arbiter) on its own node, each task its own process, all traffic through the nodes over
mTLS. Three parts, each against a baseline measured in the same run:

1. ``digits``: FedAvg with 3 workers on the digits MLP (parties 9999, 10000, 10001 train; 10002 aggregates);
   round time (goal <= 0.5 s) and where it goes: orders and weights out, local training, contributions
   in and summed, the update.
2. ``secagg``: a synthetic 1M-parameter model, plain FedAvg against FedAvg with SecAgg+ at each worker
   count, same site, same run: round-time overhead (goal < 30 % at 10 workers) and bytes each worker sends
   per round (goal < 1.5x), in the default 2^64 ring and in the 2^32 ring (``secure_aggregation.ring_bits``).
3. ``throughput``: one worker's training samples per second inside a job, its fit and evaluation as the
   job runs them, against the same trainer in a plain loop in this process (goal >= 0.9: the job must not
   slow training down). Beside it, the worker's whole round cycle (from one round's weights to the next's,
   waiting for the aggregator included) at 5 local epochs (~25 ms of training, so the round's two
   cross-node messages weigh) and at 40; the round's own cost is what part 1 measures.
   ``TRAINERS`` is the hook for a framework adapter's trainer.

    python benchmarks/horizontal.py                      # all three parts, 3..50 workers
    python benchmarks/horizontal.py --quick              # smoke run: 3 and 5 workers, few rounds
    python benchmarks/horizontal.py --parts secagg --workers 3,10
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from bench_site import free_port_block, plug_in_benchmark_components

RESULTS = Path(__file__).resolve().parent / "results" / "horizontal.json"
COMPONENT = "bench_horizontal"
FIRST_PARTY = 9999
JOB_TIMEOUT_S = 1800


@dataclass(frozen=True)
class Settings:
    workers: tuple[int, ...] = (3, 5, 10, 20, 50)
    parameters: int = 1_000_000
    neighbours: int = 8
    digits_rounds: int = 20
    secagg_rounds: int = 3
    throughput_rounds: int = 10
    throughput_epochs: int = 5
    throughput_long_epochs: int = 40  # the same cycle with a round's training long enough to hide its messages
    throughput_threads: tuple[int, ...] = (1, 0)  # BLAS threads of the worker and the loop; the goal reads the first
    throughput_hidden: int = 256
    warmup: int = 1
    repeats: int = 1  # secagg part: plain and secure jobs per worker count, interleaved
    rings: tuple[int, ...] = (64, 32)  # secagg part: the secure jobs' rings (64 is the default; 32 halves the bytes)


QUICK = Settings(
    workers=(3, 5), digits_rounds=5, secagg_rounds=2, throughput_rounds=2, throughput_epochs=2, throughput_long_epochs=8
)


@dataclass
class Row:
    name: str
    value: float
    unit: str
    baseline: float | None = None
    goal: float | None = None
    lower_is_better: bool = False  # the goal bounds the ratio (or the value when there is no baseline)

    @property
    def ratio(self) -> float | None:
        return None if self.baseline is None or self.baseline == 0 else self.value / float(self.baseline)

    @property
    def met(self) -> bool | None:
        if self.goal is None:
            return None
        measured = self.value if self.ratio is None else self.ratio
        return measured <= self.goal if self.lower_is_better else measured >= self.goal

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


# --- the site ----------------------------------------------------------------------------------------------


def rss_mib(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of a process, MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


class Site:
    def __init__(self, home: Path, nodes: int) -> None:
        from unseen.node.standalone import StandaloneSite

        self.parties = [FIRST_PARTY + i for i in range(nodes)]
        self.site = StandaloneSite(home / "standalone")
        self.site.configure(self.parties, base_port=free_port_block(2 * nodes))
        self.started: list[int] = []

    def start(self) -> float:
        began = time.perf_counter()
        for party in self.parties:
            self.site.start_node(party)
            self.started.append(party)
        for party in self.parties:
            self.site.wait_healthy(party, timeout=600)
        return time.perf_counter() - began

    def node_rss(self) -> dict[int, tuple[float, float]]:
        out = {}
        for party in self.started:
            pid = self.site.pid_of(party)
            if pid is not None:
                out[party] = rss_mib(pid)
        return out

    def stop(self) -> None:
        for party in self.started:
            self.site.stop_node(party)

    def keep_only(self, parties: list[int]) -> None:
        """Stop every other node: idle nodes cost a little CPU each (~0.25 % of a core), 49 of them ~12 %."""
        for party in [p for p in self.started if p not in parties]:
            self.site.stop_node(party)
        self.started = [p for p in self.started if p in parties]


@dataclass
class JobRun:
    arbiter: list[dict[str, float]]
    workers: dict[int, list[dict[str, float]]]
    wall_s: float
    secagg_lines: list[str] = field(default_factory=list)  # the arbiter's per-round secure-aggregation log lines


def run_job(arbiter: int, workers: list[int], params: dict[str, Any], name: str) -> JobRun:
    """One ``bench_horizontal`` job: ``workers[0]`` is the guest (and initiator), the rest hosts."""
    from unseen.cli.client import client_for
    from unseen.cli.waiting import wait_for_job

    parties: dict[str, list[int]] = {"guest": [workers[0]], "arbiter": [arbiter]}
    if len(workers) > 1:
        parties["host"] = workers[1:]
    config = {
        "name": name,
        "initiator": {"role": "guest", "party_id": workers[0]},
        "parties": parties,
        "timeout_s": JOB_TIMEOUT_S,
        "components": [{"name": "fl_0", "component": COMPONENT, "params": params}],
    }
    client = client_for(workers[0])
    began = time.perf_counter()
    job_id = client.post("/jobs", config)["job_id"]
    job = wait_for_job(client, job_id, JOB_TIMEOUT_S + 10)
    wall = time.perf_counter() - began
    if job["status"] != "success":
        logs = []
        for party in [arbiter, *workers[:3]]:
            try:
                logs.append(client_for(party).text(f"/jobs/{job_id}/logs", tail=3000))
            except Exception as exc:  # best effort: the job's reason follows anyway
                logs.append(f"(logs of party {party} unavailable: {exc})")
        raise RuntimeError(f"job {job_id} {job['status']}: {job['reason']}\n" + "\n".join(logs))

    def rounds_of(party: int, role: str) -> list[dict[str, float]]:
        for metric in client_for(party).get(f"/jobs/{job_id}/metrics", component="fl_0"):
            if metric["name"] == "rounds" and metric["role"] == role:
                return [r for r in metric["value"]["rounds"] if not r.get("warmup")]
        raise RuntimeError(f"job {job_id}: no 'rounds' metric from {role} {party}")

    by_worker = {workers[0]: rounds_of(workers[0], "guest")}
    by_worker |= {p: rounds_of(p, "host") for p in workers[1:]}
    log = client_for(arbiter).text(f"/jobs/{job_id}/logs", tail=3000) if params.get("secure") else ""
    stages = [line.split("secure aggregation of", 1)[1] for line in log.splitlines() if "secure aggregation of" in line]
    return JobRun(rounds_of(arbiter, "arbiter"), by_worker, wall, stages)


def pooled(jobs: list[JobRun]) -> JobRun:
    """The timed rounds of several jobs of the same workers as one job's."""
    arbiter = [r for job in jobs for r in job.arbiter]
    workers = {p: [r for job in jobs for r in job.workers[p]] for p in jobs[0].workers}
    return JobRun(
        arbiter, workers, sum(job.wall_s for job in jobs), [line for job in jobs for line in job.secagg_lines]
    )


@dataclass
class Breakdown:
    """Medians over the timed rounds; per round, the slowest worker sets each phase's end."""

    round_s: float
    weights_out_s: float  # round start -> the last worker holds the weights (orders + broadcast)
    train_s: float  # the slowest worker's local training (and evaluation)
    contribute_s: float  # the last worker done training -> the aggregator holds the sum (gather or secagg)
    apply_s: float  # the strategy's update
    bytes_per_worker: float  # median over workers and rounds of what each worker sent
    samples_per_s: float = 0.0  # the slowest worker's samples / its fit seconds
    raw: dict[str, list[float]] = field(default_factory=dict)


def breakdown(job: JobRun) -> Breakdown:
    names = ("round", "out", "train", "contribute", "apply", "sps", "prepared_wait", "sent")
    cols: dict[str, list[float]] = {k: [] for k in names}
    for index, agg in enumerate(job.arbiter):
        mine = [rounds[index] for rounds in job.workers.values()]
        last_weights = max(r["weights_at"] for r in mine)
        last_trained = max(r["trained_at"] for r in mine)
        cols["round"].append(agg["seconds"])
        cols["out"].append(last_weights - agg["start_at"])
        cols["train"].append(max(r["trained_at"] - r["weights_at"] for r in mine))
        cols["contribute"].append(agg["collect_end_at"] - last_trained)
        cols["apply"].append(agg["end_at"] - agg["apply_start_at"])
        cols["prepared_wait"].append(max(r.get("prepared_wait_s", 0.0) for r in mine))  # secure: trained, not ready
        cols["sent"].append(max(r["contributed_at"] for r in mine) - last_trained)
        cols["sps"].append(min(r["samples"] / r["fit_s"] for r in mine if r["fit_s"] > 0) if mine else 0.0)
    sent = [r["bytes_sent"] for rounds in job.workers.values() for r in rounds]
    med = {k: float(np.median(v)) if v else 0.0 for k, v in cols.items()}
    return Breakdown(
        med["round"],
        med["out"],
        med["train"],
        med["contribute"],
        med["apply"],
        float(np.median(sent)),
        med["sps"],
        cols,
    )


# --- the parts ---------------------------------------------------------------------------------------------


def part_digits(settings: Settings, site: Site, rows: list[Row], samples: dict[str, Any]) -> None:
    workers, arbiter = site.parties[:3], site.parties[3]
    params = {"model": "digits", "rounds": settings.digits_rounds, "warmup": settings.warmup, "hidden": 32}
    job = run_job(arbiter, workers, params, "bench-fedavg-digits")
    b = breakdown(job)
    samples["digits"] = asdict(b) | {"job_wall_s": job.wall_s, "params": params}
    rows.append(Row("digits MLP, 3 workers: FedAvg round (median)", b.round_s, "s", goal=0.5, lower_is_better=True))
    rows.append(Row("  orders + weights to the last worker", b.weights_out_s, "s"))
    rows.append(Row("  local training + evaluation (slowest worker)", b.train_s, "s"))
    rows.append(Row("  last trained -> sum at the aggregator", b.contribute_s, "s"))
    rows.append(Row("  the update (FedAvg apply)", b.apply_s, "s"))
    rows.append(Row("  job wall time, submit to success", job.wall_s, "s"))


def ring_encoding(ring_bits: int, workers: int) -> dict[str, int]:
    """The ring and its default fraction bits, fewer where ``workers`` sums of the default clip would not fit
    (the 2^32 ring's defaults hold 31 workers): ``workers * clip * 2^f < 2^(ring_bits - 1)``."""
    from unseen.horizontal.secagg import encoding_for

    frac_bits, clip = encoding_for(ring_bits)
    room = math.ceil(math.log2(2.0 ** (ring_bits - 1) / (workers * clip))) - 1
    return {"ring_bits": ring_bits, "frac_bits": min(frac_bits, room)}


def part_secagg(settings: Settings, site: Site, rows: list[Row], samples: dict[str, Any]) -> None:
    arbiter = site.parties[-1]
    for count in settings.workers:
        workers = site.parties[:count]
        base = {"model": "synthetic", "parameters": settings.parameters, "rounds": settings.secagg_rounds}
        base |= {"warmup": settings.warmup}
        neighbours = min(settings.neighbours, (count - 1) // 2 * 2)
        encodings = {ring: ring_encoding(ring, count) for ring in settings.rings}
        plain_jobs: list[JobRun] = []
        secure_jobs: dict[int, list[JobRun]] = {ring: [] for ring in settings.rings}
        for repeat in range(settings.repeats):  # interleaved, so a neighbour's burst of load hits all alike
            plain_jobs.append(run_job(arbiter, workers, base, f"bench-plain-{count}-{repeat}"))
            for ring in settings.rings:
                secure_params = base | {"secure": True, "neighbours": neighbours} | encodings[ring]
                secure_jobs[ring].append(
                    run_job(arbiter, workers, secure_params, f"bench-secagg{ring}-{count}-{repeat}")
                )
        plain = breakdown(pooled(plain_jobs))
        label = f"{count} workers, 1M params"
        samples[f"secagg_{count}"] = {"plain": asdict(plain), "neighbours": neighbours}
        rows.append(Row(f"{label}: plain FedAvg round", plain.round_s, "s"))
        goal = 1.3 if count == 10 else None
        bytes_goal = 1.5 if count == 10 else None
        for ring, jobs in secure_jobs.items():
            secure = breakdown(pooled(jobs))
            samples[f"secagg_{count}"][f"ring{ring}"] = asdict(secure) | {
                "arbiter_stages": [line for job in jobs for line in job.secagg_lines]
            }
            name = f"{label}: SecAgg+ round (k={neighbours}, 2^{ring} ring, 2^-{encodings[ring]['frac_bits']})"
            rows.append(Row(name, secure.round_s, "s", plain.round_s, goal, True))
            rows.append(Row(f"{label}:   of which secure sum (2^{ring})", secure.contribute_s, "s", plain.contribute_s))
            sent = secure.bytes_per_worker / 2**20
            rows.append(
                Row(f"{label}: bytes sent per worker per round (2^{ring})", sent, "MiB", plain.bytes_per_worker / 2**20,
                    bytes_goal, True)
            )  # fmt: skip
        rss = site.node_rss()
        used = [rss[p] for p in [*workers, arbiter] if p in rss]
        samples[f"secagg_{count}"]["node_rss_mib"] = used
        rows.append(Row(f"{label}: node peak RSS, largest", max(peak for _, peak in used), "MiB"))


# A trainer factory per framework: (hidden units, seed) -> a LocalTrainer over the worker's digits share.
# The torch adapter adds "torch" here once it lands (horizontal/torch.py).
TRAINERS: dict[str, Callable[[int, int], Any]] = {}


def _numpy_trainer(hidden: int, seed: int) -> Any:
    from unseen.components.bench_horizontal import digits_split
    from unseen.horizontal.reference import MLPTrainer

    x, y, x_val, y_val = digits_split(0, 1, seed)
    return MLPTrainer(x, y, lr=0.1, seed=seed, x_val=x_val, y_val=y_val)


TRAINERS["numpy"] = _numpy_trainer


def local_loop(settings: Settings, trainer_name: str, threads: int) -> list[float]:
    """Samples per second of the same trainer, model and data in a plain loop: fit, evaluate, repeat;
    ``threads`` BLAS threads (0: the library's default), as the job's worker gets."""
    from threadpoolctl import threadpool_limits

    from unseen.components.bench_horizontal import BenchHorizontalParams, initial_weights
    from unseen.horizontal.strategy import Instruction

    params = BenchHorizontalParams(model="digits", hidden=settings.throughput_hidden)
    trainer = TRAINERS[trainer_name](settings.throughput_hidden, params.seed)
    weights = initial_weights(params)
    rates = []
    with threadpool_limits(limits=threads or None):
        for step in range(settings.warmup + settings.throughput_rounds):
            began = time.perf_counter()
            trainer.evaluate(weights)
            result = trainer.fit(weights, Instruction("fit", step, settings.throughput_epochs, 32))
            seconds = time.perf_counter() - began
            weights = result.weights
            if step >= settings.warmup:
                rates.append(result.num_samples * settings.throughput_epochs / seconds)
    return rates


THROUGHPUT_JOBS = 3  # local loop, job, local loop, job, ...: the machine's load drifts alike for both


def _throughput_job(site: Site, params: dict[str, Any], name: str) -> tuple[list[float], list[dict[str, float]]]:
    """One worker's round cycles (from one round's weights to the next's) and its per-round records."""
    arbiter, worker = site.parties[-1], site.parties[0]
    mine = run_job(arbiter, [worker], params, name).workers[worker]
    return [b["weights_at"] - a["weights_at"] for a, b in itertools.pairwise(mine)], mine


def part_throughput(settings: Settings, site: Site, rows: list[Row], samples: dict[str, Any]) -> None:
    """Per BLAS thread setting (``Settings.throughput_threads``): the goal is read at one thread, where the
    job's worker and the plain loop each have a core; with every core, the worker's BLAS threads share the
    machine's two cores with both nodes, the aggregator and this benchmark's polling, which the loop does not."""
    for threads in settings.throughput_threads:
        _throughput_at(settings, site, rows, samples, threads)


def _throughput_at(settings: Settings, site: Site, rows: list[Row], samples: dict[str, Any], threads: int) -> None:
    params = {"model": "digits", "hidden": settings.throughput_hidden, "rounds": settings.throughput_rounds}
    params |= {"warmup": settings.warmup, "local_epochs": settings.throughput_epochs, "threads": threads}
    local: list[float] = []
    cycles: list[float] = []
    fit_rates: list[float] = []
    phases: list[dict[str, float]] = []
    long_cycles: list[float] = []
    long_params = params | {"local_epochs": settings.throughput_long_epochs, "rounds": 4}
    for index in range(THROUGHPUT_JOBS):
        local += local_loop(settings, "numpy", threads)
        job_cycles, mine = _throughput_job(site, params, f"bench-throughput-{threads}-{index}")
        cycles += job_cycles
        fit_rates += [r["samples"] / (r["fit_s"] + r["eval_s"]) for r in mine]
        # Where a round cycle goes besides training: the contribution leaving, then the wait for the next
        # round's weights (the aggregator's gather, update and metrics, the order and weights coming back).
        phases += [
            {
                "fit_eval_s": a["fit_s"] + a["eval_s"],
                "contribute_s": a["contributed_at"] - a["trained_at"],
                "next_weights_s": b["weights_at"] - a["contributed_at"],
            }
            for a, b in itertools.pairwise(mine)
        ]
        long_cycles += _throughput_job(site, long_params, f"bench-throughput-long-{threads}-{index}")[0]
    local += local_loop(settings, "numpy", threads)
    baseline = float(np.median(local))
    per_round = float(np.median([r["samples"] for r in mine]))  # samples of one round's local epochs
    end_to_end = per_round / float(np.median(cycles)) if cycles else 0.0
    long_round = per_round * settings.throughput_long_epochs / settings.throughput_epochs
    long_end_to_end = long_round / float(np.median(long_cycles)) if long_cycles else 0.0
    fit_only = float(np.median(fit_rates))
    between = float(np.median([p["contribute_s"] + p["next_weights_s"] for p in phases]))
    samples[f"throughput_threads_{threads}"] = {
        "local_rates": local,
        "cycles_s": cycles,
        "long_cycles_s": long_cycles,
        "phases": phases,
        "params": params,
        "long_params": long_params,
    }
    label = f"digits MLP (hidden {settings.throughput_hidden}), {threads or 'default'} BLAS thread(s)"
    goal = 0.9 if threads == settings.throughput_threads[0] else None
    rows.append(Row(f"{label}: local loop, fit + evaluate (baseline)", baseline, "sam/s"))
    rows.append(Row(f"{label}: in a job, fit + evaluate", fit_only, "sam/s", baseline, goal))
    epochs, long_epochs = settings.throughput_epochs, settings.throughput_long_epochs
    rows.append(Row(f"{label}: in a job, round cycle, {epochs} local epochs", end_to_end, "sam/s", baseline))
    rows.append(Row(f"{label}: in a job, round cycle, {long_epochs} local epochs", long_end_to_end, "sam/s", baseline))
    rows.append(Row(f"{label}: in a job, between trained and next weights", between, "s"))


# --- output ------------------------------------------------------------------------------------------------


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.1f}"


def print_table(rows: list[Row]) -> None:
    width = max(len(r.name) for r in rows)
    header = f"{'name':<{width}}  {'value':>9}  {'unit':<5}  {'baseline':>9}  {'ratio':>6}  {'goal':>6}  met?"
    print(header)
    print("-" * len(header))
    for r in rows:
        goal = "-" if r.goal is None else f"{'<=' if r.lower_is_better else '>='}{r.goal:g}"
        met = "-" if r.met is None else "yes" if r.met else "NO"
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}"
        print(
            f"{r.name:<{width}}  {_number(r.value):>9}  {r.unit:<5}  {_number(r.baseline):>9}  {ratio:>6}  "
            f"{goal:>6}  {met}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 and 5 workers, few rounds")
    parser.add_argument("--parts", default="digits,secagg,throughput", help="comma-separated parts to run")
    parser.add_argument("--workers", help="worker counts for the secagg part, e.g. 3,5,10,20,50")
    parser.add_argument("--rounds", type=int, help="timed rounds of the secagg part")
    parser.add_argument("--repeats", type=int, help="secagg part: interleaved plain/secure job pairs per count")
    parser.add_argument("--neighbours", type=int, help="secagg part: SecAgg+ k at most this (even; default 8)")
    parser.add_argument("--rings", help="secagg part: the secure jobs' rings, e.g. 64 or 64,32 (default both)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    settings = QUICK if args.quick else Settings()
    if args.workers:
        settings = Settings(**{**asdict(settings), "workers": tuple(int(w) for w in args.workers.split(","))})
    if args.rounds:
        settings = Settings(**{**asdict(settings), "secagg_rounds": args.rounds})
    if args.neighbours is not None:
        settings = Settings(**{**asdict(settings), "neighbours": args.neighbours})
    if args.repeats:
        settings = Settings(**{**asdict(settings), "repeats": args.repeats})
    if args.rings:
        settings = Settings(**{**asdict(settings), "rings": tuple(int(r) for r in args.rings.split(","))})
    parts = [p for p in args.parts.split(",") if p]
    nodes = max(4, *(w + 1 for w in settings.workers)) if "secagg" in parts else 4
    rows: list[Row] = []
    samples: dict[str, Any] = {}
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="unseen-hbench-") as temp:
        os.environ["UNSEEN_HOME"] = str(Path(temp) / "home")
        plug_in_benchmark_components()
        site = Site(Path(temp) / "home", nodes)
        try:
            print(f"starting {nodes} nodes ...", flush=True)
            startup = site.start()
            samples["startup_s"] = startup
            rss = site.node_rss()
            samples["idle_node_rss_mib"] = rss
            rows.append(Row(f"{nodes} nodes: start to all healthy", startup, "s"))
            rows.append(Row("node RSS after start, median", float(np.median([r for r, _ in rss.values()])), "MiB"))
            for name, part in (("digits", part_digits), ("secagg", part_secagg), ("throughput", part_throughput)):
                if name in parts:
                    print(f"part {name} ...", flush=True)
                    if name == "throughput":  # one worker and the aggregator: the rest of the site stops
                        site.keep_only([site.parties[0], site.parties[-1]])
                    part(settings, site, rows, samples)
        except Exception:
            for party in site.started[:2] + site.started[-1:]:
                print(f"--- party {party}'s node log ---\n{site.site.log_tail(party, 20)}", file=sys.stderr)
            raise
        finally:
            site.stop()
    wall = time.perf_counter() - started
    print()
    print_table(rows)
    load_after = os.getloadavg()[0]
    print(
        f"\n{os.cpu_count()} CPUs; run took {wall:.0f} s; load average {load_before:.1f} before, {load_after:.1f} after"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "horizontal",
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "settings": asdict(settings),
        "parts": parts,
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__},
        "run": {"wall_s": wall, "load_before": load_before, "load_after": load_after},
        "rows": [r.as_json() for r in rows],
        "samples": samples,
    }
    args.output.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
