"""Parties on separate hosts: one network namespace per party, each joined by a veth pair to a bridge that
lives in a namespace of its own, so traffic flows only between the parties' namespaces.

Each party sets itself up the way separate organisations do (docs/trust.md): party 9999 with a self-signed
identity its partners pin, parties 10000 and 10001 each with a CA of its own; each exports its exchange file,
the others import it, checking the fingerprint; each node runs in its own namespace (``ip netns exec NS unseen
node start -c node.yaml``), and the toy and the vertical example (PSI, scaling, hetero LR, evaluation) run across
them. A client in 9999's namespace presenting a certificate for 9999 from a CA 10000 never pinned is refused.
Needs root and ``ip netns``; skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from unseen.transport.trust import fingerprint, load_one_certificate

pytestmark = pytest.mark.integration

UNSEEN = str(Path(sys.executable).with_name("unseen"))
SUBNET = "10.77.0"
FEDERATION_PORT = 9370
REST_PORT = 8080
EXPECTED = "success to calculate secure_sum, it is 2000.0"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hetero_lr"


@dataclass
class Host:
    party: int
    namespace: str
    address: str
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.folder / "node.yaml"

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """A command inside this party's namespace, from its folder."""
        return subprocess.run(
            ["ip", "netns", "exec", self.namespace, *args],
            cwd=self.folder,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
        result = self.run(UNSEEN, *args, env=env, timeout=timeout)
        assert result.returncode == 0, f"unseen {' '.join(args)}: {result.stdout}{result.stderr}"
        return result.stdout + result.stderr


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def _netns_usable() -> str | None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return "needs root and iproute2 (`ip netns`)"
    probe = f"unseen-probe-{secrets.token_hex(3)}"
    result = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        return f"`ip netns add` is not permitted here: {result.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=30, check=False)
    return None


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Host]]:
    reason = _netns_usable()
    if reason:
        pytest.skip(reason)
    tag = secrets.token_hex(3)
    root = tmp_path_factory.mktemp("hosts")
    parties = {
        party: Host(party, f"unseen-{tag}-{i}", f"{SUBNET}.{i + 1}", root / f"org-{party}")
        for i, party in enumerate((9999, 10000, 10001))
    }
    switch = f"unseen-{tag}-sw"
    namespaces = [switch, *(host.namespace for host in parties.values())]
    try:
        for namespace in namespaces:
            _ip("netns", "add", namespace)
            _ip("-n", namespace, "link", "set", "lo", "up")
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        for i, host in enumerate(parties.values()):
            inside, port = f"us{tag}h{i}", f"us{tag}s{i}"
            _ip("link", "add", inside, "type", "veth", "peer", "name", port)
            _ip("link", "set", inside, "netns", host.namespace)
            _ip("link", "set", port, "netns", switch)
            _ip("-n", switch, "link", "set", port, "master", "br0", "up")
            _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", inside)
            _ip("-n", host.namespace, "link", "set", inside, "up")
        _configure(parties)
        for host in parties.values():
            out = (host.folder / "node.out").open("wb")
            host.process = subprocess.Popen(
                ["ip", "netns", "exec", host.namespace, UNSEEN, "node", "start", "-c", str(host.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        for host in parties.values():
            _wait_healthy(host)
        yield parties
    finally:
        for host in parties.values():
            if host.process is not None and host.process.poll() is None:
                os.killpg(host.process.pid, signal.SIGTERM)
                try:
                    host.process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(host.process.pid, signal.SIGKILL)
                    host.process.wait(10)
        for namespace in namespaces:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30, check=False)


def _configure(parties: dict[int, Host]) -> None:
    """Each party on its own: identity, node.yaml, exchange file; then each imports the others'."""
    for host in parties.values():
        host.folder.mkdir(parents=True)
        config = {
            "party_id": host.party,
            "home": "state",
            "rest_port": REST_PORT,
            "federation_host": host.address,
            "federation_port": FEDERATION_PORT,
            "tls": {"cert": "tls/node.crt", "key": "tls/node.key"},
        }
        host.config.write_text(yaml.safe_dump(config))
    anchors = {}
    for host in parties.values():
        if host.party == 9999:
            host.cli("cert", "init", "--self-signed", "--party", "9999", "--host", host.address)
            anchors[host.party] = host.folder / "tls" / "node.crt"
        else:
            host.cli("cert", "init", "--name", f"CA of organisation {host.party}")
            host.cli("cert", "issue", "--party", str(host.party), "--host", host.address)
            anchors[host.party] = host.folder / "tls" / "ca.crt"
        host.cli("cert", "export", "-c", str(host.config), "-o", str(host.folder / "exchange.yaml"))
    for importer in parties.values():
        for exporter in parties.values():
            if exporter is importer:
                continue
            told = fingerprint(load_one_certificate(anchors[exporter.party].read_bytes(), "anchor"))  # out of band
            exchange = shutil.copy(exporter.folder / "exchange.yaml", importer.folder / f"from-{exporter.party}.yaml")
            importer.cli("cert", "import", str(exchange), "-c", str(importer.config), "--fingerprint", told)


def _wait_healthy(host: Host, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{REST_PORT}/v1/health"
    probe = f"import httpx,sys; sys.exit(0 if httpx.get({url!r}, timeout=2).status_code == 200 else 1)"
    while time.monotonic() < deadline:
        assert host.process is not None and host.process.poll() is None, (host.folder / "node.out").read_text()
        if host.run(sys.executable, "-c", probe, timeout=20).returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"party {host.party}'s node did not become healthy: {(host.folder / 'node.out').read_text()}")


def _api(host: Host) -> dict[str, str]:
    token = (host.folder / "state" / "api.token").read_text().strip()
    return {"UNSEEN_NODE_URL": f"http://127.0.0.1:{REST_PORT}", "UNSEEN_API_TOKEN": token}


def test_the_routing_tables_hold_each_partners_own_anchor(hosts: dict[int, Host]) -> None:
    a = yaml.safe_load(hosts[9999].config.read_text())
    b = yaml.safe_load(hosts[10000].config.read_text())
    assert a["peers"][10000]["host"] == f"{SUBNET}.2" and "ca" in a["peers"][10000]
    assert b["peers"][9999]["host"] == f"{SUBNET}.1" and "pinned_cert" in b["peers"][9999]
    assert a["peers"][10000]["fingerprint"] != a["peers"][10001]["fingerprint"]


def test_the_toy_runs_across_namespaces(hosts: dict[int, Host]) -> None:
    out = hosts[9999].cli("test", "toy", "-gid", "9999", "-hid", "10000", env=_api(hosts[9999]), timeout=240)
    assert EXPECTED in out


def test_the_vertical_example_runs_across_namespaces(hosts: dict[int, Host]) -> None:
    for party, csv, table, extra in (
        (9999, "breast_hetero_guest.csv", "experiment.breast_guest", ["--label-column", "y"]),
        (10000, "breast_hetero_host.csv", "experiment.breast_host", []),
    ):
        host = hosts[party]
        host.cli("data", "upload", "-f", str(EXAMPLE / csv), "-t", table, "--id-column", "id", *extra, "-p",
                 str(party), env=_api(host))  # fmt: skip
    job = yaml.safe_load((EXAMPLE / "job.yaml").read_text())
    lr = next(c for c in job["components"] if c["component"] == "hetero_lr")
    lr["params"].update(key_bits=1024, max_iter=10)  # a smaller key and fewer rounds keep the test quick
    path = hosts[9999].folder / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    out = hosts[9999].cli("job", "submit", "-c", str(path), "--wait", "--timeout", "900", env=_api(hosts[9999]),
                          timeout=960)  # fmt: skip
    assert "succeeded" in out, out


def test_a_certificate_from_a_ca_the_partner_never_pinned_is_refused(hosts: dict[int, Host]) -> None:
    """From 9999's namespace, a valid certificate for 9999 from a CA of its own making: 10000 pinned 9999's
    self-signed identity, not that CA, so the call is refused and no job is created."""
    a = hosts[9999]
    rogue = a.folder / "rogue"
    a.cli("cert", "init", "--dir", str(rogue))
    a.cli("cert", "issue", "--party", "9999", "--host", a.address, "--dir", str(rogue))
    job_id = "rogue" + secrets.token_hex(4)
    script = f"""
import grpc, json, sys
from pathlib import Path
from unseen.transport.proto import federation_pb2 as pb, federation_pb2_grpc as pb_grpc
rogue = Path({str(rogue)!r})
b_ca = Path({str(hosts[10000].folder / "tls" / "ca.crt")!r}).read_bytes()
creds = grpc.ssl_channel_credentials(b_ca, (rogue / "node.key").read_bytes(), (rogue / "node.crt").read_bytes())
name = [("grpc.ssl_target_name_override", "party-10000")]
channel = grpc.secure_channel("{SUBNET}.2:{FEDERATION_PORT}", creds, options=name)
config = {{"initiator": {{"role": "guest", "party_id": 9999}}, "parties": {{"guest": [9999], "host": [10000]}},
          "components": [{{"name": "sum_0", "component": "toy_secure_sum"}}]}}
try:
    pb_grpc.ControlStub(channel).Propose(pb.JobProposal(job_id={job_id!r}, initiator_party=9999,
                                         config_json=json.dumps(config)), timeout=10)
except grpc.RpcError as exc:
    print("refused", exc.code().name)
    sys.exit(0)
print("accepted")
sys.exit(1)
"""
    result = a.run(sys.executable, "-c", script, timeout=60)
    assert result.returncode == 0 and "refused UNAVAILABLE" in result.stdout, result.stdout + result.stderr
    jobs = hosts[10000].cli("job", "list", env=_api(hosts[10000]))
    assert job_id not in jobs
