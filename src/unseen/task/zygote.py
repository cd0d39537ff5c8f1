"""The task zygote: ``python -m unseen.task.zygote SOCKET``, a process that forks warm task processes.

A task started cold pays for a Python interpreter and its imports (numpy, grpc, pyarrow, pydantic, the
runtime, the component): 1-2 s, more than many small tasks' work. The node keeps one zygote that has made
those imports once and forks a child per task. The child is then set up exactly as a cold task would be and
runs the same ``unseen.task.process.main``:

- its own session and process group (``setsid``), so the node kills a task's whole group as before;
- its own working folder, environment (the token travels in it, as for a cold task), stdin ``/dev/null`` and
  stdout and stderr on its own ``task.log``, whose descriptor the node passes over the socket;
- numpy's global random state drawn afresh (Python's ``random`` reseeds itself after a fork);
- the zygote's objects frozen out of the garbage collector's reach (``gc.freeze``), as the Python docs advise
  for a server that forks workers;
- at the end, the interpreter's exit steps a cold task takes (non-daemon threads joined, ``atexit``), then
  its exit code.

The zygote never reads a request: it accepts a connection and forks at once; the child reads the request
(``{"argv": [TASK_JSON], "cwd": ..., "env": {...}}`` and the log descriptor) from the connection. So no
task's token ever passes through the zygote's memory, and a child inherits nothing of another task. The
zygote writes ``{"pid": N}`` on the connection after the fork and ``{"exit": CODE}`` when the child ends
(``CODE`` as ``subprocess`` reports it: negative for a signal), then closes it.

Fork safety: the zygote is single-threaded when it forks (apart from threads native libraries start and
reset at fork: OpenBLAS, jemalloc). gRPC is imported, never initialised: no channel or server exists in the
zygote, so its fork handlers have nothing to do, and each task opens its own channel after the fork.

The socket is created under a temporary name and renamed to ``SOCKET`` once the common modules are
imported: its existence means the zygote is ready. More modules (the algorithms) are imported afterwards,
one at a time between requests. The zygote exits when its parent node does.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

READY_MODULES = (
    "numpy",
    "grpc",
    "pyarrow",
    "pyarrow.parquet",
    "pydantic",
    "unseen.task.process",
    "unseen.components.evaluation",
    "unseen.components.feature_scale",
    "unseen.components.hetero_lr",
    "unseen.components.psi",
    "unseen.components.reader",
    "unseen.components.toy_secure_sum",
)
"""Imported before the zygote takes requests: what every task imports."""
LATER_MODULES = (
    "unseen.crypto.secure_sum",
    "unseen.vertical.psi",
    "unseen.crypto.paillier",
    "unseen.vertical.hetero_lr_engine",
    "unseen.vertical.hetero_lr_guest",
    "unseen.vertical.hetero_lr_host",
    "unseen.vertical.hetero_lr_arbiter",
    "unseen.evaluation",
)
"""Imported once the zygote is ready, one per idle moment: what some components import when they run."""
MAX_REQUEST_BYTES = 1 << 20
REQUEST_TIMEOUT_S = 10.0
SETUP_FAILED = 127  # the child could not become a task (bad request): the node records a failed task


def _import_all(names: tuple[str, ...]) -> None:
    """Import ``names``, then move every object so far to the permanent generation (``gc.freeze``): a task's
    garbage collections then never walk the ~200,000 objects of its imports again (in a training loop of small
    arrays collections took 7 % of the time, 4 % with the imports frozen), and do not write to, and so copy,
    the pages it shares with the zygote."""
    for name in names:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    gc.freeze()


def _send_line(conn: socket.socket, value: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(value).encode() + b"\n")


# the child ------------------------------------------------------------------------------------------------------
def _read_request(conn: socket.socket) -> tuple[dict[str, Any], int | None]:
    """The request line and the log descriptor sent with it (bounded in size and time)."""
    conn.settimeout(REQUEST_TIMEOUT_S)
    data = b""
    log_fd: int | None = None
    while not data.endswith(b"\n"):
        chunk, fds, _flags, _addr = socket.recv_fds(conn, 65536, 1)
        for fd in fds:
            if log_fd is None:
                log_fd = fd
            else:
                os.close(fd)
        if not chunk:
            raise ValueError("the node closed the connection before the request ended")
        data += chunk
        if len(data) > MAX_REQUEST_BYTES:
            raise ValueError(f"request over {MAX_REQUEST_BYTES} bytes")
    request = json.loads(data)
    if not isinstance(request, dict):
        raise ValueError("the request is not a JSON object")
    return request, log_fd


def _become_task(conn: socket.socket, inherited: list[int]) -> int:
    """Turn this fresh fork into a task process as a cold start would make it; returns its exit code."""
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for fd in inherited:
        with contextlib.suppress(OSError):
            os.close(fd)
    os.setsid()
    try:
        request, log_fd = _read_request(conn)
        argv, cwd, env = request["argv"], request["cwd"], request["env"]
        if log_fd is None:
            raise ValueError("no log descriptor came with the request")
        if not (isinstance(argv, list) and all(isinstance(a, str) for a in argv)):
            raise ValueError("argv must be a list of strings")
        if not (isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())):
            raise ValueError("env must map strings to strings")
        if not isinstance(cwd, str):
            raise ValueError("cwd must be a string")
    except (OSError, ValueError, KeyError) as exc:
        sys.stderr.write(f"task zygote: refused a request: {exc}\n")
        return SETUP_FAILED
    finally:
        conn.close()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()  # the zygote's state would be every task's: draw a fresh one from the OS
    from unseen.task import process as task

    sys.argv = [task.__file__, *argv]
    try:
        return task.main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def _child(conn: socket.socket, inherited: list[int]) -> None:
    """Never returns: the child exits with its task's code, whatever happens."""
    code = SETUP_FAILED
    try:
        code = _become_task(conn, inherited)
        threading._shutdown()  # type: ignore[attr-defined]  # what a cold interpreter does at exit
        atexit._run_exitfuncs()
    except BaseException:
        with contextlib.suppress(Exception):
            traceback.print_exc()
        code = code or 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


# the zygote -----------------------------------------------------------------------------------------------------
def serve(socket_path: Path) -> None:
    parent = os.getppid()
    _import_all(READY_MODULES)
    staging = socket_path.with_name(f".z{os.getpid()}")  # no longer than the final name: it must fit too
    staging.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(staging))
    os.chmod(staging, 0o600)
    listener.listen(64)
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())
    signal.signal(signal.SIGCHLD, lambda _s, _f: None)  # only to wake the loop through the wakeup fd
    os.replace(staging, socket_path)
    children: dict[int, socket.socket] = {}
    later = list(LATER_MODULES)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    selector_fd = selector.fileno() if hasattr(selector, "fileno") else -1
    try:
        while os.getppid() == parent:
            events = selector.select(timeout=0 if later else 1.0)
            for key, _ in events:
                if key.fileobj is wake_r:
                    with contextlib.suppress(BlockingIOError):
                        wake_r.recv(4096)
                    continue
                conn, _ = listener.accept()
                inherited = [listener.fileno(), wake_r.fileno(), wake_w.fileno(), selector_fd]
                inherited += [c.fileno() for c in children.values()]
                pid = os.fork()
                if pid == 0:
                    _child(conn, inherited)
                children[pid] = conn
                _send_line(conn, {"pid": pid})
            _reap(children)
            if not events and later:
                _import_all((later.pop(0),))
    finally:
        listener.close()  # the socket's file is the node's to remove: a newer zygote may own the name by now


def _reap(children: dict[int, socket.socket]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is not None:
            _send_line(conn, {"exit": os.waitstatus_to_exitcode(status)})
            conn.close()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m unseen.task.zygote SOCKET\n")
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        serve(Path(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
