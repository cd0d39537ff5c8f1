"""The standalone site: every party's node on this machine, on loopback, for trying Unseen in one command.

Layout under ``$UNSEEN_HOME/standalone``::

    site.yaml                 parties and ports
    nodes/<party>/node.yaml   each node's config; its database, tables, job logs and TLS key live beside it
    nodes/<party>/ca/         the party's own development CA (made on first start), which issues its
                              certificate; every other node names it as that party's anchor (``peers.<id>.ca``),
                              as separate organisations would, so standalone mode runs the per-partner checks
    nodes/<party>/node.pid    while it runs
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field

from unseen.config.node import NodeConfig, PeerConfig, TlsConfig, load_node_config, save_node_config
from unseen.config.paths import unseen_home

DEFAULT_PARTIES = (9999, 10000)
DEFAULT_BASE_PORT = 19380
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
NODE_OUT_MAX_BYTES = 16 * 1024**2  # the standalone node.out (a copy of stderr) past this is moved aside at start


# node.yaml fields the site decides; any other field an operator sets (audit_dir, timeouts) survives a restart.
_SITE_MANAGED = {"party_id", "home", "rest_port", "federation_port", "tls", "peers"}


class SiteError(RuntimeError):
    pass


class SiteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parties: list[int] = Field(min_length=1)
    base_port: int = Field(ge=1024, le=65000)

    def rest_port(self, party_id: int) -> int:
        return self.base_port + 2 * self.parties.index(party_id)

    def federation_port(self, party_id: int) -> int:
        return self.rest_port(party_id) + 1


@dataclass(frozen=True)
class NodeStatus:
    party_id: int
    pid: int | None
    rest_url: str
    federation_port: int
    healthy: bool
    detail: str
    conflict: str | None = None  # what answers on the node's port instead of the node itself


class StandaloneSite:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or unseen_home() / "standalone"

    @property
    def site_file(self) -> Path:
        return self.root / "site.yaml"

    def node_dir(self, party_id: int) -> Path:
        return self.root / "nodes" / str(party_id)

    def node_config_path(self, party_id: int) -> Path:
        return self.node_dir(party_id) / "node.yaml"

    def pid_file(self, party_id: int) -> Path:
        return self.node_dir(party_id) / "node.pid"

    def load(self) -> SiteConfig | None:
        if not self.site_file.is_file():
            return None
        return SiteConfig.model_validate(yaml.safe_load(self.site_file.read_text()))

    def require(self) -> SiteConfig:
        site = self.load()
        if site is None:
            raise SiteError(f"no standalone site under {self.root}; start one with `unseen standalone start`")
        return site

    def node_config(self, party_id: int) -> NodeConfig:
        path = self.node_config_path(party_id)
        if not path.is_file():
            raise SiteError(
                f"party {party_id} has no node in the standalone site under {self.root}; "
                f"start one with `unseen standalone start --parties ...,{party_id}`"
            )
        return load_node_config(path)

    # setting up ------------------------------------------------------------------------------------
    def configure(self, parties: list[int], base_port: int) -> SiteConfig:
        """Write the site, CA, certificates and node configs; existing databases and tables are kept."""
        if len(set(parties)) != len(parties):
            raise SiteError(f"parties {parties} contain duplicates")
        site = SiteConfig(parties=sorted(parties), base_port=base_port)
        self.root.mkdir(parents=True, exist_ok=True)
        self.site_file.write_text(yaml.safe_dump(site.model_dump(), sort_keys=False))
        from unseen.transport.tls import ensure_party_certificate  # here: cryptography is slow to import

        for party in site.parties:
            ensure_party_certificate(self.node_dir(party) / "ca", self.node_dir(party) / "tls", party)
        for party in site.parties:
            peers = {
                other: PeerConfig(host="127.0.0.1", port=site.federation_port(other), ca=Path(f"../{other}/ca/ca.crt"))
                for other in site.parties
                if other != party
            }
            managed = NodeConfig(
                party_id=party,
                home=Path("."),
                rest_port=site.rest_port(party),
                federation_port=site.federation_port(party),
                tls=TlsConfig(cert=Path("tls/node.crt"), key=Path("tls/node.key")),
                peers=peers,
            ).model_dump(mode="json", include=_SITE_MANAGED)
            path = self.node_config_path(party)
            kept = yaml.safe_load(path.read_text()) if path.is_file() else {}
            config = NodeConfig.model_validate({**(kept or {}), **managed})
            save_node_config(config, path)
        return site

    # running ---------------------------------------------------------------------------------------
    def pid_of(self, party_id: int) -> int | None:
        try:
            pid = int(self.pid_file(party_id).read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return None if _is_zombie(pid) else pid

    def start_node(self, party_id: int) -> int:
        node_dir = self.node_dir(party_id)
        # node.out gets the node's stderr, a copy of its log: as private as node.log. The node holds it open,
        # so it cannot rotate it; a start moves one past NODE_OUT_MAX_BYTES aside (node.out.1, replaced).
        with contextlib.suppress(FileNotFoundError):
            if (node_dir / "node.out").stat().st_size > NODE_OUT_MAX_BYTES:
                os.replace(node_dir / "node.out", node_dir / "node.out.1")
        fd = os.open(node_dir / "node.out", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "unseen.node", "--config", str(self.node_config_path(party_id))],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file(party_id).write_text(f"{process.pid}\n")
        return process.pid

    def status(self, party_id: int) -> NodeStatus:
        config = self.node_config(party_id)
        url = f"http://{config.rest_host}:{config.rest_port}"
        pid = self.pid_of(party_id)
        healthy, detail, conflict = False, "not running", None
        if pid is not None:
            try:
                response = httpx.get(f"{url}/v1/health", timeout=2.0)
            except httpx.HTTPError as exc:
                detail = f"starting or unresponsive ({type(exc).__name__})"
            else:
                conflict = health_conflict(response, party_id, pid, config.rest_host, config.rest_port)
                healthy = conflict is None
                detail = "healthy" if healthy else f"not this site's node: {conflict}"
        return NodeStatus(party_id, pid, url, config.federation_port, healthy, detail, conflict)

    def ports_in_use(self, party_id: int) -> list[str]:
        """The node's ports that something already listens on, as ``REST port 127.0.0.1:19380``."""
        config = self.node_config(party_id)
        return [
            f"{what} port {host}:{port}"
            for what, host, port in (
                ("REST", config.rest_host, config.rest_port),
                ("federation", config.federation_host, config.federation_port),
            )
            if not _port_free(host, port)
        ]

    def wait_healthy(self, party_id: int, timeout: float = START_TIMEOUT_S) -> NodeStatus:
        deadline = time.monotonic() + timeout
        while True:
            state = self.status(party_id)
            if state.healthy:
                return state
            if state.conflict is not None:
                raise SiteError(
                    f"party {party_id}'s node cannot start: {state.conflict}; stop what listens there, "
                    "or start this site on other ports (--base-port)"
                )
            if state.pid is None:
                config = self.node_config(party_id)
                raise SiteError(
                    f"party {party_id}'s node (REST port {config.rest_host}:{config.rest_port}, federation port "
                    f"{config.federation_host}:{config.federation_port}) exited at start:\n{self.log_tail(party_id)}"
                )
            if time.monotonic() > deadline:
                raise SiteError(
                    f"party {party_id}'s node did not become healthy in {timeout:g} s:\n{self.log_tail(party_id)}"
                )
            time.sleep(0.2)

    def stop_node(self, party_id: int) -> bool:
        pid = self.pid_of(party_id)
        if pid is None:
            self.pid_file(party_id).unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self.pid_of(party_id) is not None and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if self.pid_of(party_id) is not None:
            os.kill(pid, signal.SIGKILL)
            _reap(pid)
        self.pid_file(party_id).unlink(missing_ok=True)
        return True

    def log_tail(self, party_id: int, lines: int = 15) -> str:
        for name in ("node.log", "node.out"):
            path = self.node_dir(party_id) / name
            if path.is_file() and path.stat().st_size:
                return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log yet)"


def health_conflict(response: httpx.Response, party_id: int, pid: int, host: str, port: int) -> str | None:
    """None if the health answer comes from the node started as ``pid`` for ``party_id``; else who answered.

    The party id alone proves nothing: another site's node of the same party may listen on the port,
    while the node just started dies because the port is taken. The pid in the answer must be the one
    this site started.
    """
    where = f"REST port {host}:{port}"
    try:
        answer = response.json() if response.status_code == 200 else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return f"{where} is answered by something that is not an Unseen node (HTTP {response.status_code})"
    if answer.get("party_id") == party_id and answer.get("pid") == pid:
        return None
    return (
        f"{where} is answered by another node (party {answer.get('party_id')}, pid {answer.get('pid')}), "
        f"not party {party_id}'s node started as pid {pid}"
    )


def _port_free(host: str, port: int) -> bool:
    """Whether a listening socket could bind ``host:port`` now (as the node will: with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _is_zombie(pid: int) -> bool:
    """An exited process its parent has not collected yet: not a running node (Linux; elsewhere assume not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] == "Z"


def _reap(pid: int) -> None:
    """Collect a node that was started by this very process (tests), so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
