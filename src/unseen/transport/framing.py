"""Messages as streams of chunks: an envelope first, then the body in bounded pieces.

Large payloads (a 64 MiB gradient) are never one gRPC message: they are cut into chunks so memory on each
hop stays bounded and gRPC's per-message limit never bites. The assembler enforces the size the envelope
declared, so an oversized message is refused at its header, before its body is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from unseen.transport.proto import federation_pb2 as pb

CHUNK_SIZE = 2 * 1024 * 1024
# gRPC's own limit for one chunk on the wire: a full data chunk plus room for the envelope.
GRPC_MESSAGE_LIMIT = CHUNK_SIZE + 64 * 1024


class FramingError(ValueError):
    """A chunk stream does not form one well-formed message."""


class OversizedMessageError(FramingError):
    """A message declares (or sends) more bytes than the node accepts."""


@dataclass(frozen=True)
class Message:
    envelope: pb.Envelope
    body: bytes


def to_chunks(envelope: pb.Envelope, body: memoryview | bytes, chunk_size: int = CHUNK_SIZE) -> Iterator[pb.Chunk]:
    yield pb.Chunk(header=envelope)
    view = memoryview(body)
    for start in range(0, len(view), chunk_size):
        yield pb.Chunk(data=bytes(view[start : start + chunk_size]))


def assemble(chunks: Iterable[pb.Chunk], max_bytes: int) -> Message:
    """Read one message: its envelope, then exactly ``payload.size`` body bytes, never more than ``max_bytes``."""
    iterator = iter(chunks)
    first = next(iterator, None)
    if first is None or first.WhichOneof("part") != "header":
        raise FramingError("message does not start with an envelope")
    envelope = first.header
    size = envelope.payload.size
    if size > max_bytes:
        raise OversizedMessageError(f"message of {size} bytes exceeds the {max_bytes}-byte limit")
    # Grown as bytes arrive, not allocated from the declared size: a peer's header alone costs no memory.
    body = bytearray()
    for chunk in iterator:
        if chunk.WhichOneof("part") != "data":
            raise FramingError("a second envelope arrived inside one message")
        if len(body) + len(chunk.data) > size:
            raise OversizedMessageError(f"message body exceeds the {size} bytes its envelope declared")
        body += chunk.data
    if len(body) != size:
        raise FramingError(f"message body ended after {len(body)} of {size} declared bytes")
    return Message(envelope, bytes(body))
