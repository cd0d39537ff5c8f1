"""Who is who in a job: roles and the (role, party) pairs that tasks address each other by.

A party may play several roles in one job (``-gid 10000 -hid 10000``), so a party id alone does not
name a task's peer; the pair does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    GUEST = "guest"
    HOST = "host"
    ARBITER = "arbiter"


@dataclass(frozen=True, order=True)
class PartyRef:
    """One participant of a job: the role it plays and the party that plays it."""

    role: Role
    party_id: int

    def __str__(self) -> str:
        return f"{self.role.value}:{self.party_id}"

    @classmethod
    def parse(cls, text: str) -> PartyRef:
        """Read ``guest:10000`` back into a reference (the form used in logs and task specs)."""
        role, _, party = text.partition(":")
        return cls(Role(role), int(party))
