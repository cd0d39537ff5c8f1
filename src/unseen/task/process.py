"""The task process: ``python -m unseen.task.process TASK_JSON``.

It reads the spec its node wrote, runs one component for one role, and exits 0 on success. On failure it
writes the reason to ``result.json`` (which the node shows as the task's reason) and exits non-zero, so
the job fails cleanly on every party.
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType

from pydantic import ValidationError

from unseen.components.registry import get_component
from unseen.runtime.channel import NodeChannel
from unseen.runtime.context import Context
from unseen.runtime.metrics import Metrics
from unseen.runtime.spec import RESULT_FILE, TOKEN_ENV, TaskResult, TaskSpec
from unseen.storage.models_store import ModelStore
from unseen.storage.tables import TableStore

log = logging.getLogger("unseen.task")


class TaskTerminatedError(Exception):
    pass


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise TaskTerminatedError(f"terminated by signal {signal.Signals(signum).name}")


def _write_result(task_dir: Path, status: str, reason: str = "") -> None:
    (task_dir / RESULT_FILE).write_text(TaskResult(status=status, reason=reason).model_dump_json())


def limit_memory(megabytes: int | None) -> None:
    """Cap this process's data segment (``RLIMIT_DATA``: heap and private writable mappings, numpy's large
    arrays included) so that a job asking for too much fails here with ``MemoryError`` instead of pushing
    the machine into its out-of-memory killer, which may pick the node or another party's task. A task
    only lowers its own limit; it can never raise it again."""
    if megabytes is None:
        return
    cap = megabytes * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = cap if hard == resource.RLIM_INFINITY else min(cap, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def run_task(spec: TaskSpec, token: str) -> None:
    component = get_component(spec.component_type)
    params = component.params.model_validate(spec.params)
    channel = NodeChannel(spec.node_socket, token, spec.job_id, spec.component, spec.me, send_buffer=spec.send_buffer)
    ctx = Context(
        job_id=spec.job_id,
        component=spec.component,
        me=spec.me,
        parties=spec.parties,
        federation=channel,
        metrics=Metrics(channel),
        logger=logging.getLogger(f"unseen.{spec.component_type}"),
        recv_timeout=spec.recv_timeout_s,
        tables=TableStore(spec.tables_dir),
        models=ModelStore(spec.models_dir),
        inputs=spec.inputs,
    )
    try:
        component.run(ctx, params)
    finally:
        channel.close()


def main(argv: list[str]) -> int:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stdout,
        format="%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    logging.Formatter.converter = time.gmtime
    signal.signal(signal.SIGTERM, _on_sigterm)
    if len(argv) != 1:
        log.error("usage: python -m unseen.task.process TASK_JSON")
        return 2
    spec_path = Path(argv[0])
    try:
        spec = TaskSpec.model_validate_json(spec_path.read_text())
    except (OSError, ValidationError) as exc:
        log.error("cannot read task spec %s: %s", spec_path, exc)
        return 2
    token = os.environ.pop(TOKEN_ENV, "")
    log.info(
        "task %s of job %s as %s (component %s, pid %d)",
        spec.component,
        spec.job_id,
        spec.me,
        spec.component_type,
        os.getpid(),
    )
    try:
        limit_memory(spec.memory_limit_mb)
        run_task(spec, token)
    except MemoryError as exc:
        reason = f"MemoryError: {exc}" if str(exc) else "MemoryError"
        if spec.memory_limit_mb is not None:
            reason += f": the task reached this node's limit of {spec.memory_limit_mb} MiB (task_memory_mb)"
        log.error("task failed: %s", reason)
        _write_result(spec.task_dir, "failed", reason)
        return 1
    except TaskTerminatedError as exc:
        log.warning("task stopped: %s", exc)
        _write_result(spec.task_dir, "canceled", str(exc))
        return 143
    except Exception as exc:
        log.error("task failed: %s\n%s", exc, traceback.format_exc())
        _write_result(spec.task_dir, "failed", f"{type(exc).__name__}: {exc}")
        return 1
    _write_result(spec.task_dir, "success")
    log.info("task succeeded")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
