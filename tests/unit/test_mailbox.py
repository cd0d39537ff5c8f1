"""Tests for unseen.transport.mailbox: messages wait for their reader, readers wait (bounded) for messages."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from unseen.config.limits import MailLimits
from unseen.transport.mailbox import (
    Mailbox,
    MailboxClosedError,
    MailKey,
    QuotaExceededError,
    ReceiveTimeoutError,
    ReplayError,
    Usage,
)


def key(job: str = "job-1", tag: str = "grad", src: int = 9999, dst: int = 10000, **changes: Any) -> MailKey:
    fields: dict[str, Any] = {
        "job_id": job,
        "component": "lr_0",
        "tag": tag,
        "src_party": src,
        "src_role": "guest",
        "dst_party": dst,
        "dst_role": "host",
    }
    fields.update(changes)
    return MailKey(**fields)


class Reader(threading.Thread):
    """Calls ``get`` in a thread and keeps what it returned or raised, and when."""

    def __init__(self, call: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self._call = call
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished_at: float | None = None

    def run(self) -> None:
        try:
            self.result = self._call()
        except BaseException as exc:
            self.error = exc
        finally:
            self.finished_at = time.monotonic()


def wait_until_waiting(reader: Reader) -> None:
    """Give the reader time to block in ``get``; it must not have finished yet."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not reader.is_alive():
        time.sleep(0.001)
    time.sleep(0.05)
    assert reader.is_alive(), "the reader returned before anything was put"


def test_messages_of_one_key_come_out_in_the_order_they_were_put() -> None:
    mailbox: Mailbox[int] = Mailbox()
    for value in range(5):
        mailbox.put(key(), value)
    assert [mailbox.get(key(), timeout=1) for _ in range(5)] == [0, 1, 2, 3, 4]


def test_interleaved_keys_keep_their_own_order() -> None:
    mailbox: Mailbox[str] = Mailbox()
    a, b = key(tag="a"), key(tag="b")
    for i in range(3):
        mailbox.put(a, f"a{i}")
        mailbox.put(b, f"b{i}")
    assert [mailbox.get(b, 1) for _ in range(3)] == ["b0", "b1", "b2"]
    assert [mailbox.get(a, 1) for _ in range(3)] == ["a0", "a1", "a2"]


@pytest.mark.parametrize(
    "other",
    [
        key(tag="other"),
        key(src=1),
        key(dst=1),
        key(src_role="host"),
        key(dst_role="guest"),
        key(component="psi_0"),
        key(job="job-2"),
    ],
    ids=["tag", "src_party", "dst_party", "src_role", "dst_role", "component", "job"],
)
def test_a_message_is_only_delivered_to_its_exact_key(other: MailKey) -> None:
    mailbox: Mailbox[str] = Mailbox()
    mailbox.put(key(), "mine")
    with pytest.raises(ReceiveTimeoutError):
        mailbox.get(other, timeout=0)
    assert mailbox.get(key(), timeout=0) == "mine"


def test_message_put_before_the_reader_asks_is_kept() -> None:
    mailbox: Mailbox[bytes] = Mailbox()
    writer = threading.Thread(target=mailbox.put, args=(key(), b"early"))
    writer.start()
    writer.join()
    assert mailbox.pending("job-1") == 1
    reader = Reader(lambda: mailbox.get(key(), timeout=2))
    reader.start()
    reader.join(timeout=3)
    assert reader.error is None
    assert reader.result == b"early"
    assert mailbox.pending("job-1") == 0


def test_reader_waiting_before_the_message_gets_it_when_it_arrives() -> None:
    mailbox: Mailbox[bytes] = Mailbox()
    reader = Reader(lambda: mailbox.get(key(), timeout=5))
    reader.start()
    wait_until_waiting(reader)
    put_at = time.monotonic()
    mailbox.put(key(), b"late")
    reader.join(timeout=3)
    assert reader.error is None
    assert reader.result == b"late"
    assert reader.finished_at is not None
    assert reader.finished_at - put_at < 2


def test_several_waiting_readers_of_different_keys_each_get_their_own_message() -> None:
    mailbox: Mailbox[str] = Mailbox()
    readers = {tag: Reader(functools.partial(mailbox.get, key(tag=tag), timeout=5)) for tag in ("a", "b", "c")}
    for reader in readers.values():
        reader.start()
    for tag in ("c", "a", "b"):
        mailbox.put(key(tag=tag), f"for-{tag}")
    for tag, reader in readers.items():
        reader.join(timeout=3)
        assert reader.error is None
        assert reader.result == f"for-{tag}"


def test_get_without_a_message_times_out_within_bounds() -> None:
    mailbox: Mailbox[int] = Mailbox()
    started = time.monotonic()
    with pytest.raises(ReceiveTimeoutError) as raised:
        mailbox.get(key(), timeout=0.2)
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 2
    message = str(raised.value)
    assert "'grad'" in message
    assert "guest:9999" in message
    assert "host:10000" in message
    assert "job-1" in message


def test_receive_timeout_is_a_timeout_error() -> None:
    assert issubclass(ReceiveTimeoutError, TimeoutError)


def test_zero_timeout_returns_a_waiting_message_immediately() -> None:
    mailbox: Mailbox[int] = Mailbox()
    mailbox.put(key(), 42)
    assert mailbox.get(key(), timeout=0) == 42


def test_close_job_wakes_a_waiting_reader_quickly_with_the_reason() -> None:
    mailbox: Mailbox[int] = Mailbox()
    reader = Reader(lambda: mailbox.get(key(), timeout=30))
    reader.start()
    wait_until_waiting(reader)
    closed_at = time.monotonic()
    mailbox.close_job("job-1", "host:10000 failed: boom")
    reader.join(timeout=3)
    assert not reader.is_alive()
    assert isinstance(reader.error, MailboxClosedError)
    assert "boom" in str(reader.error)
    assert reader.finished_at is not None
    assert reader.finished_at - closed_at < 2


def test_closed_job_refuses_later_puts_and_gets() -> None:
    mailbox: Mailbox[int] = Mailbox()
    mailbox.close_job("job-1", "canceled by user")
    with pytest.raises(MailboxClosedError, match="canceled by user"):
        mailbox.put(key(), 1)
    with pytest.raises(MailboxClosedError, match="canceled by user"):
        mailbox.get(key(), timeout=5)


def test_close_job_drops_that_jobs_undelivered_messages_only() -> None:
    mailbox: Mailbox[int] = Mailbox()
    mailbox.put(key(job="job-1"), 1)
    mailbox.put(key(job="job-1", tag="x"), 2)
    mailbox.put(key(job="job-2"), 3)
    mailbox.close_job("job-1", "done")
    assert mailbox.pending("job-1") == 0
    assert mailbox.pending("job-2") == 1
    with pytest.raises(MailboxClosedError):
        mailbox.get(key(job="job-1"), timeout=0)
    assert mailbox.get(key(job="job-2"), timeout=0) == 3


def test_closing_one_job_does_not_disturb_a_reader_of_another() -> None:
    mailbox: Mailbox[int] = Mailbox()
    reader = Reader(lambda: mailbox.get(key(job="job-2"), timeout=5))
    reader.start()
    wait_until_waiting(reader)
    mailbox.close_job("job-1", "done")
    time.sleep(0.05)
    assert reader.is_alive()
    mailbox.put(key(job="job-2"), 7)
    reader.join(timeout=3)
    assert reader.error is None
    assert reader.result == 7


def test_same_key_fields_in_different_jobs_are_independent() -> None:
    mailbox: Mailbox[str] = Mailbox()
    mailbox.put(key(job="job-1"), "one")
    mailbox.put(key(job="job-2"), "two")
    assert mailbox.pending("job-1") == 1
    assert mailbox.pending("job-2") == 1
    assert mailbox.get(key(job="job-2"), timeout=0) == "two"
    assert mailbox.get(key(job="job-1"), timeout=0) == "one"


def test_pending_counts_every_queued_message_of_a_job() -> None:
    mailbox: Mailbox[int] = Mailbox()
    assert mailbox.pending("job-1") == 0
    for i in range(3):
        mailbox.put(key(tag="a"), i)
    mailbox.put(key(tag="b"), 9)
    assert mailbox.pending("job-1") == 4
    mailbox.get(key(tag="a"), timeout=0)
    assert mailbox.pending("job-1") == 3


def test_many_concurrent_writers_lose_no_message() -> None:
    mailbox: Mailbox[int] = Mailbox()

    def write_all(src: int) -> None:
        for i in range(200):
            mailbox.put(key(src=src), i)

    writers = [threading.Thread(target=write_all, args=(s,)) for s in range(8)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    for s in range(8):
        assert [mailbox.get(key(src=s), timeout=0) for _ in range(200)] == list(range(200))
    assert mailbox.pending("job-1") == 0


# --- quotas on unread messages ------------------------------------------------------------------------------
LIMITS = MailLimits(job_bytes=100, job_messages=3, party_bytes=150, party_messages=5)


def test_a_message_over_the_jobs_byte_quota_is_refused_and_names_the_party() -> None:
    mailbox: Mailbox[str] = Mailbox(LIMITS)
    mailbox.put(key(tag="a"), "a", size=60)
    with pytest.raises(QuotaExceededError, match=r"party 9999 would have 2 unread messages of 101 bytes in job job-1"):
        mailbox.put(key(tag="b"), "b", size=41)
    mailbox.put(key(tag="b"), "b", size=40)  # exactly at the limit
    assert mailbox.unread("job-1") == Usage(messages=2, nbytes=100)


def test_a_message_over_the_jobs_count_quota_is_refused() -> None:
    mailbox: Mailbox[int] = Mailbox(LIMITS)
    for i in range(3):
        mailbox.put(key(tag=f"t{i}"), i, size=0)
    with pytest.raises(QuotaExceededError, match="4 unread messages"):
        mailbox.put(key(tag="t3"), 3, size=0)


def test_the_party_quota_holds_over_all_its_jobs_and_other_parties_are_not_charged() -> None:
    mailbox: Mailbox[int] = Mailbox(LIMITS)
    mailbox.put(key(job="job-1"), 1, size=80)
    with pytest.raises(QuotaExceededError, match="over all its jobs"):
        mailbox.put(key(job="job-2"), 2, size=80)
    mailbox.put(key(job="job-3", src=10001), 3, size=80)  # another sender has its own quota


def test_reading_withdrawing_and_ending_the_job_each_free_the_quota() -> None:
    mailbox: Mailbox[str] = Mailbox(LIMITS)
    mailbox.put(key(tag="a"), "a", size=100)
    assert mailbox.get(key(tag="a"), timeout=0) == "a"
    assert mailbox.unread("job-1") == Usage()
    mailbox.put(key(tag="b"), "b", size=100)
    mailbox.discard(key(tag="b"), "b")
    assert mailbox.unread("job-1") == Usage()
    mailbox.put(key(tag="c"), "c", size=100)
    mailbox.close_job("job-1", "done")
    assert mailbox.unread("job-1") == Usage()
    mailbox.put(key(job="job-2"), "d", size=100)  # the party's quota (150) was freed with the job


def test_a_mailbox_without_limits_takes_any_amount() -> None:
    mailbox: Mailbox[int] = Mailbox()
    for i in range(50):
        mailbox.put(key(tag=str(i)), i, size=1 << 40)
    assert mailbox.unread("job-1").messages == 50


# --- replays ------------------------------------------------------------------------------------------------
def test_the_same_sequence_number_twice_is_refused_on_its_stream() -> None:
    mailbox: Mailbox[str] = Mailbox(LIMITS)
    mailbox.put(key(), "first", seq=5)
    with pytest.raises(ReplayError, match=r"sequence number 5 .* not above 5"):
        mailbox.put(key(), "again", seq=5)
    with pytest.raises(ReplayError, match=r"sequence number 4 .* not above 5"):
        mailbox.put(key(), "older", seq=4)
    mailbox.put(key(), "next", seq=9)  # a task's numbers skip what it sent on its other streams
    assert [mailbox.get(key(), timeout=0) for _ in range(2)] == ["first", "next"]
    with pytest.raises(ReplayError):
        mailbox.put(key(), "after reading", seq=9)  # reading a message does not forget its number


@pytest.mark.parametrize(
    "other",
    [
        key(tag="other"),
        key(job="job-2"),
        key(src=10001),
        key(dst=10001),
        key(component="psi_0"),
        key(dst_role="arbiter"),
    ],
)
def test_each_stream_has_its_own_sequence(other: MailKey) -> None:
    mailbox: Mailbox[int] = Mailbox(LIMITS)
    mailbox.put(key(), 1, seq=7)
    mailbox.put(other, 2, seq=3)


def test_a_withdrawn_message_gives_its_number_back_unless_the_stream_moved_on() -> None:
    mailbox: Mailbox[str] = Mailbox(LIMITS)
    mailbox.put(key(), "kept", seq=1)
    mailbox.put(key(), "refused", seq=2)
    mailbox.discard(key(), "refused")
    mailbox.put(key(), "honest", seq=2)
    mailbox.put(key(), "later", seq=3)
    mailbox.discard(key(), "honest")  # seq 3 was accepted since: the stream stays at 3
    with pytest.raises(ReplayError):
        mailbox.put(key(), "replay", seq=2)


def test_ending_a_job_forgets_its_streams() -> None:
    mailbox: Mailbox[int] = Mailbox(LIMITS)
    mailbox.put(key(), 1, seq=1)
    mailbox.close_job("job-1", "done")
    assert mailbox._last_seq == {}
    assert mailbox._job_usage == {} and mailbox._party_usage == {}
