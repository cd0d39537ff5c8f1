"""Federation transport: task-to-task throughput and latency through real nodes, against raw grpcio over TLS.

Everything is measured in one run on this machine, so the ratios compare like with like:

* **ours**: a real standalone site (parties 9999 and 10000, each its own node process, in a temporary
  ``UNSEEN_HOME``) runs jobs of the ``bench_transfer`` component. Its guest task sends a float32 array to the
  host task and times each round from just before ``ctx.send`` to the host's one-element ack, so a round
  covers task -> node -> (mutual TLS) -> node -> task with the host's decode, plus the tiny ack's way back.
  Guest 9999 -> host 10000 crosses mTLS; guest 10000 -> host 10000 is the same-node path (no TLS hop).
* **raw**: a separate process serves plain ``grpc.server`` methods with ``require_client_auth=True`` and
  certificates from ``unseen.transport.tls``; this process streams the same bytes in the same chunk size
  (``unseen.transport.framing.CHUNK_SIZE``) and waits for the response. The baseline is taken before and
  after our jobs and pooled. A sweep over chunk sizes, one big message, and a Unix-socket (local
  credentials) stream show how much chunk size and TLS matter.
* **framed hops**: the same raw server, but the bytes go through our own framing (``codec`` ->
  ``framing.to_frames`` -> ``encode_frame`` -> ``decode_frame`` -> ``framing.assemble`` -> ``codec.decode``),
  over mTLS and over a Unix socket. Three of them one after another is what a node-to-node message costs if
  the nodes added nothing but store-and-forward; the gap between that row and ours is the nodes' own work.
* **``unseen test toy``** as a user runs it: the console script in a subprocess, wall time.

    python benchmarks/transport.py            # 64 MiB x 15 rounds, 200 round trips, 5 toy runs each
    python benchmarks/transport.py --quick    # smoke run: 8 MiB x 2, 20 round trips, 1 toy run each

Prints a table and writes benchmarks/results/transport.json (the rows plus every raw sample).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from bench_site import free_port_block, plug_in_benchmark_components

from unseen.transport import codec
from unseen.transport.framing import CHUNK_SIZE, Frame, assemble, decode_frame, encode_frame, to_frames
from unseen.transport.proto import federation_pb2 as pb
from unseen.transport.tls import create_ca, issue_party_certificate, server_name, write_certificate, write_private_key

MIB = 1024 * 1024
KIB = 1024
RESULTS = Path(__file__).resolve().parent / "results" / "transport.json"
GUEST, HOST = 9999, 10000
THROUGHPUT_GOAL = 0.5  # ours / raw, for the cross-party 64 MiB transfer
RAW_SERVICE = "unseen.bench.Raw"
RTT_BYTES = 8
RTT_WARMUP = 10
JOB_TIMEOUT_S = 300
COMPONENT = "bench_transfer"


@dataclass(frozen=True)
class Settings:
    size_bytes: int
    rounds: int
    warmup: int
    rtt_rounds: int
    toy_runs: int
    chunk_sizes: tuple[int, ...]

    @property
    def size_mib(self) -> float:
        return self.size_bytes / MIB


FULL = Settings(64 * MIB, 15, 2, 200, 5, (64 * KIB, 256 * KIB, 1 * MIB, 2 * MIB, 4 * MIB, 8 * MIB))
QUICK = Settings(8 * MIB, 2, 1, 20, 1, (256 * KIB, 2 * MIB, 8 * MIB))


@dataclass
class Row:
    """One line of the table. ``goal`` is a bound on ``value / baseline``: a minimum unless ``lower_is_better``."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    goal: float | None = None
    lower_is_better: bool = False

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None

    @property
    def met(self) -> bool | None:
        if self.goal is None or self.ratio is None:
            return None
        return self.ratio <= self.goal if self.lower_is_better else self.ratio >= self.goal

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


def median(values: list[float]) -> float:
    return float(np.median(values))


def p99(values: list[float]) -> float:
    return float(np.percentile(values, 99))


def timed_rounds(action: Callable[[], object], warmup: int, rounds: int) -> list[float]:
    """Seconds of each of ``rounds`` calls of ``action``, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        action()
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - start)
    return seconds


def size_label(size: int) -> str:
    return f"{size // MIB} MiB" if size >= MIB else f"{size // KIB} KiB" if size >= KIB else f"{size} B"


# --- raw grpcio: the reference ------------------------------------------------------------------------------


def make_raw_tls(directory: Path) -> None:
    """A CA and two party certificates, exactly as nodes get theirs: party HOST serves, party GUEST calls."""
    ca_key, ca_cert = create_ca("benchmark CA")
    write_certificate(directory / "ca.crt", ca_cert)
    for name, party in (("server", HOST), ("client", GUEST)):
        key, cert = issue_party_certificate(ca_key, ca_cert, party)
        write_private_key(directory / f"{name}.key", key)
        write_certificate(directory / f"{name}.crt", cert)


def _raw_handler() -> Any:
    """Bytes in, bytes out: no protobuf, so what is measured is grpcio, HTTP/2 and TLS alone."""

    def stream(chunks: Iterator[bytes], _context: Any) -> bytes:
        total = 0
        for chunk in chunks:
            total += len(chunk)
        return total.to_bytes(8, "little")

    def unary(request: bytes, _context: Any) -> bytes:
        return len(request).to_bytes(8, "little")

    def echo(request: bytes, _context: Any) -> bytes:
        return request

    def framed(chunks: Iterator[Frame], _context: Any) -> pb.Ack:
        message = assemble(chunks, 1 << 40)
        codec.decode(message.envelope.payload, message.body)
        return pb.Ack(received=len(message.body))

    return grpc.method_handlers_generic_handler(
        RAW_SERVICE,
        {
            "Stream": grpc.stream_unary_rpc_method_handler(stream),
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Echo": grpc.unary_unary_rpc_method_handler(echo),
            "Framed": grpc.stream_unary_rpc_method_handler(
                framed, request_deserializer=decode_frame, response_serializer=pb.Ack.SerializeToString
            ),
        },
    )


def serve_raw(directory: Path, max_message: int) -> None:
    """The raw server process: prints its TCP port, serves until its stdin closes (the benchmark ended)."""
    options = [("grpc.max_send_message_length", max_message), ("grpc.max_receive_message_length", max_message)]
    server = grpc.server(ThreadPoolExecutor(max_workers=16), options=options)
    server.add_generic_rpc_handlers((_raw_handler(),))
    credentials = grpc.ssl_server_credentials(
        [((directory / "server.key").read_bytes(), (directory / "server.crt").read_bytes())],
        root_certificates=(directory / "ca.crt").read_bytes(),
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.add_secure_port(
        f"unix:{directory / 'raw.sock'}", grpc.local_server_credentials(grpc.LocalConnectionType.UDS)
    )
    server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop(grace=None)


class RawClient:
    """The benchmark's side of the raw reference, over mutual TLS (or the Unix socket, for comparison)."""

    def __init__(self, directory: Path, port: int, max_message: int, uds: bool = False) -> None:
        options: list[tuple[str, Any]] = [
            ("grpc.max_send_message_length", max_message),
            ("grpc.max_receive_message_length", max_message),
        ]
        if uds:
            credentials = grpc.local_channel_credentials(grpc.LocalConnectionType.UDS)
            self._channel = grpc.secure_channel(f"unix:{directory / 'raw.sock'}", credentials, options=options)
        else:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=(directory / "ca.crt").read_bytes(),
                private_key=(directory / "client.key").read_bytes(),
                certificate_chain=(directory / "client.crt").read_bytes(),
            )
            options.append(("grpc.ssl_target_name_override", server_name(HOST)))
            self._channel = grpc.secure_channel(f"127.0.0.1:{port}", credentials, options=options)
        self._stream = self._channel.stream_unary(f"/{RAW_SERVICE}/Stream")
        self._unary = self._channel.unary_unary(f"/{RAW_SERVICE}/Unary")
        self._echo = self._channel.unary_unary(f"/{RAW_SERVICE}/Echo")
        self._framed = self._channel.stream_unary(
            f"/{RAW_SERVICE}/Framed",
            request_serializer=encode_frame,
            response_deserializer=pb.Ack.FromString,
        )

    def stream(self, data: bytes, chunk_size: int) -> None:
        """Slices are cut while sending (one copy per chunk), as ``framing.encode_frame`` does."""
        chunks = (data[start : start + chunk_size] for start in range(0, len(data), chunk_size))
        received = int.from_bytes(self._stream(chunks, timeout=120), "little")
        assert received == len(data), (received, len(data))

    def unary(self, data: bytes) -> None:
        received = int.from_bytes(self._unary(data, timeout=120), "little")
        assert received == len(data), (received, len(data))

    def echo(self, data: bytes) -> None:
        assert self._echo(data, timeout=30) == data

    def framed(self, array: np.ndarray) -> None:
        """One hop as our nodes make it: codec, envelope, ``to_frames`` -> frame codec -> ``assemble``, decode."""
        encoded = codec.encode(array)
        envelope = pb.Envelope(job_id="bench", component="c", tag="t", seq=1, payload=encoded.header)
        ack = self._framed(to_frames(envelope, encoded.body), timeout=120)
        assert ack.received == encoded.header.size, (ack.received, encoded.header.size)

    def close(self) -> None:
        self._channel.close()


class RawReference:
    """The raw server process and this process's clients, up for the whole run.

    The baseline is measured before and again after our jobs, and the samples are pooled: on a shared machine
    a burst of load during one phase would otherwise tilt the ratio either way.
    """

    def __init__(self, settings: Settings, directory: Path) -> None:
        self.settings = settings
        self.max_message = settings.size_bytes + MIB
        make_raw_tls(directory)
        argv = [sys.executable, str(Path(__file__).resolve()), "--raw-server", str(directory)]
        self._server = subprocess.Popen(
            [*argv, "--max-message", str(self.max_message)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._server.stdout is not None
        port = int(self._server.stdout.readline())
        self.array = np.arange(settings.size_bytes // 4, dtype=np.float32)
        self.data = self.array.tobytes()
        self.tls = RawClient(directory, port, self.max_message)
        self.uds = RawClient(directory, port, self.max_message, uds=True)
        self.sweep_s: dict[int, list[float]] = {}
        self.one_message_s: list[float] = []
        self.uds_s: list[float] = []
        self.framed_tls_s: list[float] = []
        self.framed_uds_s: list[float] = []
        self.baseline_s: list[float] = []
        self.echo_s: list[float] = []

    def measure_all(self) -> None:
        """Chunk-size sweep (ours among them), one big message, the Unix socket, and a first baseline pass."""
        s = self.settings
        for chunk in s.chunk_sizes:
            if chunk != CHUNK_SIZE:
                send = functools.partial(self.tls.stream, self.data, chunk)
                self.sweep_s[chunk] = timed_rounds(send, s.warmup, s.rounds)
        self.one_message_s = timed_rounds(lambda: self.tls.unary(self.data), s.warmup, s.rounds)
        self.uds_s = timed_rounds(lambda: self.uds.stream(self.data, CHUNK_SIZE), s.warmup, s.rounds)
        self.framed_tls_s = timed_rounds(lambda: self.tls.framed(self.array), s.warmup, s.rounds)
        self.framed_uds_s = timed_rounds(lambda: self.uds.framed(self.array), s.warmup, s.rounds)
        self.measure_baseline()

    def measure_baseline(self) -> None:
        """One pass of the two references ours is divided by: the 2 MiB-chunk stream and the tiny echo."""
        s = self.settings
        self.baseline_s += timed_rounds(lambda: self.tls.stream(self.data, CHUNK_SIZE), s.warmup, s.rounds)
        tiny = bytes(RTT_BYTES)
        self.echo_s += timed_rounds(lambda: self.tls.echo(tiny), RTT_WARMUP, s.rtt_rounds)

    def close(self) -> None:
        self.tls.close()
        self.uds.close()
        if self._server.stdin is not None:
            self._server.stdin.close()
        try:
            self._server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._server.kill()
            self._server.wait()


# --- ours: a standalone site ----------------------------------------------------------------------------------


@dataclass
class Transfer:
    """What one ``bench_transfer`` job measured: the guest's and the host's per-round lists."""

    round_s: list[float]
    send_s: list[float]
    one_way_s: list[float]


def run_transfer(guest: int, host: int, size_bytes: int, rounds: int, warmup: int) -> Transfer:
    from unseen.cli.client import client_for
    from unseen.cli.waiting import wait_for_job

    config = {
        "name": f"bench-transfer-{size_bytes}",
        "initiator": {"role": "guest", "party_id": guest},
        "parties": {"guest": [guest], "host": [host]},
        "timeout_s": JOB_TIMEOUT_S,
        "components": [
            {
                "name": "transfer_0",
                "component": COMPONENT,
                "params": {"size_bytes": size_bytes, "rounds": rounds, "warmup": warmup},
            }
        ],
    }
    client = client_for(guest)
    job_id = client.post("/jobs", config)["job_id"]
    job = wait_for_job(client, job_id, JOB_TIMEOUT_S + 10)
    if job["status"] != "success":
        logs = []
        for party in sorted({guest, host}):
            try:
                logs.append(client_for(party).text(f"/jobs/{job_id}/logs", tail=4000))
            except Exception as exc:  # best effort: the job's own reason follows anyway
                logs.append(f"(logs of party {party} unavailable: {exc})")
        raise RuntimeError(f"bench job {job_id} {job['status']}: {job['reason']}\n" + "\n".join(logs))

    def rounds_of(party: int, role: str) -> dict[str, list[float]]:
        for metric in client_for(party).get(f"/jobs/{job_id}/metrics", component="transfer_0"):
            if metric["name"] == "rounds" and metric["role"] == role:
                return dict(metric["value"])
        raise RuntimeError(f"job {job_id} logged no 'rounds' metric for {role}:{party}")

    sent, received = rounds_of(guest, "guest"), rounds_of(host, "host")
    one_way = [done - start for start, done in zip(sent["send_start_at"], received["recv_done_at"], strict=True)]
    return Transfer(sent["round_s"], sent["send_s"], one_way)


Pair = tuple[int, int]  # (guest party, host party)
PAIRS: tuple[Pair, ...] = ((GUEST, HOST), (HOST, HOST))


@dataclass
class Ours:
    bulk: dict[Pair, Transfer] = field(default_factory=dict)
    rtt: dict[Pair, Transfer] = field(default_factory=dict)
    toy_s: dict[Pair, list[float]] = field(default_factory=dict)


def run_toy(command: str, home: Path, guest: int, host: int) -> float:
    """``unseen test toy`` exactly as typed by a user: the console script, its own interpreter, its own imports."""
    start = time.perf_counter()
    done = subprocess.run(
        [command, "test", "toy", "-gid", str(guest), "-hid", str(host)],
        env={**os.environ, "UNSEEN_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0 or "success" not in done.stdout:
        raise RuntimeError(f"unseen test toy failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    return seconds


def run_site(settings: Settings, home: Path, raw: RawReference) -> Ours:
    """Start both nodes, run our jobs, take the raw baseline's second pass, time the toy; always stop the nodes."""
    from unseen.node.standalone import StandaloneSite

    script = Path(sys.executable).with_name("unseen")
    command = str(script) if script.is_file() else shutil.which("unseen")
    if command is None:
        raise SystemExit("the `unseen` console script is not installed next to this Python; activate the venv")
    site = StandaloneSite(home / "standalone")
    site.configure([GUEST, HOST], base_port=free_port_block(4))
    ours = Ours()
    try:
        for party in (GUEST, HOST):
            site.start_node(party)
        for party in (GUEST, HOST):
            site.wait_healthy(party)
        for pair in PAIRS:
            ours.bulk[pair] = run_transfer(*pair, settings.size_bytes, settings.rounds, settings.warmup)
        for pair in PAIRS:
            ours.rtt[pair] = run_transfer(*pair, RTT_BYTES, settings.rtt_rounds, RTT_WARMUP)
        raw.measure_baseline()
        for pair in PAIRS:
            ours.toy_s[pair] = [run_toy(command, home, *pair) for _ in range(settings.toy_runs)]
    except Exception:
        for party in (GUEST, HOST):
            print(f"--- party {party}'s node log ---\n{site.log_tail(party, 30)}", file=sys.stderr)
        raise
    finally:
        for party in (GUEST, HOST):
            site.stop_node(party)
    return ours


def build_rows(settings: Settings, raw: RawReference, ours: Ours) -> list[Row]:
    size, chunk = size_label(settings.size_bytes), size_label(CHUNK_SIZE)
    mib = settings.size_mib
    stream = mib / median(raw.baseline_s)
    rows: list[Row] = []
    for (guest, host), label, goal in (
        ((GUEST, HOST), f"{GUEST}->{HOST} (mTLS, both nodes)", THROUGHPUT_GOAL),
        ((HOST, HOST), f"{HOST}->{HOST} (same node, no TLS)", None),
    ):
        bulk = ours.bulk[(guest, host)]
        rows += [
            Row(f"ours {size} task->task {label}", mib / median(bulk.round_s), "MiB/s", stream, goal),
            Row("  of which ctx.send (until the last node accepted)", median(bulk.send_s), "s"),
            Row("  one-way: send start -> host task holds the array", median(bulk.one_way_s), "s"),
        ]
    hops_s = 2 * median(raw.uds_s) + median(raw.baseline_s)
    framed_hops_s = 2 * median(raw.framed_uds_s) + median(raw.framed_tls_s)
    rows += [
        Row(f"raw grpcio mTLS stream, {chunk} chunks (baseline)", stream, "MiB/s"),
        Row("raw, 3 hops one after another (UDS + mTLS + UDS)", mib / hops_s, "MiB/s", stream),
        Row("one mTLS hop with our framing (to_frames/assemble)", mib / median(raw.framed_tls_s), "MiB/s", stream),
        Row("one UDS hop with our framing (to_frames/assemble)", mib / median(raw.framed_uds_s), "MiB/s", stream),
        Row("3 framed hops one after another (UDS + mTLS + UDS)", mib / framed_hops_s, "MiB/s", stream),
        Row(f"raw grpcio Unix socket stream, {chunk} chunks", mib / median(raw.uds_s), "MiB/s", stream),
        Row(f"raw grpcio mTLS, one {size} message", mib / median(raw.one_message_s), "MiB/s", stream),
    ]
    rows += [
        Row(f"raw grpcio mTLS stream, {size_label(c)} chunks", mib / median(s), "MiB/s", stream)
        for c, s in sorted(raw.sweep_s.items())
    ]
    echo_ms = [s * 1e3 for s in raw.echo_s]
    for (guest, host), label in (((GUEST, HOST), f"{GUEST}<->{HOST} (mTLS)"), ((HOST, HOST), f"{HOST}<->{HOST}")):
        ms = [s * 1e3 for s in ours.rtt[(guest, host)].round_s]
        rows += [
            Row(
                f"ours {RTT_BYTES} B round trip {label}, median",
                median(ms),
                "ms",
                median(echo_ms),
                lower_is_better=True,
            ),
            Row(f"ours {RTT_BYTES} B round trip {label}, p99", p99(ms), "ms", p99(echo_ms), lower_is_better=True),
        ]
    rows += [
        Row(f"raw grpcio mTLS unary echo {RTT_BYTES} B, median", median(echo_ms), "ms"),
        Row(f"raw grpcio mTLS unary echo {RTT_BYTES} B, p99", p99(echo_ms), "ms"),
    ]
    rows += [
        Row(f"unseen test toy -gid {guest} -hid {host}, median of {len(s)}", median(s), "s")
        for (guest, host), s in ours.toy_s.items()
    ]
    return rows


def samples_of(raw: RawReference, ours: Ours) -> dict[str, Any]:
    """Every timing behind the rows, in seconds, for whoever wants more than medians."""
    samples: dict[str, Any] = {
        "raw_tls_stream_baseline_s": raw.baseline_s,
        "raw_tls_one_message_s": raw.one_message_s,
        "raw_uds_stream_s": raw.uds_s,
        "framed_tls_s": raw.framed_tls_s,
        "framed_uds_s": raw.framed_uds_s,
        "raw_tls_echo_s": raw.echo_s,
        **{f"raw_tls_stream_{c}_s": s for c, s in raw.sweep_s.items()},
    }
    for (guest, host), bulk in ours.bulk.items():
        samples[f"ours_bulk_{guest}_{host}"] = asdict(bulk)
    for (guest, host), rtt in ours.rtt.items():
        samples[f"ours_rtt_{guest}_{host}"] = asdict(rtt)
    for (guest, host), seconds in ours.toy_s.items():
        samples[f"toy_{guest}_{host}_s"] = seconds
    return samples


# --- output -----------------------------------------------------------------------------------------------------


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.1f}"


def print_table(rows: list[Row]) -> None:
    width = max(len(r.name) for r in rows)
    header = f"{'name':<{width}}  {'value':>9}  {'unit':<5}  {'baseline':>9}  {'ratio':>6}  {'goal':>6}  met?"
    print(header)
    print("-" * len(header))
    for r in rows:
        goal = "-" if r.goal is None else f"{'<=' if r.lower_is_better else '>='}{r.goal:g}"
        met = "-" if r.met is None else "yes" if r.met else "NO"
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}"
        print(
            f"{r.name:<{width}}  {_number(r.value):>9}  {r.unit:<5}  {_number(r.baseline):>9}  {ratio:>6}  "
            f"{goal:>6}  {met}"
        )


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "numpy": np.__version__,
    }


def write_json(path: Path, settings: Settings, quick: bool, rows: list[Row], run: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "transport",
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "settings": {**asdict(settings), "chunk_size": CHUNK_SIZE, "rtt_bytes": RTT_BYTES, "rtt_warmup": RTT_WARMUP},
        "machine": machine_info(),
        "run": {key: value for key, value in run.items() if key != "samples"},
        "rows": [r.as_json() for r in rows],
        "samples": run["samples"],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 8 MiB x 2 rounds, 20 round trips, 1 toy run")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    parser.add_argument("--raw-server", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--max-message", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_server is not None:
        serve_raw(args.raw_server, args.max_message)
        return

    settings = QUICK if args.quick else FULL
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="unseen-bench-") as temp:
        home = Path(temp) / "home"
        # Before anything reads it: the site, its nodes, their tasks and the CLI all live under this home.
        os.environ["UNSEEN_HOME"] = str(home)
        plug_in_benchmark_components()
        raw_dir = Path(temp) / "raw"
        raw_dir.mkdir()
        print(f"raw grpcio references ({size_label(settings.size_bytes)}, {settings.rounds} rounds) ...", flush=True)
        raw = RawReference(settings, raw_dir)
        try:
            raw.measure_all()
            print("standalone site: bench_transfer jobs, raw baseline again, unseen test toy ...", flush=True)
            ours = run_site(settings, home, raw)
        finally:
            raw.close()
    wall_s = time.perf_counter() - started
    load_after = os.getloadavg()[0]
    rows = build_rows(settings, raw, ours)
    print()
    print_table(rows)
    print(
        f"\nPython {platform.python_version()}, grpcio {grpc.__version__}, {os.cpu_count()} CPUs; "
        f"run took {wall_s:.0f} s; 1-min load average {load_before:.1f} before, {load_after:.1f} after"
    )
    if max(load_before, load_after) > (os.cpu_count() or 1):
        print("warning: the machine was busy with other work; ratios are less reliable than usual")
    run = {"wall_s": wall_s, "load_before": load_before, "load_after": load_after, "samples": samples_of(raw, ours)}
    write_json(args.output, settings, args.quick, rows, run)


if __name__ == "__main__":
    main()
