"""What one partner may hold on a node's federation port: a few calls at once, each only while it makes progress.

grpcio's synchronous server gives every call a thread from one pool for as long as its handler runs, and a
handler waiting for a partner's next message holds that thread. Without bounds, a partner with a valid
certificate opening 64 streams that never send a frame took every thread, and honest calls from everyone
else timed out. The gate bounds each partner:

* **calls at once**: at most ``max_calls_per_peer`` calls of one party are served together; one more is
  refused at its start, before it holds anything, with RESOURCE_EXHAUSTED and a log line naming the party.
  (The server also caps the streams of one connection at the same number, so an honest node that opens more
  calls at once sees them queue on its side instead of being refused.)
* **time to first message**: a call must deliver its first message (a Push's envelope, a unary request)
  within ``first_frame_s``;
* **silence between frames**: a Push must deliver each next frame within ``idle_s``;
* **whole call**: a call must end within ``max_call_s``.

A call that misses a deadline is ended by the node with DEADLINE_EXCEEDED and a reason, which releases the
handler blocked in ``next(requests)``. One watchdog thread serves every call. Every peer method, unary ones
included, is served as a client stream on this side (the wire is the same): grpcio reads a unary request
inside the pool thread before any handler runs, so a unary call whose message never comes would hold a thread
out of the gate's reach.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NoReturn, TypeVar

import grpc

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
_TICK_S = 0.25  # how often the watchdog looks; a call is ended at most this late
_REFUSAL_LOG_EVERY_S = 10.0


@dataclass(frozen=True)
class GateLimits:
    max_calls_per_peer: int
    first_frame_s: float
    idle_s: float
    max_call_s: float


def _end_call(context: grpc.ServicerContext, details: str) -> None:
    """End a call from outside its handler with DEADLINE_EXCEEDED and ``details``.

    grpcio's public ``ServicerContext.cancel`` ends it as CANCELLED with no reason, which a sender cannot tell
    from its own cancellation; the call object beneath takes a status and details. Fall back to ``cancel``
    if that object ever moves.
    """
    call = getattr(getattr(context, "_rpc_event", None), "call", None)
    try:
        from grpc._cython import cygrpc

        call.cancel(cygrpc.StatusCode.deadline_exceeded, details)  # type: ignore[union-attr]
    except Exception:  # grpcio's internals changed: the public, reason-less cancel
        context.cancel()


class _Watched:
    """One call under watch: the deadline of its next message, and of the whole call."""

    def __init__(self, context: grpc.ServicerContext, party: int, method: str, max_call_s: float) -> None:
        self.context = context
        self.party = party
        self.method = method
        self.end_by = time.monotonic() + max_call_s
        self.next_by: float | None = None
        self.waiting_for = ""
        self.ended = False
        self.lock = threading.Lock()

    def expect(self, within: float, what: str) -> None:
        with self.lock:
            self.next_by = time.monotonic() + within
            self.waiting_for = what

    def arrived(self) -> None:
        with self.lock:
            self.next_by = None

    def overdue(self, now: float) -> str | None:
        with self.lock:
            if self.ended:
                return None
            if now > self.end_by:
                self.ended = True
                return "the call ran past its time limit"
            if self.next_by is not None and now > self.next_by:
                self.ended = True
                return f"no {self.waiting_for}"
            return None


class Watchdog:
    """One thread that ends calls whose next message (or whose end) is overdue."""

    def __init__(self) -> None:
        self._calls: set[_Watched] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, watched: _Watched) -> None:
        with self._lock:
            self._calls.add(watched)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="peer-watchdog", daemon=True)
                self._thread.start()

    def remove(self, watched: _Watched) -> None:
        with self._lock:
            self._calls.discard(watched)

    def _run(self) -> None:
        while True:
            time.sleep(_TICK_S)
            now = time.monotonic()
            with self._lock:
                calls = list(self._calls)
            for watched in calls:
                reason = watched.overdue(now)
                if reason is not None:
                    log.warning("ended a %s call from party %d: %s", watched.method, watched.party, reason)
                    _end_call(watched.context, f"{reason}; ended by the receiving node")


class PeerGate:
    """Admission and deadlines for every call a partner makes on the federation port."""

    def __init__(self, limits: GateLimits, identify: Callable[[grpc.ServicerContext], int]) -> None:
        self.limits = limits
        self._identify = identify
        self._held: dict[int, int] = {}
        self._refused: dict[int, tuple[float, int]] = {}  # party -> (last logged, refused since)
        self._lock = threading.Lock()
        self._watchdog = Watchdog()

    def held(self, party: int) -> int:
        with self._lock:
            return self._held.get(party, 0)

    @contextlib.contextmanager
    def _admitted(self, party: int, method: str, context: grpc.ServicerContext) -> Iterator[_Watched]:
        cap = self.limits.max_calls_per_peer
        with self._lock:
            if self._held.get(party, 0) >= cap:
                self._log_refusal(party, method)
                refused = True
            else:
                self._held[party] = self._held.get(party, 0) + 1
                refused = False
        if refused:
            _abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED, f"party {party} already holds {cap} calls here")
        watched = _Watched(context, party, method, self.limits.max_call_s)
        self._watchdog.add(watched)
        try:
            yield watched
        finally:
            self._watchdog.remove(watched)
            with self._lock:
                self._held[party] -= 1
                if not self._held[party]:
                    del self._held[party]

    def _log_refusal(self, party: int, method: str) -> None:
        """One line per refusal, but at most one every few seconds per party: a flood must not flood the log."""
        now = time.monotonic()
        last, since = self._refused.get(party, (0.0, 0))
        if now - last < _REFUSAL_LOG_EVERY_S:
            self._refused[party] = (last, since + 1)
            return
        more = f" ({since} more refused since the last such line)" if since else ""
        log.warning(
            "refused a %s call from party %d: it already holds %d calls here%s",
            method,
            party,
            self.limits.max_calls_per_peer,
            more,
        )
        self._refused[party] = (now, 0)

    def _messages(self, requests: Iterator[T], watched: _Watched) -> Iterator[T]:
        first = True
        while True:
            if first:
                watched.expect(self.limits.first_frame_s, f"first message within {self.limits.first_frame_s:g} s")
            else:
                watched.expect(self.limits.idle_s, f"next frame within {self.limits.idle_s:g} s")
            try:
                message = next(requests)
            except StopIteration:
                watched.arrived()
                return
            watched.arrived()
            first = False
            yield message

    def stream(
        self, method: str, behaviour: Callable[[Iterator[T], grpc.ServicerContext], R]
    ) -> Callable[[Iterator[T], grpc.ServicerContext], R]:
        """A client-streaming handler, admitted and watched frame by frame."""

        def handle(requests: Iterator[T], context: grpc.ServicerContext) -> R:
            party = self._identify(context)
            with self._admitted(party, method, context) as watched:
                return behaviour(self._messages(requests, watched), context)

        return handle

    def unary(
        self, method: str, behaviour: Callable[[T, grpc.ServicerContext], R]
    ) -> Callable[[Iterator[T], grpc.ServicerContext], R]:
        """A unary handler served as a client stream, so that waiting for its request is watched too."""

        def handle(requests: Iterator[T], context: grpc.ServicerContext) -> R:
            party = self._identify(context)
            with self._admitted(party, method, context) as watched:
                request = next(self._messages(requests, watched), None)
                if request is None:
                    _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"{method} needs exactly one request message")
                return behaviour(request, context)

        return handle


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, details: str) -> NoReturn:
    context.abort(code, details)
    raise AssertionError("context.abort returns only by raising")
