"""The REST listener's own defences: a cap on open connections and deadlines for slow headers and bodies.

uvicorn bounds none of these: a connection that sends half a request line and then nothing stays open for
ever, so a local client holding a few thousand of them runs the node out of file descriptors (health checks
time out, tasks cannot open their logs). Its ``limit_concurrency`` does not help, since it only answers 503
once a request's headers are complete, and it counts the attacker's half-sent connections too.

This module swaps in a subclass of uvicorn's h11 protocol that

- closes a connection whose request headers are not complete within ``header_timeout_s`` (answering 408
  if it had sent part of a request; one that sent nothing, such as a browser's preconnect, just closes);
- closes one whose request body stops arriving for ``body_timeout_s`` (unless the node itself paused
  reading because the application is busy with what it already has);
- keeps at most ``max_connections`` open: a new connection past the cap evicts the oldest one that is
  waiting for a request (idle keep-alive, or headers still incomplete), and is refused only when every
  open connection is in the middle of a request. A client that sends its request at once, like a health
  check or the CLI, is therefore never starved by connections that send nothing;
- logs what it closed as one summary line per minute at most, never one line (or traceback) per connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

REPORT_EVERY_S = 60.0
_TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


@dataclass(frozen=True)
class HttpLimits:
    max_connections: int
    header_timeout_s: float
    body_timeout_s: float


class ConnectionGuard:
    """What every connection of one listener shares: the cap, who may be evicted first, and the counts."""

    def __init__(self, limits: HttpLimits, clock: Any = time.monotonic) -> None:
        self.limits = limits
        self.live: set[GuardedH11Protocol] = set()
        self.waiting: OrderedDict[GuardedH11Protocol, None] = OrderedDict()  # oldest first
        self.closed: Counter[str] = Counter()
        self._clock = clock
        self._reported_at = clock()

    def admit(self, connection: GuardedH11Protocol) -> bool:
        """Whether a new connection may stay; past the cap, the oldest waiting connection makes room."""
        self.live.add(connection)
        if len(self.live) <= self.limits.max_connections:
            return True
        for oldest in self.waiting:
            if oldest is not connection:
                self.closed["evicted at the connection cap"] += 1
                oldest.drop()
                return True
        self.closed["refused at the connection cap"] += 1
        return False

    def forget(self, connection: GuardedH11Protocol) -> None:
        self.live.discard(connection)
        self.waiting.pop(connection, None)

    def note(self, reason: str) -> None:
        self.closed[reason] += 1
        self.report()

    def report(self) -> None:
        """One line per ``REPORT_EVERY_S`` at most, whatever the number of connections closed."""
        now = self._clock()
        if not self.closed or now - self._reported_at < REPORT_EVERY_S:
            return
        summary = ", ".join(f"{count} {reason}" for reason, count in sorted(self.closed.items()))
        log.warning(
            "REST: closed connections in the last %.0f s: %s (cap %d, header timeout %.0f s, body timeout %.0f s)",
            now - self._reported_at,
            summary,
            self.limits.max_connections,
            self.limits.header_timeout_s,
            self.limits.body_timeout_s,
        )
        self.closed.clear()
        self._reported_at = now


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the guard's deadlines and cap (see the module's docstring)."""

    guard: ClassVar[ConnectionGuard]
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        if not self.guard.admit(self):
            self.guard.forget(self)
            self.guard.report()
            self.transport.abort()
            return
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._wait_for_request(deadline=False)  # an idle keep-alive connection: uvicorn times it out

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        self.guard.forget(self)
        super().connection_lost(exc)

    def drop(self) -> None:
        """Close at once: evicted to make room for a newer connection."""
        self._cancel()
        self.guard.forget(self)
        self.transport.abort()

    # --- deadlines ----------------------------------------------------------------------------------------
    def _watch(self) -> None:
        """Arm the deadline that fits where the client is in its request."""
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            self._wait_for_request(deadline=True)  # one deadline for all the headers, not reset per byte
        elif state is h11.SEND_BODY:
            self.guard.waiting.pop(self, None)
            self._arm(self.guard.limits.body_timeout_s, self._body_timed_out)  # reset by each chunk
        else:
            self.guard.waiting.pop(self, None)
            self._cancel()

    def _wait_for_request(self, deadline: bool) -> None:
        """No request in progress: the connection may be evicted, oldest first."""
        self.guard.waiting.setdefault(self, None)
        if deadline and self._deadline is None:
            self._arm(self.guard.limits.header_timeout_s, self._headers_timed_out)

    def _arm(self, seconds: float, handler: Any) -> None:
        self._cancel()
        self._deadline = self.loop.call_later(seconds, handler)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        self.guard.note("request headers not complete in time")
        started = bool(self.conn.trailing_data[0])  # bytes of a request h11 holds but could not parse yet
        if started and (self.cycle is None or self.cycle.response_complete):
            self.transport.write(_TIMEOUT_ANSWER)  # a connection that sent nothing is closed silently
        self.transport.close()

    def _body_timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
            return
        if self.flow.read_paused:  # the node stopped reading, not the client: wait for the application
            self._arm(self.guard.limits.body_timeout_s, self._body_timed_out)
            return
        self.guard.note("request body stalled")
        self.transport.close()


class RepeatedErrorFilter(logging.Filter):
    """Lets one record with a given message through per ``every_s``, with the count of those it dropped.

    asyncio logs ``socket.accept() out of system resource`` with a traceback each time accepting fails for
    lack of descriptors: hundreds of thousands of lines a minute under a connection flood (250 MB measured).
    """

    def __init__(self, message: str, every_s: float = REPORT_EVERY_S, clock: Any = time.monotonic) -> None:
        super().__init__()
        self._message = message
        self._every_s = every_s
        self._clock = clock
        self._last = -every_s
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(self._message):
            return True
        now = self._clock()
        if now - self._last < self._every_s:
            self._dropped += 1
            return False
        record.msg = f"{record.msg} ({self._dropped} more like it in the last {now - self._last:.0f} s)"
        record.exc_info = None  # the reason is in the message; one traceback a minute says nothing more
        record.exc_text = None
        self._last, self._dropped = now, 0
        return True


def quiet_accept_errors() -> None:
    """Install the filter on asyncio's logger once (a node runs one event loop)."""
    logger = logging.getLogger("asyncio")
    if not any(isinstance(f, RepeatedErrorFilter) for f in logger.filters):
        logger.addFilter(RepeatedErrorFilter("socket.accept() out of system resource"))


def guarded_protocol(limits: HttpLimits) -> type[GuardedH11Protocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` whose connections share one guard."""
    return type("NodeH11Protocol", (GuardedH11Protocol,), {"guard": ConnectionGuard(limits)})
