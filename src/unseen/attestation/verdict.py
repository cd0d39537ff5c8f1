"""The outcome of checking a peer's evidence: accepted or not, with every reason as (field, expected, got)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reason:
    """One failed check: what was looked at, what the policy wanted, what the evidence said."""

    field: str
    expected: str
    got: str

    def __str__(self) -> str:
        return f"{self.field}: expected {self.expected}, got {self.got}"


@dataclass(frozen=True)
class Verdict:
    """Every check's outcome. ``valid_until`` is when the collateral used expires (Unix seconds), after
    which the same evidence must be checked again; ``None`` when nothing was verified against collateral."""

    reasons: tuple[Reason, ...] = ()
    mode: str = "none"
    tcb_status: str | None = None
    advisory_ids: tuple[str, ...] = ()
    valid_until: int | None = None
    details: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.reasons

    def summary(self) -> str:
        return "; ".join(map(str, self.reasons)) if self.reasons else "accepted"


class AttestationError(ValueError):
    """Evidence could not be read or verified at all; the message is one line a person can act on."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(str(reason))
        self.reason = reason


def refuse(field_name: str, expected: str, got: str) -> AttestationError:
    return AttestationError(Reason(field_name, expected, got))
