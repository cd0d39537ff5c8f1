"""Batches prepared ahead of the training step: a background thread fills a bounded queue.

The producer (decoding, augmentation, normalisation: numpy, which releases the GIL for most of it) runs while the
model trains on the previous batch. The queue bounds memory to ``depth`` batches; an error in the producer is
raised in the consumer at the batch where it happened; closing the iterator (or leaving a ``with`` block, or a
``for`` loop breaking out and dropping it) stops the thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_POLL_SECONDS = 0.1


class _End:
    pass


def _put(slots: queue.Queue[Any], stop: threading.Event, item: object) -> bool:
    while not stop.is_set():
        try:
            slots.put(item, timeout=_POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False


def _fill(make: Callable[[], Iterable[object]], slots: queue.Queue[Any], stop: threading.Event) -> None:
    """The producer thread. It holds the queue and the event, not the Prefetcher, so dropping the Prefetcher
    (a training loop that breaks out of an epoch) collects it, and ``__del__`` stops this thread."""
    try:
        for item in make():
            if not _put(slots, stop, item):
                return
    except BaseException as exc:  # handed to the consumer, which raises it
        _put(slots, stop, exc)
        return
    _put(slots, stop, _End())


class Prefetcher(Generic[T]):
    def __init__(self, make: Callable[[], Iterable[T]], depth: int = 2) -> None:
        if depth < 1:
            raise ValueError("prefetch depth must be at least 1")
        self._queue: queue.Queue[T | _End | BaseException] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=_fill, args=(make, self._queue, self._stop), name="unseen-prefetch", daemon=True
        )
        self._thread.start()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if isinstance(item, _End):
            self._done = True
            raise StopIteration
        if isinstance(item, BaseException):
            self._done = True
            raise item
        return item

    def close(self) -> None:
        self._done = True
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        self._stop.set()
