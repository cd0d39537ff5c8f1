"""Small jobs, end to end: the CLI's start, the toy, and the README's vertical example, step by step.

Everything runs as a user runs it, in a temporary ``UNSEEN_HOME``: the ``unseen`` console script in its own
interpreter, a three-party standalone site (9999 guest, 10000 host, 10001 arbiter; one node process each), the
breast tables uploaded, and ``examples/hetero_lr/job.yaml`` submitted with ``--wait``. Each step is run
``--runs`` times (5 by default) and reported as the median, with the 1-minute load average beside it.

Per component of the vertical job, from the initiator's task rows and each task's own log:

- *task wall*: the task row's ``started_at`` (taken right after its process exists) to ``ended_at``;
- *task start*: ``started_at`` to the component's first log line (its own logger, after its inputs are read);
  the runtime's first line (``task ... of job ...``) marks the end of the process start itself;
- *fixed cost*: what the component costs beyond its own work: the driver's gap (the previous component's end
  to this one's first ``started_at``) + process start (``started_at`` to the runtime's first line) + the end
  (the ``task succeeded`` line to ``ended_at``), the largest over the component's parties.
- for hetero LR, from the guest's log: the epochs run, the median seconds per epoch, the *setup* (``started_at``
  to epoch 0's start: reading the input, waiting for the arbiter's key, the plan) and what follows the last epoch
  (federated scoring, writing the model and the predictions).

``--cold`` runs the same steps a second time on nodes with ``warm_tasks: false`` (every task a new
interpreter, as before the task zygote), for the comparison.

    python benchmarks/small_jobs.py                 # 5 runs of each step, warm starts (~3 min on 2 idle cores)
    python benchmarks/small_jobs.py --cold          # and again with cold starts
    python benchmarks/small_jobs.py --runs 1        # a smoke run

For the CLI steps the table also gives the CPU seconds of the ``unseen`` process itself: on a shared machine
the wall time is mostly waiting for a core, the CPU time is what the command costs.

Prints a table and writes benchmarks/results/small_jobs.json (every sample, the load averages, the machine).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_site import free_port_block, unseen_command

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "small_jobs.json"
GUEST, HOST, ARBITER = 9999, 10000, 10001
JOB_FILE = REPO / "examples" / "hetero_lr" / "job.yaml"
TABLES: tuple[tuple[int, str, str, list[str]], ...] = (
    (GUEST, "breast_hetero_guest.csv", "experiment.breast_guest", ["--label-column", "y"]),
    (HOST, "breast_hetero_host.csv", "experiment.breast_host", []),
)
COMPONENTS = ("reader_0", "psi_0", "scale_0", "hetero_lr_0", "evaluation_0")
GOALS: dict[str, float] = {"version": 0.25, "help": 0.25, "toy": 1.0, "job": 12.0, "start": 0.3, "fixed": 1.0}
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}) \w+ ([\w.]+): (.*)$")


@dataclass
class Sample:
    seconds: float
    load: float
    cpu: float | None = None  # CPU seconds of the command's own process (the CLI steps only)


@dataclass
class Step:
    name: str
    goal: float | None
    samples: list[Sample] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def load(self) -> float:
        return statistics.median(s.load for s in self.samples)

    @property
    def cpu(self) -> float | None:
        known = [s.cpu for s in self.samples if s.cpu is not None]
        return statistics.median(known) if known else None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "median_s": self.median,
            "load": self.load,
            "goal_s": self.goal,
            "met": None if self.goal is None else self.median <= self.goal,
            "cpu_s": self.cpu,
            "samples": [{"seconds": s.seconds, "load": s.load, "cpu": s.cpu} for s in self.samples],
        }


class Steps:
    """Steps in the order they are first measured."""

    def __init__(self) -> None:
        self.steps: dict[str, Step] = {}

    def add(self, name: str, seconds: float, load: float, goal: float | None = None, cpu: float | None = None) -> None:
        self.steps.setdefault(name, Step(name, goal)).samples.append(Sample(seconds, load, cpu))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(action: Callable[[], object]) -> tuple[float, float, float]:
    """Wall seconds, the 1-minute load average before, and the CPU seconds of the processes it waited for."""
    load = os.getloadavg()[0]
    cpu = children_cpu()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start, load, children_cpu() - cpu


def cli(command: str, env: dict[str, str], *args: str, timeout: float = 600) -> str:
    done = subprocess.run([command, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"unseen {' '.join(args)} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def log_time(stamp: str) -> float:
    return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=dt.UTC).timestamp()


@dataclass
class TaskTimes:
    component: str
    where: str
    started_at: float
    ended_at: float
    runtime_line: float  # the runtime's first line: the process is up, its imports done
    component_line: float | None  # the component's own first line
    succeeded_line: float | None


def task_times(site_root: Path, job_id: str, tasks: list[dict[str, Any]]) -> list[TaskTimes]:
    found = []
    for task in tasks:
        log_path = (
            site_root
            / "nodes"
            / str(task["party_id"])
            / "jobs"
            / job_id
            / task["component"]
            / f"{task['role']}_{task['party_id']}"
            / "task.log"
        )
        lines = [m.groups() for m in map(LOG_LINE.match, log_path.read_text().splitlines()) if m]
        runtime = next(log_time(t) for t, name, _ in lines if name == "unseen.task")
        own = next((log_time(t) for t, name, _ in lines if name != "unseen.task"), None)
        succeeded = next(
            (log_time(t) for t, name, text in lines if name == "unseen.task" and text == "task succeeded"), None
        )
        found.append(
            TaskTimes(
                task["component"],
                f"{task['role']}:{task['party_id']}",
                float(task["started_at"]),
                float(task["ended_at"]),
                runtime,
                own,
                succeeded,
            )
        )
    return found


EPOCH_LINE = re.compile(r"^hetero_lr epoch (\d+): loss [-\d.e+]+, lr [-\d.e+]+, ([\d.]+) s$")


@dataclass
class TrainingTimes:
    """Where hetero LR's task time went, from the guest's log: before epoch 0, the epochs, after the last one."""

    epochs: int
    epoch_seconds: list[float]
    setup: float  # task started -> epoch 0 began: input read, the arbiter's key, the plan
    after: float  # the last epoch's line -> task succeeded: federated scoring, model and predictions written


def training_times(site_root: Path, job_id: str, guest: TaskTimes) -> TrainingTimes | None:
    log_path = site_root / "nodes" / str(GUEST) / "jobs" / job_id / "hetero_lr_0" / f"guest_{GUEST}" / "task.log"
    epochs = []
    for match in map(LOG_LINE.match, log_path.read_text().splitlines()):
        found = EPOCH_LINE.match(match.group(3)) if match else None
        if match and found:
            epochs.append((log_time(match.group(1)), float(found.group(2))))
    if not epochs or guest.succeeded_line is None:
        return None
    first_line, first_seconds = epochs[0]
    return TrainingTimes(
        len(epochs),
        [seconds for _, seconds in epochs],
        first_line - first_seconds - guest.started_at,
        guest.succeeded_line - epochs[-1][0],
    )


class Site:
    """A three-party standalone site in its own home, started and stopped through the CLI."""

    def __init__(self, command: str, home: Path, warm: bool) -> None:
        self.command = command
        self.home = home
        self.env = {**os.environ, "UNSEEN_HOME": str(home)}
        self.env.pop("UNSEEN_NODE_URL", None)
        self.root = home / "standalone"
        self.warm = warm

    def start(self) -> None:
        from unseen.node.standalone import StandaloneSite

        parties = [GUEST, HOST, ARBITER]
        site = StandaloneSite(self.root)
        site.configure(parties, free_port_block(2 * len(parties)))
        if not self.warm:
            import yaml

            for party in parties:
                path = site.node_config_path(party)
                path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "warm_tasks": False}))
        cli(self.command, self.env, "standalone", "start")
        if self.warm:  # the zygotes import the common modules in the background: wait until they are ready
            deadline = time.monotonic() + 120
            sockets = [site.node_config(p).zygote_socket for p in parties]
            while not all(s.exists() for s in sockets) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(5)  # and let them import the algorithms too (they do so while idle)
        for party, csv, table, extra in TABLES:
            source = str(REPO / "examples" / "hetero_lr" / csv)
            cli(
                self.command,
                self.env,
                "data",
                "upload",
                "-f",
                source,
                "-t",
                table,
                "--id-column",
                "id",
                *extra,
                "-p",
                str(party),
            )

    def stop(self) -> None:
        subprocess.run(
            [self.command, "standalone", "stop"], env=self.env, capture_output=True, timeout=120, check=False
        )

    def job(self, job_id: str) -> dict[str, Any]:
        from unseen.cli.client import NodeClient
        from unseen.node.standalone import StandaloneSite

        config = StandaloneSite(self.root).node_config(GUEST)
        token = config.api_token_file.read_text().strip()
        client = NodeClient(f"http://127.0.0.1:{config.rest_port}", token, GUEST)
        try:
            job: dict[str, Any] = client.get(f"/jobs/{job_id}")
        finally:
            client.close()
        return job


def run_mode(command: str, home: Path, warm: bool, runs: int, steps: Steps, tasks_out: list[dict[str, Any]]) -> None:
    mode = "warm" if warm else "cold"
    site = Site(command, home, warm)
    print(f"[{mode}] starting a 3-party site, uploading the breast tables ...", flush=True)
    site.start()
    try:
        for _ in range(runs):
            seconds, load, cpu = timed(
                lambda: cli(command, site.env, "test", "toy", "-gid", str(GUEST), "-hid", str(HOST))
            )
            steps.add(f"[{mode}] unseen test toy -gid {GUEST} -hid {HOST}", seconds, load, GOALS["toy"], cpu)
        print(f"[{mode}] toy done; the vertical example x {runs} ...", flush=True)
        for run in range(runs):
            out: dict[str, str] = {}

            def submit(box: dict[str, str] = out) -> None:
                box["stdout"] = cli(command, site.env, "job", "submit", "-c", str(JOB_FILE), "--wait")

            seconds, load, _ = timed(submit)
            match = re.search(r"job (\w+) submitted", out["stdout"])
            if match is None:
                raise RuntimeError(f"no job id in: {out['stdout']}")
            job_id = match.group(1)
            job = site.job(job_id)
            if job["status"] != "success":
                raise RuntimeError(f"job {job_id} {job['status']}: {job['reason']}")
            steps.add(f"[{mode}] vertical example: whole job (job submit --wait)", seconds, load, GOALS["job"])
            record_components(mode, site, job_id, job, load, steps, tasks_out, run)
    finally:
        site.stop()


def record_components(
    mode: str,
    site: Site,
    job_id: str,
    job: dict[str, Any],
    load: float,
    steps: Steps,
    tasks_out: list[dict[str, Any]],
    run: int,
) -> None:
    times = task_times(site.root, job_id, job["tasks"])
    previous_end = float(job["started_at"])
    for component in COMPONENTS:
        mine = [t for t in times if t.component == component]
        for t in sorted(mine, key=lambda t: t.where):
            steps.add(f"[{mode}] {component} {t.where}: task wall", t.ended_at - t.started_at, load)
            if t.component_line is not None:
                steps.add(
                    f"[{mode}] task start (StartTask -> component's first line)",
                    t.component_line - t.started_at,
                    load,
                    GOALS["start"],
                )
            steps.add(
                f"[{mode}] process start (StartTask -> runtime's first line)", t.runtime_line - t.started_at, load
            )
            tasks_out.append({"mode": mode, "run": run, "job_id": job_id, **t.__dict__})
        gap = min(t.started_at for t in mine) - previous_end
        fixed = gap + max(
            (t.runtime_line - t.started_at) + (t.ended_at - (t.succeeded_line or t.ended_at)) for t in mine
        )
        steps.add(f"[{mode}] {component}: fixed cost (driver gap + start + end)", fixed, load, GOALS["fixed"])
        previous_end = max(t.ended_at for t in mine)
        guest = next((t for t in mine if t.where == f"guest:{GUEST}"), None)
        training = training_times(site.root, job_id, guest) if component == "hetero_lr_0" and guest else None
        if training is not None:
            steps.add(f"[{mode}] hetero_lr_0: epochs run", float(training.epochs), load)
            steps.add(f"[{mode}] hetero_lr_0: seconds per epoch", statistics.median(training.epoch_seconds), load)
            steps.add(f"[{mode}] hetero_lr_0: setup (input, key, plan)", training.setup, load, GOALS["fixed"])
            steps.add(f"[{mode}] hetero_lr_0: after training (scoring, outputs)", training.after, load, GOALS["fixed"])


def run_cli_steps(command: str, runs: int, steps: Steps) -> None:
    env = {**os.environ}
    for label, args, goal in (
        ("unseen version", ["version"], GOALS["version"]),
        ("unseen --help", ["--help"], GOALS["help"]),
    ):
        for _ in range(runs):
            seconds, load, cpu = timed(lambda a=args: cli(command, env, *a))  # type: ignore[misc]
            steps.add(label, seconds, load, goal, cpu)


def print_table(steps: Steps) -> None:
    width = max(len(name) for name in steps.steps) + 2
    print(f"\n{'step':<{width}}{'median s':>10}{'CLI cpu s':>10}{'load':>7}{'goal s':>8}  met?")
    print("-" * (width + 41))
    for step in steps.steps.values():
        goal = "-" if step.goal is None else f"{step.goal:g}"
        met = "-" if step.goal is None else ("yes" if step.median <= step.goal else "NO")
        cpu = "-" if step.cpu is None else f"{step.cpu:.3f}"
        print(f"{step.name:<{width}}{step.median:>10.3f}{cpu:>10}{step.load:>7.1f}{goal:>8}  {met}")


def machine_info() -> dict[str, Any]:
    import grpc
    import numpy as np

    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "numpy": np.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each step (median reported; default 5)")
    parser.add_argument("--cold", action="store_true", help="also run on nodes with warm_tasks: false")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args()
    command = unseen_command()
    steps = Steps()
    tasks: list[dict[str, Any]] = []
    started = time.perf_counter()
    load_before = os.getloadavg()
    run_cli_steps(command, args.runs, steps)
    with tempfile.TemporaryDirectory(prefix="unseen-small-") as temp:
        for warm in (True, False) if args.cold else (True,):
            run_mode(command, Path(temp) / ("warm" if warm else "cold"), warm, args.runs, steps, tasks)
    load_after = os.getloadavg()
    print_table(steps)
    wall = time.perf_counter() - started
    print(
        f"\n{os.cpu_count()} CPUs, Python {platform.python_version()}; run took {wall:.0f} s; "
        f"load average (1, 5, 15 min) {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f} before, "
        f"{load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f} after"
    )
    if max(load_before[0], load_after[0]) > (os.cpu_count() or 1):
        print("warning: the machine was busy with other work: figures are slower than on a quiet machine")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "small_jobs",
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "runs": args.runs,
        "machine": machine_info(),
        "load_before": load_before,
        "load_after": load_after,
        "wall_s": wall,
        "steps": [step.as_json() for step in steps.steps.values()],
        "tasks": tasks,
    }
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
