"""Hostile load on a node's federation port, and how soon a restarted node is reachable again.

Everything runs against real standalone nodes (one process each) in a temporary ``UNSEEN_HOME``:

* **idle streams**: party 9999's valid certificate opens N ``Push`` streams to party 10000's node, spread over
  8 connections, and never sends a frame. While they are held, party 10001 makes honest control calls to
  10000 (``QueryTasks``, 5 s deadline) and runs ``unseen test toy -gid 10001 -hid 10000``. Reported: how many
  honest calls and toys succeeded, the node's threads and file descriptors, and how (status code) and when
  the node ended the idle streams.
* **half-open connections**: K plain TCP connections to 10000's federation port that never start TLS, then
  the same honest calls; reported with how long the node kept those connections open.
* **restart**: party 9999's own client code (``PeerClients``, as its node uses it) talks to 10000; 10000 is
  stopped, 9999 keeps calling it through the outage (as a driver polling a job would), 10000 is started
  again with the same config, and the time from its federation port accepting TCP to 9999's first
  successful call is measured.

    python benchmarks/hostile_load.py            # idle 64 and 256, half-open 1000 and 4000, outages 5 and 30 s
    python benchmarks/hostile_load.py --quick    # idle 64, half-open 1000, outage 5 s

Prints a table and writes benchmarks/results/hostile_load.json.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import platform
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import grpc
from bench_site import free_port_block, unseen_command

from unseen.node.standalone import StandaloneSite
from unseen.transport.methods import push_method
from unseen.transport.peers import PeerClients, PeerError
from unseen.transport.proto import federation_pb2 as pb
from unseen.transport.tls import TlsPaths, server_name
from unseen.transport.trust import PeerTrust

RESULTS = Path(__file__).resolve().parent / "results" / "hostile_load.json"
ATTACKER, TARGET, HONEST = 9999, 10000, 10001
UNSEEN = unseen_command()
TOY_OK = "success to calculate secure_sum"


class Site:
    def __init__(self, home: Path, parties: list[int]) -> None:
        self.home = home
        self.standalone = StandaloneSite(home / "standalone")
        self.standalone.configure(parties, free_port_block(2 * len(parties)))
        self.parties = parties
        self.env = {**os.environ, "UNSEEN_HOME": str(home)}
        self.env.pop("UNSEEN_NODE_URL", None)
        for party in parties:
            self.standalone.start_node(party)
        for party in parties:
            self.standalone.wait_healthy(party)

    def stop(self) -> None:
        for party in self.parties:
            self.standalone.stop_node(party)

    def toy(self, guest: int, host: int) -> bool:
        result = subprocess.run(
            [UNSEEN, "test", "toy", "-gid", str(guest), "-hid", str(host)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        return result.returncode == 0 and TOY_OK in result.stdout

    def clients(self, party: int) -> PeerClients:
        config = self.standalone.node_config(party)
        return PeerClients(config.peers, TlsPaths.of(config.tls), PeerTrust.of(config.peers))

    def channel(self, party: int, target: int, connection: int) -> grpc.Channel:
        """A channel of its own (one TCP connection) to ``target`` with ``party``'s certificate."""
        node = self.standalone.node_dir(party)
        ca = (self.standalone.node_dir(target) / "ca" / "ca.crt").read_bytes()
        credentials = grpc.ssl_channel_credentials(
            root_certificates=ca,
            private_key=(node / "tls" / "node.key").read_bytes(),
            certificate_chain=(node / "tls" / "node.crt").read_bytes(),
        )
        port = self.standalone.node_config(target).federation_port
        options = [("grpc.ssl_target_name_override", server_name(target)), ("unseen.bench.connection", connection)]
        return grpc.secure_channel(f"127.0.0.1:{port}", credentials, options=options)

    def process_counts(self, party: int) -> dict[str, int]:
        pid = self.standalone.pid_of(party)
        if pid is None:
            return {"threads": -1, "fds": -1}
        status = Path(f"/proc/{pid}/status").read_text()
        threads = int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))
        return {"threads": threads, "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def honest_calls(site: Site, count: int = 5) -> dict[str, Any]:
    """``count`` QueryTasks calls from the honest party to the target, each with a 5 s deadline."""
    clients = site.clients(HONEST)
    ok, latencies, errors = 0, [], []
    try:
        for _ in range(count):
            start = time.monotonic()
            try:
                clients.call(TARGET, "QueryTasks", pb.JobRef(job_id="honest"), timeout=5.0)
                ok += 1
                latencies.append(time.monotonic() - start)
            except PeerError as exc:
                errors.append(exc.code.name if exc.code else str(exc))
    finally:
        clients.close()
    return {"ok": ok, "of": count, "max_latency_s": round(max(latencies), 3) if latencies else None, "errors": errors}


def idle_streams(site: Site, count: int, connections: int = 8) -> dict[str, Any]:
    """Hold ``count`` Push streams that never send a frame; see what the target does."""
    release = threading.Event()

    def silent() -> Iterator[pb.Chunk]:
        release.wait(300)
        return
        yield  # a generator that never yields before release

    channels = [site.channel(ATTACKER, TARGET, i) for i in range(connections)]
    started = time.monotonic()
    ended: dict[int, tuple[str, float]] = {}
    calls: list[Future[Any]] = []
    for i in range(count):
        future = push_method(channels[i % connections]).future(silent(), timeout=300)

        def done(f: Any, i: int = i) -> None:
            code = f.code().name if f.exception() is not None else "OK"
            ended[i] = (code, time.monotonic() - started)

        future.add_done_callback(done)
        calls.append(future)
    time.sleep(1.0)
    held_at_1s = count - len(ended)
    counts = site.process_counts(TARGET)
    calls_result = honest_calls(site)
    toy_ok = site.toy(HONEST, TARGET)
    deadline = time.monotonic() + 120
    while len(ended) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    release.set()
    for channel in channels:
        channel.close()
    codes = collections.Counter(code for code, _ in ended.values())
    return {
        "streams": count,
        "held_after_1s": held_at_1s,
        "target_threads": counts["threads"],
        "target_fds": counts["fds"],
        "honest_calls": calls_result,
        "toy_ok": toy_ok,
        "ended_by_code": dict(codes),
        "still_open_after_120s": count - len(ended),
        "last_end_s": round(max((t for _, t in ended.values()), default=0.0), 1),
    }


def half_open(site: Site, count: int) -> dict[str, Any]:
    """``count`` TCP connections to the federation port that never send a byte of TLS."""
    port = site.standalone.node_config(TARGET).federation_port
    sockets: list[socket.socket] = []
    refused = 0
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(2)
        try:
            sock.connect(("127.0.0.1", port))
            sockets.append(sock)
        except OSError:
            refused += 1
            sock.close()
    started = time.monotonic()
    counts = site.process_counts(TARGET)
    calls_result = honest_calls(site)
    toy_ok = site.toy(HONEST, TARGET)
    for sock in sockets:
        sock.setblocking(False)
    open_now = list(sockets)
    while open_now and time.monotonic() - started < 150:
        still = []
        for sock in open_now:
            try:
                if sock.recv(1) == b"":
                    continue
            except BlockingIOError:
                still.append(sock)
                continue
            except OSError:
                continue
        open_now = still
        time.sleep(0.5)
    closed_after = round(time.monotonic() - started, 1)
    for sock in sockets:
        sock.close()
    return {
        "connections": len(sockets),
        "connect_failed": refused,
        "target_threads": counts["threads"],
        "target_fds": counts["fds"],
        "honest_calls": calls_result,
        "toy_ok": toy_ok,
        "open_after_toy_and_wait": len(open_now),
        "all_closed_by_node_within_s": closed_after if not open_now else None,  # from the last connect
    }


def _reachable(clients: PeerClients) -> bool:
    try:
        clients.call(TARGET, "QueryTasks", pb.JobRef(job_id="restart"), timeout=2.0)
    except PeerError as exc:
        return exc.code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    return True


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def restart(site: Site, outage_s: float) -> dict[str, Any]:
    clients = site.clients(ATTACKER)  # party 9999 is an honest partner here
    port = site.standalone.node_config(TARGET).federation_port
    try:
        assert _reachable(clients), "target unreachable before the restart"
        site.standalone.stop_node(TARGET)
        stopped = time.monotonic()
        while time.monotonic() - stopped < outage_s:  # the partner keeps trying, as a polling driver does
            _reachable(clients)
            time.sleep(0.25)
        site.standalone.start_node(TARGET)
        started = time.monotonic()
        port_up: float | None = None
        failures = 0
        while time.monotonic() - started < 180:
            if port_up is None and _port_open(port):
                port_up = time.monotonic()
            if port_up is not None:
                if _reachable(clients):
                    reached = time.monotonic()
                    break
                failures += 1
            time.sleep(0.05)
        else:
            return {"outage_s": outage_s, "reachable_after_port_up_s": None, "failed_calls": failures}
        site.standalone.wait_healthy(TARGET)
        return {
            "outage_s": outage_s,
            "port_up_after_start_s": round((port_up or reached) - started, 2),
            "reachable_after_port_up_s": round(reached - (port_up or reached), 2),
            "failed_calls_after_port_up": failures,
        }
    finally:
        clients.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["idle", "half-open", "restart"], action="append")
    args = parser.parse_args()
    idle_counts = [64] if args.quick else [64, 256]
    open_counts = [1000] if args.quick else [1000, 4000]
    outages = [5.0] if args.quick else [5.0, 30.0]
    only = set(args.only or ["idle", "half-open", "restart"])
    load_before = os.getloadavg()
    rows: dict[str, list[dict[str, Any]]] = {"idle": [], "half_open": [], "restart": []}
    with tempfile.TemporaryDirectory(prefix="unseen-hostile-") as tmp:
        site = Site(Path(tmp), [ATTACKER, TARGET, HONEST])
        try:
            if "idle" in only:
                for n in idle_counts:
                    rows["idle"].append(idle_streams(site, n))
                    print("idle", rows["idle"][-1], flush=True)
            if "half-open" in only:
                for n in open_counts:
                    rows["half_open"].append(half_open(site, n))
                    print("half-open", rows["half_open"][-1], flush=True)
            if "restart" in only:
                for outage in outages:
                    rows["restart"].append(restart(site, outage))
                    print("restart", rows["restart"][-1], flush=True)
        finally:
            site.stop()
    print()
    print(f"{'idle Push streams':>18} {'held@1s':>8} {'threads':>8} {'honest ok':>10} {'toy':>5} {'ended by node':>28}")
    for row in rows["idle"]:
        honest = f"{row['honest_calls']['ok']}/{row['honest_calls']['of']}"
        ended = ", ".join(f"{k} {v}" for k, v in row["ended_by_code"].items()) + f" (last {row['last_end_s']} s)"
        print(
            f"{row['streams']:>18} {row['held_after_1s']:>8} {row['target_threads']:>8} {honest:>10} "
            f"{row['toy_ok']!s:>5} {ended:>28}"
        )
    print(f"{'half-open TCP':>18} {'fds':>8} {'honest ok':>10} {'toy':>5} {'closed by node within':>22}")
    for row in rows["half_open"]:
        honest = f"{row['honest_calls']['ok']}/{row['honest_calls']['of']}"
        closed = row["all_closed_by_node_within_s"]
        print(
            f"{row['connections']:>18} {row['target_fds']:>8} {honest:>10} {row['toy_ok']!s:>5} "
            f"{(str(closed) + ' s') if closed is not None else 'not closed':>22}"
        )
    print(f"{'outage (s)':>18} {'reachable after port up (s)':>28} {'failed calls':>13}")
    for row in rows["restart"]:
        print(
            f"{row['outage_s']:>18} {row['reachable_after_port_up_s']!s:>28} "
            f"{row.get('failed_calls_after_port_up', '-')!s:>13}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "grpcio": grpc.__version__,
                    "load_before": load_before,
                    "load_after": os.getloadavg(),
                },
                **rows,
            },
            indent=2,
        )
    )
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
