"""A message on its way into a task: readable while it arrives, usable only once the node accepted it.

The receiving node puts a ``Delivery`` in the mailbox as soon as the envelope passes its checks, and
appends body chunks as they come in; a task already waiting streams them onward at once, so a large
message crosses both nodes and both local hops in parallel rather than one hop after another. The node
checks the whole message at the end (size, decoding) and then completes or fails the delivery: a reader
sees the failure instead of the end of its stream, so a refused message is never used.

A delivery whose body the node will not read again (an array, which its header alone validates, on a
node that keeps no audit) lets go of each chunk once its reader has taken it. Memory then holds only the
chunks between the network and the reader, rather than the whole message, and the allocator hands the
same few freed blocks to the next chunks instead of fresh pages.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from unseen.transport.proto import federation_pb2 as pb


class DeliveryFailedError(RuntimeError):
    """The node refused the message after its reader started reading it."""


_TAKEN = memoryview(b"")  # in place of a chunk the reader took, when the node keeps no body


class Delivery:
    def __init__(self, envelope: pb.Envelope, keep_body: bool = True) -> None:
        self.envelope = envelope
        self.keep_body = keep_body
        self._chunks: list[memoryview] = []
        self._done = False
        self._error: str | None = None
        self._cond = threading.Condition()

    def append(self, chunk: memoryview) -> None:
        with self._cond:
            self._chunks.append(chunk)
            self._cond.notify_all()

    def complete(self) -> None:
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def fail(self, reason: str) -> None:
        with self._cond:
            self._error = reason
            self._done = True
            self._chunks.clear()
            self._cond.notify_all()

    def settled(self) -> bool:
        """Whether the node has accepted or refused the message: reading it then never waits."""
        with self._cond:
            return self._done

    def chunks(self, timeout: float) -> Iterator[memoryview]:
        """Every body chunk, as it arrives; ends when the node accepted the message, raises if it refused it.

        ``timeout`` bounds each wait for the next chunk, so a sender that stalls mid-message cannot hang
        the reader.
        """
        index = 0
        while True:
            with self._cond:
                deadline = time.monotonic() + timeout
                while index >= len(self._chunks) and not self._done:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(f"message '{self.envelope.tag}' stalled: no data for {timeout:g} s")
                    self._cond.wait(remaining)
                if self._error is not None:
                    raise DeliveryFailedError(self._error)
                if index >= len(self._chunks):
                    return
                chunk = self._chunks[index]
                if not self.keep_body:
                    self._chunks[index] = _TAKEN
            index += 1
            yield chunk

    def body(self) -> bytes:
        """The whole body, once complete (the node's own check and audit use it)."""
        if not self.keep_body:
            raise RuntimeError("this delivery was made without keeping its body")
        with self._cond:
            return b"".join(self._chunks)
