"""Messages as streams of frames: an envelope first, then the body in bounded pieces.

On the wire every frame is a protobuf ``Chunk`` (see federation.proto), so any protobuf peer can read it.
In memory a frame is either an ``Envelope`` or a ``memoryview`` of body bytes: data frames are encoded and
decoded here by hand, because the generic protobuf path copies each 2 MiB chunk three or four times
(building the message, serialising, parsing, reading the field), and those copies halved the throughput
of a hop. Here a body is sliced without copying, each data frame is copied once into the bytes gRPC sends,
and a received message is joined once.

Large payloads are never one gRPC message: chunks keep memory per hop bounded and let nodes forward a
message while it is still arriving. The assembler enforces the size the envelope declared, so an
oversized message is refused at its header, before its body is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

from unseen.transport.proto import federation_pb2 as pb

CHUNK_SIZE = 2 * 1024 * 1024
# gRPC's own limit for one frame on the wire: a full data chunk plus room for the envelope.
GRPC_MESSAGE_LIMIT = CHUNK_SIZE + 64 * 1024

Frame: TypeAlias = pb.Envelope | memoryview

_HEADER_TAG = 0x0A  # field 1 (header), length-delimited
_DATA_TAG = 0x12  # field 2 (data), length-delimited


class FramingError(ValueError):
    """A frame stream does not form one well-formed message."""


class OversizedMessageError(FramingError):
    """A message declares (or sends) more bytes than the node accepts."""


@dataclass(frozen=True)
class Message:
    envelope: pb.Envelope
    body: memoryview


def to_frames(envelope: pb.Envelope, body: memoryview | bytes, chunk_size: int = CHUNK_SIZE) -> Iterator[Frame]:
    """The envelope, then views of the body in ``chunk_size`` pieces (no copy is made here)."""
    yield envelope
    view = memoryview(body).cast("B")
    for start in range(0, len(view), chunk_size):
        yield view[start : start + chunk_size]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_frame(frame: Frame) -> bytes:
    """A frame as the bytes of a protobuf ``Chunk``."""
    if isinstance(frame, pb.Envelope):
        return pb.Chunk(header=frame).SerializeToString()
    return b"".join((bytes((_DATA_TAG,)), _varint(len(frame)), frame))


def decode_frame(raw: bytes) -> Frame:
    """The bytes of a protobuf ``Chunk`` as a frame; data frames are views into ``raw``, not copies."""
    if raw and raw[0] == _DATA_TAG:
        length, offset = 0, 1
        for shift in range(0, 64, 7):
            if offset >= len(raw):
                raise FramingError("data frame ends inside its length")
            byte = raw[offset]
            offset += 1
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
        if offset + length != len(raw):
            raise FramingError(f"data frame declares {length} bytes but carries {len(raw) - offset}")
        return memoryview(raw)[offset:]
    try:
        chunk = pb.Chunk.FromString(raw)
    except Exception as exc:  # protobuf raises its own DecodeError, a bare Exception subclass
        raise FramingError(f"frame is not a Chunk: {exc}") from None
    part = chunk.WhichOneof("part")
    if part == "header":
        return chunk.header
    if part == "data":  # a valid Chunk whose fields came in an unusual encoding
        return memoryview(chunk.data)
    return memoryview(b"")  # an empty Chunk: an empty data frame


def header_of(frames: Iterator[Frame]) -> pb.Envelope:
    """The envelope that must open every message."""
    first = next(frames, None)
    if not isinstance(first, pb.Envelope):
        raise FramingError("message does not start with an envelope")
    return first


def check_size(envelope: pb.Envelope, max_bytes: int) -> None:
    if envelope.payload.size > max_bytes:
        raise OversizedMessageError(f"message of {envelope.payload.size} bytes exceeds the {max_bytes}-byte limit")


def body_frames(frames: Iterable[Frame], size: int) -> Iterator[memoryview]:
    """The data frames after an envelope, checked to add up to exactly ``size`` bytes as they pass."""
    received = 0
    for frame in frames:
        if isinstance(frame, pb.Envelope):
            raise FramingError("a second envelope arrived inside one message")
        received += len(frame)
        if received > size:
            raise OversizedMessageError(f"message body exceeds the {size} bytes its envelope declared")
        yield frame
    if received != size:
        raise FramingError(f"message body ended after {received} of {size} declared bytes")


def assemble(frames: Iterable[Frame], max_bytes: int) -> Message:
    """Read one message: its envelope, then exactly ``payload.size`` body bytes, never more than ``max_bytes``."""
    iterator = iter(frames)
    envelope = header_of(iterator)
    check_size(envelope, max_bytes)
    size = envelope.payload.size
    # Views are kept until the end and copied once, into a buffer numpy allocates: numpy asks the kernel
    # for huge pages, and first-touch page faults on fresh memory cost more than the copy itself (on this
    # kind of VM, 35 ms against 8 ms for 64 MiB). A peer's header alone costs no memory.
    chunks = list(body_frames(iterator, size))
    if len(chunks) == 1:
        return Message(envelope, chunks[0])
    body = np.empty(size, dtype=np.uint8)
    offset = 0
    for chunk in chunks:
        body[offset : offset + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        offset += len(chunk)
    return Message(envelope, body.data)
