"""Limits a node's operator sets in node.yaml and the lower layers enforce, as plain values.

They live here, in ``config``, so that ``transport`` (the mailbox that enforces them) imports its settings
from the configuration layer and never the other way round (docs/architecture.md, "Layers").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MailLimits:
    """How much unread mail a node holds: per job, and per sending party over all its jobs."""

    job_bytes: int
    job_messages: int
    party_bytes: int
    party_messages: int
