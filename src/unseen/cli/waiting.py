"""Waiting for a job from the CLI, showing each component's progress as it changes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from unseen.board.progress import progress_of
from unseen.cli.client import ClientError, NodeClient

FINAL = {"success", "failed", "canceled", "timeout"}
FIRST_POLL_S = 0.05  # a small job ends within a second: look often at first ...
POLL_S = 0.3  # ... then every 0.3 s, each poll a request the node (maybe this machine) answers
METRICS_POLL_S = 1.0  # round progress (homo_nn) is read from the node's metrics at most this often


def component_progress(tasks: list[dict[str, Any]]) -> dict[str, str]:
    """One line per component: each party's task state, e.g. ``guest:10000 success, host:9999 running``."""
    lines: dict[str, list[str]] = {}
    for task in tasks:
        lines.setdefault(task["component"], []).append(f"{task['role']}:{task['party_id']} {task['status']}")
    return {component: ", ".join(states) for component, states in lines.items()}


def convergence_notes(points: list[dict[str, Any]]) -> list[str]:
    """A line for each task that logged whether its model converged (the ``converged`` metric, 1 or 0).

    e.g. ``hetero_lr_0: did not converge in 30 epochs (loss change 1.2e-03 > tol 1e-04); raise max_iter or
    learning_rate``. Only scalar points without a step count; anything malformed is skipped, not shown.
    """
    tasks: dict[tuple[str, str, str], dict[str, float]] = {}
    for point in points:
        value = point.get("value")
        if point.get("step") is not None or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        key = (str(point.get("component")), str(point.get("role")), str(point.get("party_id")))
        tasks.setdefault(key, {})[str(point.get("name"))] = float(value)
    lines = []
    for (component, _role, _party), values in tasks.items():
        if "converged" not in values:
            continue
        epochs = int(values.get("epochs_run", 0))
        if values["converged"] == 1.0:
            lines.append(f"{component}: converged in {epochs} epochs")
            continue
        change, tol = values.get("loss_change"), values.get("tol")
        detail = ""
        if change is not None and tol is not None:
            detail = (
                f" (loss change {change:.1e} > tol {tol:g})"
                if change >= tol
                else f" (loss change {change:.1e} < tol {tol:g}, but not for enough epochs in a row)"
            )
        lines.append(f"{component}: did not converge in {epochs} epochs{detail}; raise max_iter or learning_rate")
    return lines


def round_progress(metrics: list[dict[str, Any]]) -> dict[str, str]:
    """A line per component that logs rounds (homo_nn): ``round 4/20, 0.31 s/round, loss 0.4120, accuracy 0.9012,
    3 workers``, from the latest step of each metric this node holds."""
    latest: dict[str, dict[str, tuple[int, Any]]] = {}
    for metric in metrics:
        raw = metric.get("step")
        step = raw if isinstance(raw, int) else -1
        seen = latest.setdefault(str(metric.get("component")), {})
        name = str(metric.get("name"))
        if name not in seen or step >= seen[name][0]:
            seen[name] = (step, metric.get("value"))
    lines: dict[str, str] = {}
    for component, values in latest.items():
        if "round" not in values or "rounds" not in values:
            continue
        parts = [f"round {_count(values['round'][1])}/{_count(values['rounds'][1])}"]
        for name, template in (("round_seconds", "{:.2f} s/round"), ("global_loss", "loss {:.4f}"),
                               ("global_accuracy", "accuracy {:.4f}"), ("workers", "{:g} workers"),
                               ("epsilon", "epsilon {:.3f}")):  # fmt: skip
            value = values.get(name, (0, None))[1]
            if isinstance(value, int | float):
                parts.append(template.format(value))
        lines[component] = ", ".join(parts)
    return lines


def _count(value: Any) -> str:
    """A round number as the metrics store gives it back (a float, 4.0) written as a count (4)."""
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def running_progress(job: dict[str, Any], metrics: list[dict[str, Any]]) -> dict[str, str]:
    """``{component: "epoch 12 of 30"}`` for the job's running components (board.progress, as the board says)."""
    running = {t["component"] for t in job.get("tasks", []) if t.get("status") == "running"}
    config = job.get("config")
    entries = config.get("components") if isinstance(config, dict) else None
    if not running or not isinstance(entries, list):
        return {}
    points = [
        (str(m.get("component")), str(m.get("name")), m["step"])
        for m in metrics
        if isinstance(m.get("step"), int) and not isinstance(m.get("step"), bool)
    ]
    found = progress_of([e for e in entries if isinstance(e, dict)], points)
    return {name: p["text"] for name, p in found.items() if name in running}


def wait_for_job(
    client: NodeClient, job_id: str, timeout: float, show: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Poll until the job ends (or ``timeout``); returns the job as the API gives it."""
    deadline = time.monotonic() + timeout
    shown: dict[str, str] = {}
    pause = FIRST_POLL_S
    rounds_shown: dict[str, str] = {}
    last_metrics = 0.0
    while True:
        job: dict[str, Any] = client.get(f"/jobs/{job_id}")
        if show is not None:
            progress = component_progress(job["tasks"])
            for component, line in progress.items():
                if shown.get(component) != line:
                    show(f"  {component}: {line}")
                    shown[component] = line
            running = any("running" in line for line in progress.values())
            ended = job["status"] in FINAL  # one last read: the last round often ends between two polls
            if ended or (running and time.monotonic() - last_metrics >= METRICS_POLL_S):
                last_metrics = time.monotonic()
                for component, line in round_progress(client.get(f"/jobs/{job_id}/metrics")).items():
                    if rounds_shown.get(component) != line:
                        show(f"  {component}: {line}")
                        rounds_shown[component] = line
        if job["status"] in FINAL:
            return job
        if time.monotonic() > deadline:
            raise ClientError(
                f"job {job_id} still {job['status']} after {timeout:g} s; "
                f"follow it with `unseen job query -j {job_id}` or stop it with `unseen job stop -j {job_id}`"
            )
        time.sleep(pause)
        pause = min(POLL_S, pause * 1.5)
