"""Run a federated algorithm in one process: every party a thread, messages through the real codec.

This is how algorithms are unit-tested without nodes: the bytes each message would carry are produced and
decoded exactly as on the wire, and can be recorded to check what a protocol reveals.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from unseen.runtime.context import Context
from unseen.runtime.federation import Gathered, broadcast_in_turn, gather_in_turn
from unseen.runtime.metrics import MemoryMetricSink, Metrics
from unseen.runtime.parties import PartyRef, Role
from unseen.transport import codec
from unseen.transport.mailbox import Mailbox, MailKey
from unseen.transport.proto import federation_pb2 as pb

T = TypeVar("T")


@dataclass(frozen=True)
class RecordedMessage:
    """One message as its receiver decoded it: enough to check that no private value crossed in clear."""

    tag: str
    src: PartyRef
    dst: PartyRef
    header: pb.PayloadHeader
    body: bytes


@dataclass
class LocalHub:
    job_id: str = "local"
    component: str = "local"
    mailbox: Mailbox[tuple[pb.PayloadHeader, bytes]] = field(default_factory=Mailbox)
    recorded: list[RecordedMessage] = field(default_factory=list)
    encodings: int = 0  # how many times a broadcast encoded its value: tests check it is once per broadcast
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def key(self, tag: str, src: PartyRef, dst: PartyRef) -> MailKey:
        return MailKey(self.job_id, self.component, tag, src.party_id, src.role.value, dst.party_id, dst.role.value)


class LocalFederation:
    def __init__(self, hub: LocalHub, me: PartyRef) -> None:
        self._hub = hub
        self._me = me

    def send(self, tag: str, value: codec.Value, to: PartyRef) -> None:
        encoded = codec.encode(value)
        self._post(tag, encoded.header, bytes(encoded.body), to)

    def _post(self, tag: str, header: pb.PayloadHeader, body: bytes, to: PartyRef) -> None:
        with self._hub._lock:
            self._hub.recorded.append(RecordedMessage(tag, self._me, to, header, body))
        self._hub.mailbox.put(self._hub.key(tag, self._me, to), (header, body))

    def recv(self, tag: str, frm: PartyRef, timeout: float) -> codec.Value:
        header, body = self._hub.mailbox.get(self._hub.key(tag, frm, self._me), timeout)
        return codec.decode(header, body)

    def gather(self, tag: str, frm: Sequence[PartyRef], deadline: float) -> Gathered:
        return gather_in_turn(self.recv, tag, frm, deadline)

    def broadcast(self, tag: str, value: codec.Value, to: Sequence[PartyRef]) -> dict[PartyRef, str]:
        encoded = codec.encode(value)  # once, whatever the number of recipients
        self._hub.encodings += 1
        body = bytes(encoded.body)
        return broadcast_in_turn(lambda t, _v, party: self._post(t, encoded.header, body, party), tag, value, to)


@dataclass
class LocalRun(Generic[T]):
    results: dict[PartyRef, T]
    hub: LocalHub
    metrics: dict[PartyRef, MemoryMetricSink]


def run_parties(
    programs: Mapping[PartyRef, Callable[[Context], T]],
    recv_timeout: float = 60.0,
    hub: LocalHub | None = None,
) -> LocalRun[T]:
    """Run each party's program in a thread and return what each returned; the first failure is re-raised."""
    hub = hub or LocalHub()
    parties = parties_of(list(programs))
    results: dict[PartyRef, T] = {}
    errors: list[BaseException] = []
    sinks = {ref: MemoryMetricSink() for ref in programs}

    def run_one(ref: PartyRef, program: Callable[[Context], T]) -> None:
        ctx = Context(
            job_id=hub.job_id,
            component=hub.component,
            me=ref,
            parties=parties,
            federation=LocalFederation(hub, ref),
            metrics=Metrics(sinks[ref]),
            logger=logging.getLogger(f"unseen.local.{ref}"),
            recv_timeout=recv_timeout,
        )
        try:
            results[ref] = program(ctx)
        except BaseException as exc:
            errors.append(exc)
            hub.mailbox.close_job(hub.job_id, f"{ref} failed: {exc}")

    threads = [threading.Thread(target=run_one, args=item, name=str(item[0])) for item in programs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return LocalRun(results, hub, sinks)


def parties_of(refs: Sequence[PartyRef]) -> dict[Role, list[int]]:
    grouped: dict[Role, list[int]] = {}
    for ref in refs:
        grouped.setdefault(ref.role, []).append(ref.party_id)
    return grouped
