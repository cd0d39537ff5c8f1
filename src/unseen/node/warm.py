"""Warm task starts: the node's side of the task zygote (``unseen.task.zygote``).

:class:`TaskZygote` keeps one zygote process running, started with the node's environment, and asks it for a
task process; :class:`WarmProcess` is what the executor holds for a task forked that way, with the part of
``subprocess.Popen`` the executor uses (``pid``, ``wait``). When no warm start is possible (warm starts
disabled, the zygote not ready yet, dead, or started with another environment) :meth:`TaskZygote.spawn`
returns ``None`` and the executor starts the task cold, as before; each such change is one log line.

A dead zygote is restarted on the next task start, unless it lived under :data:`CRASH_LOOP_S`: then warm
starts stay off for the node's life (one error line), since a zygote that cannot stay up would only add a
failed attempt to every task start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from unseen.runtime.spec import TOKEN_ENV

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 5.0  # to connect and read the child's pid; the zygote answers within milliseconds
CRASH_LOOP_S = 10.0
STOP_GRACE_S = 2.0


class WarmProcess:
    """A task process the zygote forked: its pid, and its exit code as the zygote reports it.

    If the zygote dies first, the exit code is lost (only a parent learns it): the process is then followed
    through a pidfd until it ends, and :attr:`returncode` stays ``None`` (the executor reads ``result.json``).
    """

    def __init__(self, pid: int, conn: socket.socket) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.lost_parent = False
        self._conn = conn
        self._done = threading.Event()
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except (ProcessLookupError, OSError):
            self._pidfd = None  # already ended and reaped: the zygote's answer tells the code
        threading.Thread(target=self._follow, name=f"warm-{pid}", daemon=True).start()

    def _follow(self) -> None:
        try:
            self._conn.settimeout(None)
            with self._conn.makefile("rb") as reader:
                line = reader.readline(4096)
            try:
                answer = json.loads(line)
                code = answer["exit"] if isinstance(answer, dict) else None
            except (ValueError, KeyError):
                code = None
            if isinstance(code, int) and not isinstance(code, bool):
                self.returncode = code
            else:
                self.lost_parent = True
                if self._pidfd is not None:
                    select.select([self._pidfd], [], [])  # readable once the process has ended
        except OSError:
            self.lost_parent = True
        finally:
            with contextlib.suppress(OSError):
                self._conn.close()
            if self._pidfd is not None:
                os.close(self._pidfd)
            self._done.set()

    def wait(self, timeout: float | None = None) -> int | None:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(f"task process {self.pid}", timeout or 0.0)
        return self.returncode


class TaskZygote:
    def __init__(self, socket_path: Path) -> None:
        self._socket = socket_path
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._env: dict[str, str] = {}
        self._started_at = 0.0
        self._disabled = False
        self._said_not_ready = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the zygote in the background; tasks start cold until it is ready (about a second)."""
        with self._lock:
            self._start()

    def _start(self) -> None:
        self._socket.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._socket.unlink(missing_ok=True)
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "unseen.task.zygote", str(self._socket)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env=self._env,
            start_new_session=True,  # a terminal's Ctrl-C reaches the node, which stops it
        )
        self._started_at = time.monotonic()
        self._said_not_ready = False
        log.info("task zygote started, pid %d", self._process.pid)

    def spawn(self, argv: list[str], env: dict[str, str], cwd: Path, log_fd: int) -> WarmProcess | None:
        """Fork a task process from the zygote, or ``None`` (with a log line) when the task must start cold."""
        with self._lock:
            if not self._ready_for(env):
                return None
        try:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        except OSError as exc:
            log.warning("cannot reach the task zygote (%s): starting this task cold", exc)
            return None
        try:
            conn.settimeout(CONNECT_TIMEOUT_S)
            conn.connect(str(self._socket))
            with conn.makefile("rb") as reader:
                answer = json.loads(reader.readline(4096))
            pid = answer["pid"]
            if not isinstance(pid, int) or pid <= 0:
                raise ValueError(f"the zygote answered {answer!r}")
            # Only now the request: a child whose pid the node never learnt gets none and exits unused.
            request = json.dumps({"argv": argv, "cwd": str(cwd), "env": env}).encode() + b"\n"
            sent = socket.send_fds(conn, [request], [log_fd])
            conn.sendall(request[sent:])
        except (FileNotFoundError, ConnectionRefusedError):
            conn.close()
            with self._lock:
                if not self._said_not_ready:
                    log.info("the task zygote is not ready yet: tasks start cold until it is")
                    self._said_not_ready = True
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            conn.close()
            log.warning("the task zygote did not start a task (%s): starting this task cold", exc)
            return None
        return WarmProcess(pid, conn)

    def _ready_for(self, env: dict[str, str]) -> bool:
        if self._disabled:
            return False
        process = self._process
        if process is None:
            return False
        code = process.poll()
        if code is not None:
            lived = time.monotonic() - self._started_at
            if lived < CRASH_LOOP_S:
                log.error(
                    "the task zygote (pid %d) exited with %s %.1f s after it started: "
                    "this task and all later ones start cold",
                    process.pid,
                    _describe(code),
                    lived,
                )
                self._disabled = True
                self._process = None
                return False
            log.warning(
                "the task zygote (pid %d) exited with %s: starting this task cold, and a new zygote",
                process.pid,
                _describe(code),
            )
            self._start()
            return False
        if {k: v for k, v in env.items() if k != TOKEN_ENV} != self._env:
            log.info("the node's environment changed since the task zygote started: this task starts cold")
            self._stop(process)
            self._start()
            return False
        return True

    def close(self) -> None:
        """Stop the zygote (tasks it forked are the executor's to stop, and are stopped first)."""
        with self._lock:
            process, self._process = self._process, None
            self._disabled = True
        if process is not None:
            self._stop(process)
        with contextlib.suppress(OSError):
            self._socket.unlink()

    @staticmethod
    def _stop(process: subprocess.Popen[bytes]) -> None:
        process.terminate()
        try:
            process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _describe(code: int) -> str:
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"code {code}"
