"""A mailbox a reader can await on an event loop, so that a task waiting for a message holds no thread.

The task channel is served by ``grpc.aio``: a task's ``Recv`` may wait up to ``recv_timeout_s`` (600 s by
default), and with one pool thread per waiting call, 64 tasks waiting at once took every thread and the
65th call, a send included, queued behind them. Here a waiting reader is a future on the event loop; every
``put`` and ``close_job`` (from any thread) wakes the readers of what changed, and the reader takes the item
with the mailbox's own non-blocking ``get``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import defaultdict
from typing import TypeVar

from unseen.config.limits import MailLimits
from unseen.transport.mailbox import Mailbox, MailKey, ReceiveTimeoutError, Usage

T = TypeVar("T")
_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _wake_all(waiters: list[_Waiter]) -> None:
    for loop, future in waiters:
        with contextlib.suppress(RuntimeError):  # the loop has closed: the node is stopping, no one waits
            loop.call_soon_threadsafe(_wake, future)


class AwaitableMailbox(Mailbox[T]):
    def __init__(self, limits: MailLimits | None = None) -> None:
        super().__init__(limits)
        self._waiters: dict[MailKey, set[_Waiter]] = defaultdict(set)
        self._waiters_lock = threading.Lock()

    def put(self, key: MailKey, item: T, size: int = 0, seq: int | None = None) -> None:
        super().put(key, item, size, seq)
        with self._waiters_lock:
            waiters = list(self._waiters.get(key, ()))
        _wake_all(waiters)

    def close_job(self, job_id: str, reason: str) -> Usage:
        dropped = super().close_job(job_id, reason)
        with self._waiters_lock:
            waiters = [w for key, ws in self._waiters.items() if key.job_id == job_id for w in ws]
        _wake_all(waiters)
        return dropped

    async def wait(self, key: MailKey, timeout: float) -> T:
        """The next item under ``key``, awaiting it up to ``timeout`` seconds; raises as ``get`` does."""
        deadline = time.monotonic() + timeout
        loop = asyncio.get_running_loop()
        while True:
            waiter: _Waiter = (loop, loop.create_future())
            with self._waiters_lock:  # registered before looking, so a put in between is not missed
                self._waiters[key].add(waiter)
            try:
                try:
                    return self.get(key, 0)
                except ReceiveTimeoutError:
                    pass  # nothing yet
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ReceiveTimeoutError(f"no message {key.describe()} within {timeout:g} s")
                with contextlib.suppress(TimeoutError):  # then one last look, and the timeout above
                    await asyncio.wait_for(waiter[1], remaining)
            finally:
                with self._waiters_lock:
                    waiting = self._waiters.get(key)
                    if waiting is not None:
                        waiting.discard(waiter)
                        if not waiting:
                            del self._waiters[key]
