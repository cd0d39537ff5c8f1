"""A message on its way into a task: read while it arrives, usable only once accepted, bounded in memory."""

from __future__ import annotations

import threading
import weakref

import pytest

from unseen.transport.delivery import Delivery, DeliveryFailedError
from unseen.transport.proto import federation_pb2 as pb


def _envelope() -> pb.Envelope:
    return pb.Envelope(job_id="j", component="c", tag="t", seq=1)


def test_a_reader_streams_chunks_as_they_arrive_and_ends_when_the_message_is_complete() -> None:
    delivery = Delivery(_envelope())
    reader = delivery.chunks(timeout=5.0)
    delivery.append(memoryview(b"ab"))
    assert bytes(next(reader)) == b"ab"  # before the rest has even arrived

    def finish() -> None:
        delivery.append(memoryview(b"cd"))
        delivery.complete()

    threading.Timer(0.05, finish).start()
    assert [bytes(chunk) for chunk in reader] == [b"cd"]
    assert delivery.body() == b"abcd"


def test_a_refused_message_fails_its_reader_instead_of_ending_its_stream() -> None:
    delivery = Delivery(_envelope())
    reader = delivery.chunks(timeout=5.0)
    delivery.append(memoryview(b"ab"))
    assert bytes(next(reader)) == b"ab"
    delivery.fail("body does not decode")
    with pytest.raises(DeliveryFailedError, match="body does not decode"):
        next(reader)


def test_a_stalled_sender_times_the_reader_out() -> None:
    delivery = Delivery(_envelope())
    with pytest.raises(TimeoutError, match="stalled"):
        next(delivery.chunks(timeout=0.05))


def test_without_a_body_check_each_chunk_is_let_go_once_the_reader_has_taken_it() -> None:
    delivery = Delivery(_envelope(), keep_body=False)
    chunks = [memoryview(bytes([index]) * 16) for index in range(3)]
    refs = [weakref.ref(chunk) for chunk in chunks]
    for chunk in chunks:
        delivery.append(chunk)
    delivery.complete()
    del chunk, chunks
    reader = delivery.chunks(timeout=5.0)
    assert bytes(next(reader)) == bytes(16) and bytes(next(reader)) == bytes([1]) * 16
    assert refs[0]() is None  # taken and dropped by the reader: the delivery holds it no longer
    assert refs[2]() is not None  # not taken yet: still held for its reader
    assert [bytes(chunk)[:1] for chunk in reader] == [b"\x02"]
    with pytest.raises(RuntimeError, match="without keeping its body"):
        delivery.body()


def test_a_delivery_the_node_checks_keeps_its_body_after_the_reader_took_it() -> None:
    delivery = Delivery(_envelope(), keep_body=True)
    delivery.append(memoryview(b"12"))
    delivery.append(memoryview(b"34"))
    delivery.complete()
    assert b"".join(bytes(chunk) for chunk in delivery.chunks(timeout=5.0)) == b"1234"
    assert delivery.body() == b"1234"
