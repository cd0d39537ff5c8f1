"""Where a data message goes: into this party's mailbox if it is for one of its tasks, else to a peer.

Messages stream through: a node forwards chunks as they arrive, and the receiving node hands them to a
waiting task while they arrive (see ``transport.delivery``). Every check still happens, in two steps:

* at the envelope, before any body byte is read: the sender is who its certificate says, the job is
  live, both parties play their stated roles in the component, the size is within bounds, and the
  payload header describes something decodable;
* at the mailbox, still before any body byte: the sequence number advances its stream (no replay), and
  the job and the sending party stay within their quotas of unread mail (``transport.mailbox``);
* at the end: the body is exactly the declared size and decodes as its header says. Until then the
  reading task cannot use the message; if a check fails, the reader gets the refusal instead.

A refused message is logged with its job, tag and parties, and the sender gets the same reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import NoReturn

from unseen import ids
from unseen.node.audit import AuditLog
from unseen.node.service import JobService
from unseen.transport import codec
from unseen.transport.delivery import Delivery
from unseen.transport.framing import (
    CHUNK_SIZE,
    Frame,
    FramingError,
    OversizedMessageError,
    body_frames,
    check_size,
)
from unseen.transport.mailbox import Mailbox, MailboxClosedError, MailKey, QuotaExceededError, ReplayError
from unseen.transport.peers import PeerError
from unseen.transport.proto import federation_pb2 as pb

log = logging.getLogger(__name__)


class MessageRefusedError(ValueError):
    """A message breaks a rule of this node; the text is logged and returned to the sender."""


class MalformedMessageError(MessageRefusedError):
    """A message's framing or payload does not match what its envelope declares."""


class OversizedRefusalError(MessageRefusedError):
    """A message is larger than this node accepts."""


class QuotaRefusalError(OversizedRefusalError):
    """A message would make its job or its sender hold more unread mail than this node allows."""


class ReplayRefusalError(MessageRefusedError):
    """A message repeats, or goes back on, the sequence of its stream."""


def mail_key(e: pb.Envelope) -> MailKey:
    return MailKey(e.job_id, e.component, e.tag, e.src_party, e.src_role, e.dst_party, e.dst_role)


def describe(e: pb.Envelope) -> str:
    """The envelope for a log line; every field rendered safely, whether it has been checked or not."""
    src_role, dst_role = ids.shown(e.src_role, ids.ROLE), ids.shown(e.dst_role, ids.ROLE)
    route = f"{src_role}:{e.src_party} -> {dst_role}:{e.dst_party}"
    tag = f"'{e.tag}'" if ids.TAG.matches(e.tag) else ids.safe(e.tag)
    return f"{tag} of job {ids.shown(e.job_id, ids.JOB_ID)} component {ids.shown(e.component, ids.COMPONENT)} ({route})"


def check_envelope_ids(e: pb.Envelope, sender: int) -> None:
    """Every identifier of an envelope against its grammar (``unseen.ids``), before any is used: as a mailbox
    key, a job lookup, an audit file name or in a log line. A bad one is one log line and INVALID_ARGUMENT."""
    try:
        ids.check_job_id(e.job_id)
        ids.check_component(e.component)
        ids.check_tag(e.tag)
        ids.check_role(e.src_role, "src_role")
        ids.check_role(e.dst_role, "dst_role")
        ids.check_party(e.src_party, "src_party")
        ids.check_party(e.dst_party, "dst_party")
    except ids.IdentifierError as exc:
        log.warning("refused a message from party %d: malformed envelope: %s", sender, exc)
        raise MalformedMessageError(f"malformed envelope: {exc}") from None


class MessageRouter:
    def __init__(self, service: JobService, mailbox: Mailbox[Delivery], audit: AuditLog | None) -> None:
        self.service = service
        self.mailbox = mailbox
        self.audit = audit

    @property
    def max_bytes(self) -> int:
        return self.service.config.max_message_bytes

    def check_envelope(self, envelope: pb.Envelope, sender: int, inbound: bool) -> None:
        """The checks an envelope alone allows. ``sender`` is the proven sending party; ``inbound`` says
        the message is for a task of this party (and must be for a live job and roles played here)."""
        check_envelope_ids(envelope, sender)
        if inbound:
            if envelope.src_party != sender:
                self.refuse(
                    f"party {sender} sent a message claiming to be from party {envelope.src_party}", envelope, sender
                )
            problem = self.service.inbound_problem(envelope)
            if problem:
                self.refuse(problem, envelope, sender)
        try:
            check_size(envelope, self.max_bytes)
        except OversizedMessageError as exc:
            self.refuse(str(exc), envelope, sender, OversizedRefusalError)
        try:
            codec.check_header(envelope.payload)
        except codec.CodecError as exc:
            self.refuse(f"malformed payload: {exc}", envelope, sender, MalformedMessageError)

    def accept(self, envelope: pb.Envelope, frames: Iterable[Frame], peer_party: int) -> int:
        """Receive a message for a task of this party, streaming it into the mailbox; returns its size."""
        self.check_envelope(envelope, peer_party, inbound=True)
        check_body = codec.needs_body_check(envelope.payload) or self.audit is not None
        delivery = Delivery(envelope, keep_body=check_body)
        key = mail_key(envelope)
        if envelope.seq == 0:  # every task numbers its messages from 1 (runtime/channel.py)
            self.refuse("message carries no sequence number", envelope, peer_party, ReplayRefusalError)
        try:
            self.mailbox.put(key, delivery, size=envelope.payload.size, seq=envelope.seq)
        except MailboxClosedError as exc:
            self.refuse(str(exc), envelope, peer_party)
        except ReplayError as exc:
            self.refuse(str(exc), envelope, peer_party, ReplayRefusalError)
        except QuotaExceededError as exc:
            self.refuse(str(exc), envelope, peer_party, QuotaRefusalError)
        try:
            for chunk in body_frames(frames, envelope.payload.size):
                delivery.append(chunk)
            if check_body:
                value = codec.decode(envelope.payload, delivery.body())
                if self.audit is not None:
                    self.audit.record(envelope, value)
        except (FramingError, codec.CodecError) as exc:
            self._withdraw(key, delivery, str(exc))
            refusal = OversizedRefusalError if isinstance(exc, OversizedMessageError) else MalformedMessageError
            prefix = "malformed payload: " if isinstance(exc, codec.CodecError) else ""
            self.refuse(f"{prefix}{exc}", envelope, peer_party, refusal)
        except BaseException as exc:  # the sender's stream broke, or the node is stopping
            self._withdraw(key, delivery, f"the message did not arrive whole: {exc}")
            raise
        delivery.complete()
        return int(envelope.payload.size)

    def forward(self, envelope: pb.Envelope, frames: Iterable[Frame]) -> int:
        """Send a task's message on as it arrives: into this party's mailbox, or over mutual TLS to its node."""
        dst = envelope.dst_party
        if dst == self.service.party_id:
            return self.accept(envelope, frames, self.service.party_id)
        self.check_envelope(envelope, self.service.party_id, inbound=False)
        timeout = self.service.config.send_timeout_s
        if envelope.payload.size <= CHUNK_SIZE:  # one unary call: a stream costs a thread and milliseconds
            body = b"".join(body_frames(frames, envelope.payload.size))
            self.service.peers.push_one(dst, pb.Small(header=envelope, data=body), timeout=timeout)
            return len(body)
        broken: list[FramingError] = []

        def outgoing() -> Iterator[Frame]:
            yield envelope
            try:
                yield from body_frames(frames, envelope.payload.size)
            except FramingError as exc:  # gRPC would report only CANCELLED; keep the reason for the task
                broken.append(exc)
                raise

        try:
            self.service.peers.push(dst, outgoing(), timeout=timeout)
        except PeerError:
            if broken:
                raise broken[0] from None
            raise
        return int(envelope.payload.size)

    def _withdraw(self, key: MailKey, delivery: Delivery, reason: str) -> None:
        delivery.fail(reason)
        self.mailbox.discard(key, delivery)

    @staticmethod
    def refuse(
        problem: str, envelope: pb.Envelope, sender: int, refusal: type[MessageRefusedError] = MessageRefusedError
    ) -> NoReturn:
        log.warning("refused message %s from party %d: %s", describe(envelope), sender, problem)
        raise refusal(problem)
