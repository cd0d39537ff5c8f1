"""Real nodes on loopback, started and stopped through the CLI as a user does."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from unseen.cli.client import NodeClient
from unseen.components.registry import BENCHMARK_MODULES
from unseen.node.standalone import StandaloneSite

PLUGINS = Path(__file__).with_name("plugins")
UNSEEN = shutil.which("unseen") or str(Path(sys.executable).with_name("unseen"))


def free_port_block(size: int) -> int:
    """A base port with ``size`` consecutive free ports after it."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + size > 65000:
            continue
        try:
            for port in range(base, base + size):
                with socket.socket() as check:
                    check.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no block of free ports")


@dataclass
class Site:
    home: Path
    parties: list[int]
    base_port: int
    env: dict[str, str]

    @property
    def standalone(self) -> StandaloneSite:
        return StandaloneSite(self.home / "standalone")

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [UNSEEN, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def client(self, party: int) -> NodeClient:
        config = self.standalone.node_config(party)
        token = config.api_token_file.read_text().strip()
        return NodeClient(f"http://127.0.0.1:{config.rest_port}", token, party)

    def node_log(self, party: int) -> str:
        return (self.standalone.node_dir(party) / "node.log").read_text()

    def wait_for(self, predicate: object, timeout: float = 30.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(predicate) and predicate():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def set_node_option(self, party: int, **values: object) -> None:
        path = self.standalone.node_config_path(party)
        data = yaml.safe_load(path.read_text())
        data.update(values)
        path.write_text(yaml.safe_dump(data))


def make_site(tmp: Path, parties: list[int], start: bool = True, **node_options: object) -> Site:
    env = {
        **os.environ,
        "UNSEEN_HOME": str(tmp),
        "UNSEEN_COMPONENTS": ",".join(
            [
                "unseen_test_components,unseen_test_keep_all,unseen_test_hold_after,unseen_test_replay,unseen_test_gather",
                "unseen_test_hog",
                *BENCHMARK_MODULES,
            ]
        ),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH", "")])),
    }
    env.pop("UNSEEN_NODE_URL", None)
    site = Site(tmp, parties, free_port_block(2 * len(parties)), env)
    if node_options:
        site.standalone.configure(parties, site.base_port)
        for party in parties:
            site.set_node_option(party, **node_options)
    if start:
        result = site.cli(
            "standalone", "start", "--parties", ",".join(map(str, parties)), "--base-port", str(site.base_port)
        )
        assert result.returncode == 0, result.stdout + result.stderr
    return site


def stop_site(site: Site) -> None:
    site.cli("standalone", "stop", timeout=60)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Two parties, 9999 and 10000, shared by a module's tests (each test uses its own jobs)."""
    running = make_site(tmp_path_factory.mktemp("home"), [9999, 10000])
    yield running
    stop_site(running)
