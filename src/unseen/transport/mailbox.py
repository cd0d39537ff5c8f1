"""Messages waiting for the task that will read them, keyed by who sent what to whom under which tag.

A message may arrive before its reader asks for it (the sender is faster) or after (the reader waits, with a
timeout). When a job ends, its waiting readers are woken with the reason instead of sleeping until timeout.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, defaultdict, deque
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
_CLOSED_JOBS_KEPT = 10_000


@dataclass(frozen=True, order=True)
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


class MailboxClosedError(RuntimeError):
    """The job a reader waits on has ended; the message will never come."""


class ReceiveTimeoutError(TimeoutError):
    pass


class Mailbox(Generic[T]):
    def __init__(self) -> None:
        self._queues: dict[MailKey, deque[T]] = defaultdict(deque)
        self._closed: OrderedDict[str, str] = OrderedDict()
        self._cond = threading.Condition()

    def put(self, key: MailKey, item: T) -> None:
        with self._cond:
            if key.job_id in self._closed:
                raise MailboxClosedError(f"job {key.job_id} has ended: {self._closed[key.job_id]}")
            self._queues[key].append(item)
            self._cond.notify_all()

    def get(self, key: MailKey, timeout: float) -> T:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                queue = self._queues.get(key)
                if queue:
                    item = queue.popleft()
                    if not queue:
                        del self._queues[key]
                    return item
                if key.job_id in self._closed:
                    raise MailboxClosedError(f"job {key.job_id} has ended: {self._closed[key.job_id]}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ReceiveTimeoutError(f"no message {key.describe()} within {timeout:g} s")
                self._cond.wait(remaining)

    def discard(self, key: MailKey, item: T) -> None:
        """Take back an item no reader has taken yet (a message refused after it was posted)."""
        with self._cond:
            queue = self._queues.get(key)
            if queue is not None and item in queue:
                queue.remove(item)
                if not queue:
                    del self._queues[key]

    def close_job(self, job_id: str, reason: str) -> None:
        """Drop a job's undelivered messages and wake its readers with ``reason``."""
        with self._cond:
            self._closed[job_id] = reason
            while len(self._closed) > _CLOSED_JOBS_KEPT:  # a long-running node must not grow without bound
                self._closed.popitem(last=False)
            for key in [k for k in self._queues if k.job_id == job_id]:
                del self._queues[key]
            self._cond.notify_all()

    def pending(self, job_id: str) -> int:
        with self._cond:
            return sum(len(q) for k, q in self._queues.items() if k.job_id == job_id)
