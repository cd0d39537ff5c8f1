"""A message on its way into a task: readable while it arrives, usable only once the node accepted it.

The receiving node puts a ``Delivery`` in the mailbox as soon as the envelope passes its checks, and
appends body chunks as they come in; a task already waiting streams them onward at once, so a large
message crosses both nodes and both local hops in parallel rather than one hop after another. The node
checks the whole message at the end (size, decoding) and then completes or fails the delivery: a reader
sees the failure instead of the end of its stream, so a refused message is never used.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from unseen.transport.proto import federation_pb2 as pb


class DeliveryFailedError(RuntimeError):
    """The node refused the message after its reader started reading it."""


class Delivery:
    def __init__(self, envelope: pb.Envelope) -> None:
        self.envelope = envelope
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
            index += 1
            yield chunk

    def body(self) -> bytes:
        """The whole body, once complete (the node's own check and audit use it)."""
        with self._cond:
            return b"".join(self._chunks)
