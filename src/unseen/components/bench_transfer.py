"""``bench_transfer``: how fast one task's array reaches another party's task, through both nodes.

The guest sends a float32 array of ``size_bytes`` to the one host, and the host answers each array with a
one-element ack, ``warmup + rounds`` times. The guest times each round from just before ``ctx.send`` to the
decoded ack, so a round covers the whole path there (task -> guest's node -> host's node -> host task, with
the host's decode) and the tiny ack's way back. ``benchmarks/transport.py`` runs it with 64 MiB for
throughput and with 8 bytes for round-trip latency; it is also a quick check of a real deployment's link.

After acking, the host compares every value with what was sent and says so in a second message, which
the guest waits for, untimed, before its next round. A wrong array fails the job, and the comparison
(a pass over all the data) does not compete for the CPU with the next round's transfer.

What each side logs (timed rounds only, warm-up rounds excluded):

* guest: ``seconds_median``, ``mib_per_s`` (size / median round), ``rtt_median_ms``, ``rtt_p99_ms``,
  ``send_seconds_median`` (``ctx.send`` returns once the receiving node has accepted the message), and the
  JSON metric ``rounds`` with the per-round lists ``round_s``, ``send_s`` and ``send_start_at`` (wall clock);
* host: ``recv_seconds_median`` (time blocked in ``ctx.recv``, which includes waiting for the guest) and the
  JSON metric ``rounds`` with ``recv_s`` and ``recv_done_at`` (wall clock). On one machine,
  ``recv_done_at - send_start_at`` is the one-way delivery time of each array.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from unseen.components.spec import ComponentSpec
from unseen.runtime.parties import PartyRef, Role

if TYPE_CHECKING:
    from unseen.runtime.context import Context

MIB = 1024 * 1024


class BenchTransferParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size_bytes: int = Field(
        64 * MIB,
        ge=4,
        le=256 * MIB,
        multiple_of=4,
        description="bytes of the float32 array the guest sends each round (a multiple of 4)",
    )
    rounds: int = Field(5, ge=1, le=10_000, description="timed rounds")
    warmup: int = Field(1, ge=0, le=100, description="untimed rounds first: connections, buffers, allocator")


def _only_host(ctx: Context) -> PartyRef:
    hosts = ctx.hosts
    if len(hosts) != 1:
        raise ValueError(f"bench_transfer needs exactly one host, the job has {len(hosts)}")
    return hosts[0]


def _guest(ctx: Context, params: BenchTransferParams) -> None:
    host = _only_host(ctx)
    elements = params.size_bytes // 4
    payload = np.arange(elements, dtype=np.float32)
    round_s: list[float] = []
    send_s: list[float] = []
    send_start_at: list[float] = []
    ctx.logger.info(
        "sending %d bytes to %s, %d warm-up + %d timed rounds", params.size_bytes, host, params.warmup, params.rounds
    )
    for index, it in ctx.iterations(params.warmup + params.rounds):
        wall = time.time()
        start = time.perf_counter()
        it.send("data", payload, to=host)
        sent = time.perf_counter()
        ack = it.recv("ack", frm=host)
        done = time.perf_counter()
        if not (isinstance(ack, np.ndarray) and ack.shape == (1,) and int(ack[0]) == elements):
            raise ValueError(f"round {index}: the host acknowledged {ack!r}, expected [{elements}]")
        if it.recv("checked", frm=host) is not True:
            raise ValueError(f"round {index}: the host found different values in the array")
        if index >= params.warmup:
            round_s.append(done - start)
            send_s.append(sent - start)
            send_start_at.append(wall)
    median = float(np.median(round_s))
    ctx.logger.info("median round %.6f s (%.1f MiB/s)", median, params.size_bytes / MIB / median)
    ctx.metrics.log("seconds_median", median)
    ctx.metrics.log("mib_per_s", params.size_bytes / MIB / median)
    ctx.metrics.log("rtt_median_ms", median * 1e3)
    ctx.metrics.log("rtt_p99_ms", float(np.percentile(round_s, 99)) * 1e3)
    ctx.metrics.log("send_seconds_median", float(np.median(send_s)))
    ctx.metrics.log_json("rounds", {"round_s": round_s, "send_s": send_s, "send_start_at": send_start_at})


def _host(ctx: Context, params: BenchTransferParams) -> None:
    guest = ctx.guest
    elements = params.size_bytes // 4
    expected = np.arange(elements, dtype=np.float32)
    recv_s: list[float] = []
    recv_done_at: list[float] = []
    for index, it in ctx.iterations(params.warmup + params.rounds):
        start = time.perf_counter()
        data = it.recv("data", frm=guest)
        done = time.perf_counter()
        wall = time.time()
        if not (isinstance(data, np.ndarray) and data.dtype == np.float32 and data.size == elements):
            raise ValueError(f"round {index}: expected {elements} float32 values from {guest}")
        it.send("ack", np.array([elements], dtype=np.int64), to=guest)
        exact = bool(np.array_equal(data, expected))  # after the ack: outside the guest's timing
        it.send("checked", exact, to=guest)
        if not exact:
            raise ValueError(f"round {index}: the array from {guest} arrived with different values")
        if index >= params.warmup:
            recv_s.append(done - start)
            recv_done_at.append(wall)
    ctx.metrics.log("recv_seconds_median", float(np.median(recv_s)))
    ctx.metrics.log_json("rounds", {"recv_s": recv_s, "recv_done_at": recv_done_at})


def run(ctx: Context, params: BenchTransferParams) -> None:
    if ctx.role == Role.GUEST:
        _guest(ctx, params)
    else:
        _host(ctx, params)


SPEC = ComponentSpec(
    name="bench_transfer",
    roles=frozenset({Role.GUEST, Role.HOST}),
    params=BenchTransferParams,
    run=run,
    description="guest sends a float32 array to the host, which acks it; logs seconds per round and MiB/s",
)
