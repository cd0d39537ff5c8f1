"""Where a data message goes: into this party's mailbox if it is for one of its tasks, else to a peer.

Every message is checked and decoded by the node that delivers it to a task, whichever way it came: a
partner's task over mutual TLS, or a task of this same party playing another role. A message that fails a
check is refused with a log line naming the problem, and the sending task gets the same reason.
"""

from __future__ import annotations

import logging
from typing import NoReturn

from unseen.node.audit import AuditLog
from unseen.node.service import JobService
from unseen.transport import codec
from unseen.transport.framing import Message, to_chunks
from unseen.transport.mailbox import Mailbox, MailboxClosedError, MailKey

log = logging.getLogger(__name__)


class MessageRefusedError(ValueError):
    """A message breaks a rule of this node; the text is logged and returned to the sender."""


class MalformedMessageError(MessageRefusedError):
    """A message's payload does not decode as the type its envelope declares."""


def mail_key(message: Message) -> MailKey:
    e = message.envelope
    return MailKey(e.job_id, e.component, e.tag, e.src_party, e.src_role, e.dst_party, e.dst_role)


class MessageRouter:
    def __init__(self, service: JobService, mailbox: Mailbox[Message], audit: AuditLog | None) -> None:
        self.service = service
        self.mailbox = mailbox
        self.audit = audit

    def accept(self, message: Message, peer_party: int) -> None:
        """Deliver a message that arrived from ``peer_party`` (this party, for same-party roles)."""
        envelope = message.envelope
        problem, refusal = None, MessageRefusedError
        if envelope.src_party != peer_party:
            problem = f"party {peer_party} sent a message claiming to be from party {envelope.src_party}"
        problem = problem or self.service.inbound_problem(envelope)
        if problem is None:
            try:
                value = codec.decode(envelope.payload, message.body)
            except codec.CodecError as exc:
                problem, refusal = f"malformed payload: {exc}", MalformedMessageError
        if problem is not None:
            self._refuse(problem, message, peer_party, refusal)
        if self.audit is not None:
            self.audit.record(envelope, value)
        try:
            self.mailbox.put(mail_key(message), message)
        except MailboxClosedError as exc:
            self._refuse(str(exc), message, peer_party)

    def forward(self, message: Message) -> None:
        """Send a task's message on: to this party's own mailbox, or over mutual TLS to its party's node."""
        dst = message.envelope.dst_party
        if dst == self.service.party_id:
            self.accept(message, self.service.party_id)
            return
        chunks = to_chunks(message.envelope, message.body)
        self.service.peers.push(dst, chunks, timeout=self.service.config.send_timeout_s)

    @staticmethod
    def _refuse(
        problem: str, message: Message, peer_party: int, refusal: type[MessageRefusedError] = MessageRefusedError
    ) -> NoReturn:
        e = message.envelope
        log.warning(
            "refused message '%s' of job %s component %s from party %d (%s:%d -> %s:%d): %s",
            e.tag,
            e.job_id,
            e.component,
            peer_party,
            e.src_role,
            e.src_party,
            e.dst_role,
            e.dst_party,
            problem,
        )
        raise refusal(problem)
