"""Tests for unseen.transport.framing: messages cut into frames and put back together, with sizes enforced,
and frames encoded exactly as the protobuf ``Chunk`` of federation.proto."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from unseen.transport.framing import (
    CHUNK_SIZE,
    GRPC_MESSAGE_LIMIT,
    Frame,
    FramingError,
    OversizedMessageError,
    assemble,
    decode_frame,
    encode_frame,
    to_frames,
)
from unseen.transport.proto import federation_pb2 as pb


def envelope(size: int, tag: str = "grad") -> pb.Envelope:
    return pb.Envelope(
        job_id="job-1",
        component="homo_nn_0",
        tag=tag,
        src_party=9999,
        src_role="guest",
        dst_party=10000,
        dst_role="host",
        seq=7,
        payload=pb.PayloadHeader(kind=pb.NDARRAY, dtype="uint8", shape=[size], size=size),
    )


def data(payload: bytes) -> memoryview:
    return memoryview(payload)


def wire(frames: list[Frame]) -> list[Frame]:
    """Frames as the receiving side of gRPC sees them: encoded, then decoded."""
    return [decode_frame(encode_frame(frame)) for frame in frames]


class Exploding:
    """A chunk stream that fails the test if anything is pulled after the chunks it was given."""

    def __init__(self, *chunks: Frame) -> None:
        self._chunks = list(chunks)
        self.pulled = 0

    def __iter__(self) -> Iterator[Frame]:
        for chunk in self._chunks:
            self.pulled += 1
            yield chunk
        self.pulled += 1
        raise AssertionError("assemble read past the header of an oversized message")


# --- round trips --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 5])
def test_chunks_reassemble_to_the_same_envelope_and_body(size: int) -> None:
    body = os.urandom(size)
    env = envelope(size)
    chunks = wire(list(to_frames(env, body)))
    message = assemble(iter(chunks), max_bytes=4 * CHUNK_SIZE)
    assert message.envelope == env
    assert message.body == body


@pytest.mark.parametrize(
    ("size", "data_chunks"),
    [(0, 0), (1, 1), (CHUNK_SIZE, 1), (CHUNK_SIZE + 1, 2), (3 * CHUNK_SIZE + 5, 4)],
)
def test_to_frames_sends_the_header_first_then_bounded_data_chunks(size: int, data_chunks: int) -> None:
    frames = list(to_frames(envelope(size), bytes(size)))
    assert isinstance(frames[0], pb.Envelope)
    assert [type(c) for c in frames[1:]] == [memoryview] * data_chunks
    views = [c for c in frames[1:] if isinstance(c, memoryview)]  # all of them, as the line above asserts
    assert all(len(c) <= CHUNK_SIZE for c in views)
    assert sum(len(c) for c in views) == size
    assert all(len(encode_frame(c)) <= GRPC_MESSAGE_LIMIT for c in frames)


def test_to_frames_accepts_a_memoryview_and_a_custom_chunk_size() -> None:
    body = bytes(range(10))
    chunks = list(to_frames(envelope(10), memoryview(body), chunk_size=3))
    assert [bytes(c) for c in chunks[1:]] == [b"\x00\x01\x02", b"\x03\x04\x05", b"\x06\x07\x08", b"\x09"]  # type: ignore[arg-type]
    assert assemble(chunks, max_bytes=10).body == body


def test_body_of_exactly_max_bytes_is_accepted() -> None:
    body = os.urandom(1000)
    assert assemble(to_frames(envelope(1000), body, chunk_size=300), max_bytes=1000).body == body


def test_empty_data_chunks_are_harmless() -> None:
    chunks: list[Frame] = [(envelope(4)), data(b""), data(b"ab"), data(b""), data(b"cd")]
    assert bytes(assemble(chunks, max_bytes=100).body) == b"abcd"


# --- refusals -----------------------------------------------------------------------------------------------


def test_empty_stream_is_refused() -> None:
    with pytest.raises(FramingError, match="envelope"):
        assemble(iter([]), max_bytes=100)


def test_stream_starting_with_data_is_refused() -> None:
    with pytest.raises(FramingError, match="does not start with an envelope"):
        assemble([data(b"abcd"), (envelope(4))], max_bytes=100)


def test_stream_starting_with_an_empty_chunk_is_refused() -> None:
    with pytest.raises(FramingError, match="does not start with an envelope"):
        assemble([decode_frame(pb.Chunk().SerializeToString()), data(b"ab")], max_bytes=100)


def test_second_header_inside_a_message_is_refused() -> None:
    chunks: list[Frame] = [(envelope(4)), data(b"ab"), (envelope(2)), data(b"cd")]
    with pytest.raises(FramingError, match="second envelope"):
        assemble(chunks, max_bytes=100)


def test_a_chunk_with_no_part_is_an_empty_data_frame_as_proto3_says() -> None:
    frames = wire([envelope(2), *(decode_frame(pb.Chunk().SerializeToString()),), data(b"ab")])
    assert bytes(assemble(frames, max_bytes=100).body) == b"ab"


def test_declared_size_over_the_limit_is_refused_before_any_data_is_read() -> None:
    stream = Exploding(envelope(101))
    with pytest.raises(OversizedMessageError, match="101 bytes exceeds the 100-byte limit"):
        assemble(stream, max_bytes=100)
    assert stream.pulled == 1


def test_huge_declared_size_is_refused_without_allocating_it() -> None:
    stream = Exploding(envelope(2**62))
    with pytest.raises(OversizedMessageError):
        assemble(stream, max_bytes=512 * 1024 * 1024)
    assert stream.pulled == 1


def test_oversized_error_is_a_framing_error() -> None:
    assert issubclass(OversizedMessageError, FramingError)


def test_body_longer_than_declared_is_refused() -> None:
    with pytest.raises(OversizedMessageError, match="exceeds the 4 bytes its envelope declared"):
        assemble([(envelope(4)), data(b"abc"), data(b"de")], max_bytes=100)


def test_body_sent_for_a_zero_size_message_is_refused() -> None:
    with pytest.raises(OversizedMessageError):
        assemble([(envelope(0)), data(b"a")], max_bytes=100)


def test_body_longer_than_declared_is_refused_when_the_extra_chunk_arrives() -> None:
    def stream() -> Iterator[Frame]:
        yield (envelope(4))
        yield data(b"abcd")
        yield data(b"e")
        raise AssertionError("assemble kept reading after the body overflowed")

    with pytest.raises(OversizedMessageError):
        assemble(stream(), max_bytes=100)


@pytest.mark.parametrize("sent", [b"", b"abc"])
def test_body_shorter_than_declared_is_refused(sent: bytes) -> None:
    chunks: list[Frame] = [envelope(4), *([data(sent)] if sent else [])]
    with pytest.raises(FramingError, match=f"ended after {len(sent)} of 4 declared bytes"):
        assemble(chunks, max_bytes=100)


# --- the wire format ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 127, 128, 300, 16384, CHUNK_SIZE])
def test_data_frames_are_byte_for_byte_protobuf_chunks(size: int) -> None:
    body = os.urandom(size)
    assert encode_frame(memoryview(body)) == pb.Chunk(data=body).SerializeToString()
    assert bytes(decode_frame(pb.Chunk(data=body).SerializeToString())) == body  # type: ignore[arg-type]


def test_header_frames_are_protobuf_chunks() -> None:
    env = envelope(12)
    assert encode_frame(env) == pb.Chunk(header=env).SerializeToString()
    assert decode_frame(pb.Chunk(header=env).SerializeToString()) == env


def test_a_decoded_data_frame_is_a_view_not_a_copy() -> None:
    raw = pb.Chunk(data=b"x" * 1000).SerializeToString()
    frame = decode_frame(raw)
    assert isinstance(frame, memoryview) and frame.obj is raw


@pytest.mark.parametrize(
    "raw",
    [
        b"\x12",  # tag, then nothing
        b"\x12\x85",  # a length that never ends
        b"\x12\x05abc",  # fewer bytes than the length says
        b"\x12\x02abc",  # more bytes than the length says
        b"\x0a\x05ab",  # a truncated envelope
        b"\xff\xff\xff",  # not a Chunk at all
    ],
)
def test_malformed_frames_are_refused(raw: bytes) -> None:
    with pytest.raises(FramingError):
        decode_frame(raw)
