"""What every benchmark that starts a standalone site needs: the ``unseen`` command, a block of free ports and
the benchmark components plugged in.

Benchmarks run as scripts (``python benchmarks/NAME.py``), so this folder is first on ``sys.path`` and they
import this module by its bare name (mypy finds it through ``mypy_path``).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path


def unseen_command() -> str:
    """The ``unseen`` console script of the Python running the benchmark (its venv), else the one on PATH."""
    script = Path(sys.executable).with_name("unseen")
    found = str(script) if script.is_file() else shutil.which("unseen")
    if found is None:
        raise SystemExit("the `unseen` console script is not installed next to this Python; activate the venv")
    return found


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_block(size: int) -> int:
    """A base port such that it and the ``size - 1`` ports after it are free on 127.0.0.1 (a site's nodes take
    consecutive REST and federation ports from its base). The OS picks the candidates, so runs side by side
    rarely collide; a port taken between this check and the node's start fails that start, naming the port."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if 1024 <= base <= 65000 - size and all(_free(base + i) for i in range(size)):
            return base
    raise RuntimeError(f"found no {size} free consecutive ports on 127.0.0.1")


def plug_in_benchmark_components() -> None:
    """Name the benchmark components in ``UNSEEN_COMPONENTS`` of this process, whose environment the nodes it
    starts (and their tasks) inherit: they are not built in, so that a partner cannot run them on a node
    whose operator did not ask for them."""
    from unseen.components.registry import BENCHMARK_MODULES, EXTRA_COMPONENTS_ENV

    named = [m for m in os.environ.get(EXTRA_COMPONENTS_ENV, "").split(",") if m]
    os.environ[EXTRA_COMPONENTS_ENV] = ",".join([*named, *(m for m in BENCHMARK_MODULES if m not in named)])
