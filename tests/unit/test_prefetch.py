"""The background batch producer: order kept, memory bounded, errors raised where they happened, stoppable."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from unseen.datasets.prefetch import Prefetcher


def test_items_arrive_in_order() -> None:
    assert list(Prefetcher(lambda: range(10), depth=3)) == list(range(10))


def test_the_producer_runs_at_most_depth_ahead_and_stops_on_close() -> None:
    made: list[int] = []
    gate = threading.Event()

    def produce() -> Iterator[int]:
        for i in range(1000):
            made.append(i)
            if i == 3:
                gate.set()
            yield i

    prefetcher = Prefetcher(produce, depth=2)
    assert next(prefetcher) == 0
    assert gate.wait(10)
    prefetcher.close()
    # 0 taken, 1 and 2 fill the queue, 3 waits to be put: the producer made no more, and stopped when closed
    assert made == [0, 1, 2, 3]
    with pytest.raises(StopIteration):
        next(prefetcher)


def test_a_producer_error_is_raised_at_its_batch() -> None:
    def produce() -> Iterator[int]:
        yield 1
        raise ValueError("line 7 is bad")

    prefetcher = Prefetcher(produce)
    assert next(prefetcher) == 1
    with pytest.raises(ValueError, match="line 7 is bad"):
        next(prefetcher)


def test_a_dropped_prefetcher_stops_its_thread() -> None:
    prefetcher = Prefetcher(lambda: iter(range(10**9)), depth=2)
    assert next(prefetcher) == 0
    thread = prefetcher._thread
    del prefetcher  # a training loop that breaks out of its epoch and forgets the iterator
    thread.join(timeout=30)
    assert not thread.is_alive()
