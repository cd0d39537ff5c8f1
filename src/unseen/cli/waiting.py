"""Waiting for a job from the CLI, showing each component's progress as it changes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from unseen.cli.client import ClientError, NodeClient

FINAL = {"success", "failed", "canceled", "timeout"}
FIRST_POLL_S = 0.05  # a small job ends within a second: look often at first ...
POLL_S = 0.3  # ... then every 0.3 s, each poll a request the node (maybe this machine) answers


def component_progress(tasks: list[dict[str, Any]]) -> dict[str, str]:
    """One line per component: each party's task state, e.g. ``guest:10000 success, host:9999 running``."""
    lines: dict[str, list[str]] = {}
    for task in tasks:
        lines.setdefault(task["component"], []).append(f"{task['role']}:{task['party_id']} {task['status']}")
    return {component: ", ".join(states) for component, states in lines.items()}


def wait_for_job(
    client: NodeClient, job_id: str, timeout: float, show: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Poll until the job ends (or ``timeout``); returns the job as the API gives it."""
    deadline = time.monotonic() + timeout
    shown: dict[str, str] = {}
    pause = FIRST_POLL_S
    while True:
        job: dict[str, Any] = client.get(f"/jobs/{job_id}")
        if show is not None:
            for component, line in component_progress(job["tasks"]).items():
                if shown.get(component) != line:
                    show(f"  {component}: {line}")
                    shown[component] = line
        if job["status"] in FINAL:
            return job
        if time.monotonic() > deadline:
            raise ClientError(
                f"job {job_id} still {job['status']} after {timeout:g} s; "
                f"follow it with `unseen job query -j {job_id}` or stop it with `unseen job stop -j {job_id}`"
            )
        time.sleep(pause)
        pause = min(POLL_S, pause * 1.5)
