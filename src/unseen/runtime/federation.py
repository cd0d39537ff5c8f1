"""The one interface algorithms use to talk to other parties.

Algorithms (``vertical/``, ``horizontal/``, ``crypto/``) never see nodes, sockets or databases: they see a
``Context`` built on a ``Federation``. In a job the federation is the task's channel to its node; in tests
it is ``unseen.runtime.local``'s in-memory hub, which runs the same codec so a value that could not cross
the wire fails there too.
"""

from __future__ import annotations

from typing import Protocol

from unseen.runtime.parties import PartyRef
from unseen.transport.codec import Value


class Federation(Protocol):
    def send(self, tag: str, value: Value, to: PartyRef) -> None:
        """Deliver ``value`` to ``to``'s mailbox under ``tag``; returns once the receiving node has accepted it."""

    def recv(self, tag: str, frm: PartyRef, timeout: float) -> Value:
        """The next value ``frm`` sent under ``tag``; raises ``TimeoutError`` after ``timeout`` seconds."""
