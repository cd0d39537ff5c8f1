"""PeerGate on a real (insecure, in-process) gRPC server: the cap, and each deadline ending a real call."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from unseen.transport.gate import GateLimits, PeerGate

LIMITS = GateLimits(max_calls_per_peer=2, first_frame_s=1.0, idle_s=1.0, max_call_s=3.0)


def _raw(data: bytes) -> bytes:
    return data


@pytest.fixture
def served() -> Iterator[tuple[grpc.Channel, PeerGate]]:
    gate = PeerGate(LIMITS, lambda _context: 7)

    def count(frames: Iterator[bytes], _context: grpc.ServicerContext) -> bytes:
        return str(sum(len(f) for f in frames)).encode()

    def echo(request: bytes, _context: grpc.ServicerContext) -> bytes:
        return request

    handlers = {
        "Stream": grpc.stream_unary_rpc_method_handler(gate.stream("Stream", count), _raw, _raw),
        "One": grpc.stream_unary_rpc_method_handler(gate.unary("One", echo), _raw, _raw),
    }
    server = grpc.server(ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("T", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield channel, gate
    channel.close()
    server.stop(0)


def _frames(*parts: bytes, then_wait: threading.Event | None = None) -> Iterator[bytes]:
    yield from parts
    if then_wait is not None:
        then_wait.wait(10)


def test_calls_that_progress_are_served(served: tuple[grpc.Channel, PeerGate]) -> None:
    channel, gate = served
    assert channel.stream_unary("/T/Stream", _raw, _raw)(_frames(b"ab", b"cde"), timeout=5) == b"5"
    assert channel.unary_unary("/T/One", _raw, _raw)(b"hi", timeout=5) == b"hi"  # a unary client, unchanged
    assert gate.held(7) == 0


def test_a_party_over_its_cap_is_refused_and_silent_calls_are_ended(served: tuple[grpc.Channel, PeerGate]) -> None:
    channel, gate = served
    release = threading.Event()
    stream = channel.stream_unary("/T/Stream", _raw, _raw)
    silent = [stream.future(_frames(then_wait=release), timeout=10) for _ in range(2)]
    for _ in range(100):  # until both are in their handlers
        if gate.held(7) == 2:
            break
        threading.Event().wait(0.01)
    with pytest.raises(grpc.RpcError) as refused:
        stream(_frames(b"x"), timeout=5)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "party 7 already holds 2 calls here" in (refused.value.details() or "")
    for call in silent:
        with pytest.raises(grpc.RpcError) as ended:
            call.result(timeout=5)
        assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "no first message within 1 s" in (ended.value.details() or "")
    release.set()
    # The client sees its call end before the server's handler has let go of its slot: wait, bounded.
    deadline = time.monotonic() + 5
    while gate.held(7) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gate.held(7) == 0


def test_a_stream_that_stalls_between_frames_is_ended(served: tuple[grpc.Channel, PeerGate]) -> None:
    channel, _ = served
    release = threading.Event()
    with pytest.raises(grpc.RpcError) as ended:
        channel.stream_unary("/T/Stream", _raw, _raw)(_frames(b"head", then_wait=release), timeout=5)
    release.set()
    assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "no next frame within 1 s" in (ended.value.details() or "")


def test_a_stream_that_trickles_is_ended_at_the_whole_call_limit(served: tuple[grpc.Channel, PeerGate]) -> None:
    channel, _ = served

    def trickle() -> Iterator[bytes]:
        for _ in range(40):
            yield b"."
            threading.Event().wait(0.2)

    with pytest.raises(grpc.RpcError) as ended:
        channel.stream_unary("/T/Stream", _raw, _raw)(trickle(), timeout=10)
    assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "ran past its time limit" in (ended.value.details() or "")
