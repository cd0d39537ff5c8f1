"""Attack a standalone site's REST listener and measure what the node survives.

1. Node RSS while an unauthenticated client POSTs 512 MiB to ``/v1/jobs``.
2. Half-sent requests (headers cut off mid-name), held open in growing numbers: at each step, whether
   ``/v1/health`` answers and a toy job runs, the node's open descriptors and its log size.

The nodes start with a soft open-file limit of 4096 (``--node-fd-limit``) so the old failure shows without
20,000 sockets; this script raises its own limit to the hard one to hold more. Loopback only; every socket
is closed at the end. Writes ``benchmarks/results/http_attacks.json``.

    python benchmarks/http_attacks.py                    # ~2 min: steps 2000,3900,4500,8000,15000
    python benchmarks/http_attacks.py --steps 500,1000   # quicker
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.conftest import Site, make_site, stop_site  # noqa: E402

HALF_SENT = b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Len"


def rss_mib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return -1


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def big_unauthenticated_post(port: int, pid: int, size: int) -> dict[str, Any]:
    peak = [rss_mib(pid)]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mib(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    row: dict[str, Any] = {"rss_before_mib": rss_mib(pid), "body_mib": size >> 20}
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        head = f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
        sock.sendall(head.encode())
        chunk = b"0" * (1 << 20)
        try:
            while sent < size:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError as exc:
            row["send_stopped_by"] = type(exc).__name__
        try:
            row["answer"] = sock.recv(200).decode(errors="replace").splitlines()[0]
        except (OSError, IndexError) as exc:
            row["answer"] = type(exc).__name__
    time.sleep(1)
    done.set()
    sampler.join()
    row.update(sent_mib=sent >> 20, rss_peak_mib=peak[0], rss_after_mib=rss_mib(pid))
    return row


def half_sent_steps(site: Site, port: int, pid: int, steps: list[int]) -> list[dict[str, Any]]:
    sockets: list[socket.socket] = []
    rows = []
    log = site.standalone.node_dir(9999) / "node.log"
    try:
        for target in steps:
            error = None
            while len(sockets) < target:
                try:
                    sock = socket.create_connection(("127.0.0.1", port), timeout=2)
                    sock.sendall(HALF_SENT)
                    sockets.append(sock)
                except OSError as exc:
                    error = repr(exc)
                    break
            row: dict[str, Any] = {"half_sent": len(sockets), "open_error": error, "node_fds": open_fds(pid)}
            try:
                row["health"] = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=10).status_code
            except httpx.HTTPError as exc:
                row["health"] = type(exc).__name__
            toy = site.cli("test", "toy", "-gid", "9999", "-hid", "10000", timeout=180)
            row.update(toy_ok=toy.returncode == 0, node_fds_after=open_fds(pid), log_kib=log.stat().st_size >> 10)
            rows.append(row)
            print(row, flush=True)
            if error:
                break
    finally:
        for sock in sockets:
            sock.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="2000,3900,4500,8000,15000")
    parser.add_argument("--post-mib", type=int, default=512)
    parser.add_argument("--node-fd-limit", type=int, default=4096)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(args.node_fd_limit, hard), hard))  # what the nodes inherit
    site = make_site(Path(tempfile.mkdtemp(prefix="http-attacks-")), [9999, 10000])
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        pid = site.standalone.pid_of(9999)
        assert pid is not None
        port = site.standalone.node_config(9999).rest_port
        result = {
            "post": big_unauthenticated_post(port, pid, args.post_mib << 20),
            "half_sent": half_sent_steps(site, port, pid, [int(s) for s in args.steps.split(",")]),
        }
        text = site.node_log(9999)
        result["log"] = {"kib": len(text) >> 10, "tracebacks": text.count("Traceback")}
    finally:
        stop_site(site)
    out = REPO / "benchmarks" / "results" / "http_attacks.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
