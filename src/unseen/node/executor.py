"""Task processes: each task runs as its own OS process, with its own folder, log and token.

A separate process per task keeps a crashing or memory-hungry algorithm from taking the node down, lets a
job be stopped by killing its process group, and gives every task a log file of its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from unseen import ids
from unseen.node.warm import TaskZygote
from unseen.runtime.parties import PartyRef
from unseen.runtime.spec import LOG_FILE, RESULT_FILE, SPEC_FILE, TOKEN_ENV, TaskResult, TaskSpec
from unseen.storage.models import Status
from unseen.storage.repository import NodeStore

log = logging.getLogger(__name__)
KILL_GRACE_S = 5.0
RECORD_WAIT_S = 2.0  # after SIGKILL: the process is reaped and its end written within this


class TaskPathError(OSError):
    """A task folder would lie outside ``home/jobs``: refused before anything is written."""


@dataclass(frozen=True)
class TaskIdentity:
    """What a task may do on the federation: speak for this job, component and role, and nothing else."""

    job_id: str
    component: str
    me: PartyRef
    send_buffer: Path


class TaskProcess(Protocol):
    """What the executor needs of a task's process: a ``subprocess.Popen`` (cold) or a ``WarmProcess``."""

    @property
    def pid(self) -> int: ...

    def wait(self, timeout: float | None = None) -> int | None: ...


@dataclass
class _Running:
    identity: TaskIdentity
    process: TaskProcess
    token: str
    stop_reason: str | None = None
    recorded: threading.Event = field(default_factory=threading.Event)  # set once its end is in the database


class TaskExecutor:
    def __init__(self, store: NodeStore, jobs_dir: Path, zygote: TaskZygote | None = None) -> None:
        self._store = store
        self._jobs_dir = jobs_dir
        self._zygote = zygote
        self._running: dict[tuple[str, str, str, int], _Running] = {}
        self._by_token: dict[str, TaskIdentity] = {}
        self._exit_hooks: list[Callable[[TaskIdentity], None]] = []
        self._recorded_hooks: list[Callable[[TaskIdentity], None]] = []
        self._lock = threading.Lock()

    def on_exit(self, hook: Callable[[TaskIdentity], None]) -> None:
        """Run ``hook`` after each task process ends (to release what the node kept for it)."""
        self._exit_hooks.append(hook)

    def on_recorded(self, hook: Callable[[TaskIdentity], None]) -> None:
        """Run ``hook`` once a task's end is in the database (to wake whoever waits for it)."""
        self._recorded_hooks.append(hook)

    @staticmethod
    def task_dir_of(jobs_dir: Path, job_id: str, component: str, me: PartyRef) -> Path:
        """``jobs/<job>/<component>/<role>_<party>``, from identifiers that match their grammars only."""
        ids.check_job_id(job_id)
        ids.check_component(component)
        ids.check_party(me.party_id)
        return jobs_dir / job_id / component / f"{me.role.value}_{me.party_id}"

    def _check_inside_jobs(self, task_dir: Path) -> None:
        """Defence in depth: the grammars already keep a task folder in ``home/jobs``; check the result too."""
        jobs = self._jobs_dir.resolve()
        resolved = task_dir.resolve()
        if resolved == jobs or not resolved.is_relative_to(jobs):
            raise TaskPathError(f"task folder {ids.safe(str(task_dir))} is not inside {jobs}")

    def identity_for(self, token: str) -> TaskIdentity | None:
        with self._lock:
            for known, identity in self._by_token.items():
                if secrets.compare_digest(known, token):
                    return identity
        return None

    def start(self, spec: TaskSpec) -> None:
        key = (spec.job_id, spec.component, spec.role.value, spec.party_id)
        self._check_inside_jobs(spec.task_dir)
        spec.task_dir.mkdir(parents=True, exist_ok=True)
        (spec.task_dir / SPEC_FILE).write_text(spec.model_dump_json(indent=2))
        log_path = spec.task_dir / LOG_FILE
        token = secrets.token_urlsafe(32)
        identity = TaskIdentity(spec.job_id, spec.component, spec.me, spec.send_buffer)
        env = {**os.environ, TOKEN_ENV: token, "PYTHONUNBUFFERED": "1"}
        argv = [str(spec.task_dir / SPEC_FILE)]
        with open(log_path, "ab") as log_file:
            process: TaskProcess | None = None
            if self._zygote is not None:
                process = self._zygote.spawn(argv, env, spec.task_dir, log_file.fileno())
            how = "warm" if process is not None else "cold"
            if process is None:
                process = subprocess.Popen(
                    [sys.executable, "-m", "unseen.task.process", *argv],
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd=spec.task_dir,
                    start_new_session=True,
                )
        with self._lock:
            self._running[key] = _Running(identity, process, token)
            self._by_token[token] = identity
        self._store.update_task(
            *key, status=Status.RUNNING, pid=process.pid, log_path=str(log_path), started_at=time.time()
        )
        log.info("started task %s/%s as %s, pid %d (%s)", spec.job_id, spec.component, spec.me, process.pid, how)
        threading.Thread(target=self._watch, args=(key,), name=f"watch-{spec.component}-{spec.me}", daemon=True).start()

    def _watch(self, key: tuple[str, str, str, int]) -> None:
        with self._lock:
            running = self._running[key]
        code = running.process.wait()
        with self._lock:
            self._running.pop(key, None)
            self._by_token.pop(running.token, None)
        task_dir = self.task_dir_of(self._jobs_dir, key[0], key[1], running.identity.me)
        for hook in self._exit_hooks:
            try:
                hook(running.identity)
            except Exception:
                log.exception("cleaning up after task %s/%s failed", key[0], key[1])
        status, reason = self._outcome(code, task_dir, running.stop_reason)
        try:
            self._store.update_task(*key, status=status, exit_code=code, reason=reason, ended_at=time.time())
        finally:
            running.recorded.set()
        for hook in self._recorded_hooks:
            try:
                hook(running.identity)
            except Exception:
                log.exception("a hook after task %s/%s ended failed", key[0], key[1])
        log.info(
            "task %s/%s as %s ended %s (exit %s) %s",
            key[0],
            key[1],
            running.identity.me,
            status,
            code,
            ids.printable(reason),
        )

    @staticmethod
    def _outcome(code: int | None, task_dir: Path, stop_reason: str | None) -> tuple[Status, str]:
        if stop_reason is not None:
            return Status.CANCELED, stop_reason
        try:
            result = TaskResult.model_validate_json((task_dir / RESULT_FILE).read_text())
        except (OSError, ValidationError):
            result = None
        if code in (0, None) and result is not None and result.status == Status.SUCCESS:
            return Status.SUCCESS, ""  # None: a warm task whose zygote died first; its own result tells
        if result is not None and result.reason:
            return Status.FAILED, result.reason
        if code is None:
            return Status.FAILED, "task process ended without a result, its exit code unknown (its zygote died)"
        if code < 0:
            return Status.FAILED, f"task process was killed by signal {signal.Signals(-code).name}"
        return Status.FAILED, f"task process exited with code {code}; see its log"

    def stop_job(self, job_id: str, reason: str) -> int:
        """Kill every task of the job: SIGTERM to each process group, SIGKILL to those still alive after a grace.

        Returns once each killed task's end is recorded (or a bounded wait has passed), so that whoever asked
        for the stop (the initiator's EndJob) reads the tasks' final states right after.
        """
        with self._lock:
            victims = [r for key, r in self._running.items() if key[0] == job_id]
            for running in victims:
                running.stop_reason = reason
        for running in victims:
            _signal_group(running.process, signal.SIGTERM)
        deadline = time.monotonic() + KILL_GRACE_S
        for running in victims:
            try:
                running.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(running.process, signal.SIGKILL)
        recorded_by = time.monotonic() + RECORD_WAIT_S
        for running in victims:
            running.recorded.wait(max(0.0, recorded_by - time.monotonic()))
        return len(victims)

    def stop_all(self, reason: str) -> None:
        with self._lock:
            jobs = {key[0] for key in self._running}
        for job_id in jobs:
            self.stop_job(job_id, reason)

    def close(self) -> None:
        """After :meth:`stop_all`: stop the task zygote, if there is one."""
        if self._zygote is not None:
            self._zygote.close()

    def running_count(self) -> int:
        with self._lock:
            return len(self._running)


def _signal_group(process: TaskProcess, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
