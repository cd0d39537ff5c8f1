"""Messages waiting for the task that will read them, keyed by who sent what to whom under which tag.

A message may arrive before its reader asks for it (the sender is faster) or after (the reader waits, with a
timeout). When a job ends, its waiting readers are woken with the reason instead of sleeping until timeout,
and every message of the job still unread is dropped.

Two defences against a hostile sender live here, because only the mailbox sees every message of a job at the
moment it is queued:

* **Quotas on unread messages.** A message waits here, holding its body, until a task reads it. Unread
  messages are bounded per job and per sending party (over all its jobs), in bytes (the declared body size)
  and in count (``MailLimits``). A message over a quota is refused with ``QuotaExceededError`` before its
  body is read; a message counts until its reader takes it, is withdrawn, or its job ends.
* **Replays.** Every message carries its sender's sequence number. Its *stream* is its ``MailKey``: one job,
  component and tag, from one (party, role) to one (party, role). A task numbers all its sends from one
  counter, so on each stream the numbers increase as long as the task sends on a stream from one thread at
  a time (which FIFO order per key requires anyway). A message whose number is not greater than the last one
  accepted on its stream is refused with ``ReplayError``. A message withdrawn before any reader took it (its
  body failed the node's checks) gives its number back, so what the streams remember stays bounded by what
  is queued plus what tasks have read.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, defaultdict, deque
from dataclasses import dataclass
from typing import Generic, TypeVar

from unseen.config.limits import MailLimits

T = TypeVar("T")
K = TypeVar("K")
_CLOSED_JOBS_KEPT = 10_000


@dataclass(frozen=True, order=True, slots=True)  # slots: a job remembers one key per stream it used
class MailKey:
    job_id: str
    component: str
    tag: str
    src_party: int
    src_role: str
    dst_party: int
    dst_role: str

    def describe(self) -> str:
        return (
            f"'{self.tag}' of {self.component} from {self.src_role}:{self.src_party} "
            f"to {self.dst_role}:{self.dst_party} (job {self.job_id})"
        )


@dataclass(frozen=True)
class Usage:
    """Unread messages and their declared body bytes."""

    messages: int = 0
    nbytes: int = 0

    def plus(self, size: int) -> Usage:
        return Usage(self.messages + 1, self.nbytes + size)

    def minus(self, size: int) -> Usage:
        return Usage(self.messages - 1, self.nbytes - size)


class MailboxClosedError(RuntimeError):
    """The job a reader waits on has ended; the message will never come."""


class QuotaExceededError(RuntimeError):
    """Taking this message would hold more unread mail than the node allows."""


class ReplayError(RuntimeError):
    """A message's sequence number is not above the last one accepted on its stream."""


class ReceiveTimeoutError(TimeoutError):
    pass


@dataclass(frozen=True)
class _Entry(Generic[T]):
    item: T
    size: int
    seq: int | None
    previous_seq: int | None  # what the stream remembered before this message, given back if it is withdrawn


def _adjust(table: dict[K, Usage], name: K, size: int, sign: int) -> None:
    usage = table.get(name, Usage())
    usage = usage.plus(size) if sign > 0 else usage.minus(size)
    if usage.messages:
        table[name] = usage
    else:
        table.pop(name, None)


class Mailbox(Generic[T]):
    def __init__(self, limits: MailLimits | None = None) -> None:
        self._limits = limits
        self._queues: dict[MailKey, deque[_Entry[T]]] = defaultdict(deque)
        self._closed: OrderedDict[str, str] = OrderedDict()
        self._job_usage: dict[str, Usage] = {}
        self._party_usage: dict[int, Usage] = {}
        self._last_seq: dict[str, dict[MailKey, int]] = {}  # job -> stream -> last sequence number accepted
        self._cond = threading.Condition()

    def put(self, key: MailKey, item: T, size: int = 0, seq: int | None = None) -> None:
        """Queue ``item`` (a message of ``size`` body bytes, numbered ``seq`` by its sender) for its reader.

        Raises ``MailboxClosedError`` if the job has ended, ``ReplayError`` if ``seq`` does not advance its
        stream, ``QuotaExceededError`` if the job or the sending party already has too much unread mail.
        """
        with self._cond:
            if key.job_id in self._closed:
                raise MailboxClosedError(f"job {key.job_id} has ended: {self._closed[key.job_id]}")
            streams = self._last_seq.get(key.job_id, {})
            previous = streams.get(key)
            if seq is not None and previous is not None and seq <= previous:
                raise ReplayError(
                    f"sequence number {seq} of {key.describe()} is not above {previous}, the last one accepted "
                    "on that stream: a replayed or reordered message"
                )
            self._check_quota(key, size)
            if seq is not None:
                self._last_seq.setdefault(key.job_id, {})[key] = seq
            self._count(key, size, +1)
            self._queues[key].append(_Entry(item, size, seq, previous))
            self._cond.notify_all()

    def _check_quota(self, key: MailKey, size: int) -> None:
        limits = self._limits
        if limits is None:
            return
        job = self._job_usage.get(key.job_id, Usage()).plus(size)
        party = self._party_usage.get(key.src_party, Usage()).plus(size)
        for usage, max_messages, max_bytes, scope in (
            (job, limits.job_messages, limits.job_bytes, f"in job {key.job_id}"),
            (party, limits.party_messages, limits.party_bytes, "over all its jobs"),
        ):
            if usage.messages > max_messages or usage.nbytes > max_bytes:
                raise QuotaExceededError(
                    f"party {key.src_party} would have {usage.messages} unread messages of {usage.nbytes} bytes "
                    f"{scope} here; the limit is {max_messages} messages and {max_bytes} bytes"
                )

    def _count(self, key: MailKey, size: int, sign: int) -> None:
        _adjust(self._job_usage, key.job_id, size, sign)
        _adjust(self._party_usage, key.src_party, size, sign)

    def get(self, key: MailKey, timeout: float) -> T:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                queue = self._queues.get(key)
                if queue:
                    entry = queue.popleft()
                    if not queue:
                        del self._queues[key]
                    self._count(key, entry.size, -1)
                    return entry.item
                if key.job_id in self._closed:
                    raise MailboxClosedError(f"job {key.job_id} has ended: {self._closed[key.job_id]}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ReceiveTimeoutError(f"no message {key.describe()} within {timeout:g} s")
                self._cond.wait(remaining)

    def discard(self, key: MailKey, item: T) -> None:
        """Take back an item no reader has taken yet (a message refused after it was posted).

        Its quota is freed, and its stream forgets its sequence number if no later message moved it on.
        """
        with self._cond:
            queue = self._queues.get(key)
            entry = next((e for e in queue if e.item is item), None) if queue is not None else None
            if queue is None or entry is None:
                return
            queue.remove(entry)
            if not queue:
                del self._queues[key]
            self._count(key, entry.size, -1)
            streams = self._last_seq.get(key.job_id)
            if streams is not None and entry.seq is not None and streams.get(key) == entry.seq:
                if entry.previous_seq is None:
                    del streams[key]
                else:
                    streams[key] = entry.previous_seq

    def close_job(self, job_id: str, reason: str) -> Usage:
        """Drop a job's unread messages and what its streams remember, and wake its readers with ``reason``.

        Returns what was dropped. The items are released here, under the lock, so their memory is free
        (to the allocator) when this returns.
        """
        with self._cond:
            self._closed[job_id] = reason
            while len(self._closed) > _CLOSED_JOBS_KEPT:  # a long-running node must not grow without bound
                self._closed.popitem(last=False)
            dropped = self._job_usage.get(job_id, Usage())
            for key in [k for k in self._queues if k.job_id == job_id]:
                for entry in self._queues.pop(key):
                    self._count(key, entry.size, -1)
            self._last_seq.pop(job_id, None)
            self._cond.notify_all()
            return dropped

    def pending(self, job_id: str) -> int:
        with self._cond:
            return sum(len(q) for k, q in self._queues.items() if k.job_id == job_id)

    def unread(self, job_id: str) -> Usage:
        """The messages of a job no reader has taken yet, and their declared body bytes."""
        with self._cond:
            return self._job_usage.get(job_id, Usage())
