"""AwaitableMailbox: many readers wait on one event loop without a thread each, and wake on put or job end."""

from __future__ import annotations

import asyncio
import threading

import pytest

from unseen.transport.awaiting import AwaitableMailbox
from unseen.transport.mailbox import MailboxClosedError, MailKey, ReceiveTimeoutError


def _key(tag: str, job: str = "j1") -> MailKey:
    return MailKey(job, "c", tag, 9999, "guest", 10000, "host")


def test_hundreds_of_waiting_readers_hold_no_thread_and_each_gets_its_message() -> None:
    box: AwaitableMailbox[str] = AwaitableMailbox()
    readers = 300
    threads_before = threading.active_count()
    seen: list[int] = []

    async def main() -> list[str]:
        waits = [asyncio.ensure_future(box.wait(_key(f"t{i}"), 30)) for i in range(readers)]
        await asyncio.sleep(0.2)
        seen.append(threading.active_count())

        def sender() -> None:  # another thread, as the federation server's are
            for i in reversed(range(readers)):
                box.put(_key(f"t{i}"), f"m{i}")

        threading.Thread(target=sender).start()
        return list(await asyncio.gather(*waits))

    assert asyncio.run(main()) == [f"m{i}" for i in range(readers)]
    assert seen[0] <= threads_before + 1  # the loop itself; no thread per reader


def test_a_message_already_there_is_taken_at_once() -> None:
    box: AwaitableMailbox[str] = AwaitableMailbox()
    box.put(_key("t"), "early")
    assert asyncio.run(box.wait(_key("t"), 0.01)) == "early"


def test_a_reader_times_out() -> None:
    box: AwaitableMailbox[str] = AwaitableMailbox()
    with pytest.raises(ReceiveTimeoutError, match=r"within 0\.2 s"):
        asyncio.run(box.wait(_key("t"), 0.2))


def test_ending_the_job_wakes_its_readers_with_the_reason() -> None:
    box: AwaitableMailbox[str] = AwaitableMailbox()

    async def main() -> None:
        waiting = asyncio.ensure_future(box.wait(_key("t"), 30))
        other = asyncio.ensure_future(box.wait(_key("t", job="j2"), 0.5))
        await asyncio.sleep(0.1)
        threading.Thread(target=box.close_job, args=("j1", "the guest failed")).start()
        with pytest.raises(MailboxClosedError, match="the guest failed"):
            await waiting
        with pytest.raises(ReceiveTimeoutError):
            await other

    asyncio.run(main())
