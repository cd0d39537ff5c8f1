"""The grammars of every identifier that arrives from outside: from a partner's node, a REST client or a file.

Identifiers end up in file paths (``home/jobs/<job>/<component>/<role>_<party>/``, ``tables/<ns>/<name>``),
in SQL rows, in log lines and in mailbox keys. A value that only *looks* like a name (``../../x``, ``/tmp/x``,
``a\\nforged log line``, 100 KB of text, a NUL) must therefore be refused at the edge, before any use, with
one error that names the field, shows the value safely and says the rule. This module is that one place:
every other module checks identifiers through it and keeps no pattern of its own.

Patterns are matched with ``fullmatch``: ``re.match(r"...$")`` also accepts a value with a trailing newline,
which once let ``hostile.twin\\n`` overwrite table ``hostile.twin``.

No heavy imports: the node, the CLI, the job-config validator and the task runtime all use this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = [
    "COMPONENT",
    "JOB_ID",
    "PARTY_ID_MAX",
    "PARTY_ID_MIN",
    "ROLES",
    "SLOT",
    "STATUSES",
    "TABLE_NAME",
    "TABLE_PART",
    "TAG",
    "Grammar",
    "IdentifierError",
    "check_component",
    "check_job_id",
    "check_party",
    "check_role",
    "check_slot",
    "check_status",
    "check_table_name",
    "check_tag",
    "check_text",
    "printable",
    "safe",
    "shown",
]

SAFE_MAX_CHARS: Final = 60
PARTY_ID_MIN: Final = 1
PARTY_ID_MAX: Final = 2**31 - 1
# The enums' values, written out so that this module imports nothing of the node; tests/unit/test_ids.py
# checks they equal ``Role`` and ``Status``.
ROLES: Final = ("guest", "host", "arbiter")
STATUSES: Final = ("waiting", "running", "success", "failed", "canceled", "timeout")


def safe(value: object, limit: int = SAFE_MAX_CHARS) -> str:
    """``value`` as it may appear in a log line or an error: repr-escaped (no newline, NUL or escape
    sequence reaches the log) and cut to ``limit`` characters, saying how long it really was."""
    if isinstance(value, str | bytes) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} chars)"
    text = repr(value)
    return text if len(text) <= limit + 2 else f"{text[: limit + 2]}..."


def shown(value: object, grammar: Grammar) -> str:
    """``value`` as is if it is valid (so log lines read naturally), else its ``safe`` rendering."""
    return value if isinstance(value, str) and grammar.matches(value) else safe(value)


class IdentifierError(ValueError):
    """An identifier breaks its grammar. ``field`` names where it came from; ``rule`` and ``example`` say the fix.

    The message is safe to log and to return to the caller: the value in it is ``safe``-rendered.
    """

    def __init__(self, field: str, value: object, rule: str, example: str) -> None:
        self.field = field
        self.value = safe(value)
        self.rule = rule
        self.example = example
        super().__init__(f"{field}: {self.value} is not valid; {rule} (e.g. {example})")

    def detail(self) -> dict[str, str]:
        """The refusal as a REST API answers it (422)."""
        return {
            "field": self.field,
            "value": self.value,
            "rule": self.rule,
            "example": self.example,
            "message": str(self),
        }


@dataclass(frozen=True)
class Grammar:
    """One kind of identifier: a pattern matched in full, what it means in words, and a valid example."""

    kind: str
    pattern: re.Pattern[str]
    rule: str
    example: str

    def matches(self, value: object) -> bool:
        return isinstance(value, str) and self.pattern.fullmatch(value) is not None

    def check(self, value: object, field: str | None = None) -> str:
        """``value`` if it is valid, else :class:`IdentifierError` naming ``field`` (the kind by default)."""
        if not self.matches(value):
            raise IdentifierError(field or self.kind, value, self.rule, self.example)
        assert isinstance(value, str)
        return value


_JOB_ID_MAX: Final = 64
JOB_ID: Final = Grammar(
    "job id",
    re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{_JOB_ID_MAX - 1}}}"),
    f"a job id is 1 to {_JOB_ID_MAX} letters, digits, '_' or '-', starting with a letter or digit",
    "20260101120000a1b2c3",
)
"""Job ids: the node's own (``new_job_id``: 14 digits and 6 hex) and any a test or partner chooses that
fit. They name a folder and the table namespace ``job_<id>``, so they must be a table-name part too."""

COMPONENT: Final = Grammar(
    "component",
    re.compile(r"[a-z][a-z0-9_]{0,63}"),
    "an instance name is 1 to 64 lowercase letters, digits and underscores, starting with a letter",
    "reader_0",
)
"""Component instance names in a job config (``components[i].name``), and on the wire."""

SLOT: Final = Grammar(
    "slot",
    re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}"),
    "a slot name is 1 to 64 letters, digits and underscores, not starting with a digit",
    "data",
)
"""Input and output slot names of a component (``reader_0.data``), and model slots."""

_TAG_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}"
_TAG_MAX: Final = 256
TAG: Final = Grammar(
    "tag",
    re.compile(rf"(?=.{{1,{_TAG_MAX}}}\Z){_TAG_SEGMENT}(?:/{_TAG_SEGMENT})*", re.DOTALL),
    f"a tag is at most {_TAG_MAX} characters: namespaces and a name joined by '/', each 1 to 64 letters, "
    "digits, '_', '.' or '-', not starting with '.' or '-'",
    "secure_sum/share",
)
"""Message tags: what ``ctx.send`` makes of a tag under its namespaces (``psi/guest_double-3``)."""

TABLE_PART: Final = r"[A-Za-z0-9_][A-Za-z0-9_\-]{0,127}"
TABLE_NAME: Final = Grammar(
    "table name",
    re.compile(rf"({TABLE_PART})\.({TABLE_PART})"),
    "a table name must be 'namespace.name', each part 1 to 128 letters, digits, '_' or '-', not starting with '-'",
    "experiment.breast_guest",
)

ROLE: Final = Grammar("role", re.compile("|".join(ROLES)), f"a role is one of {', '.join(ROLES)}", "guest")
STATUS: Final = Grammar(
    "status", re.compile("|".join(STATUSES)), f"a task or job status is one of {', '.join(STATUSES)}", "success"
)


def check_job_id(value: object, field: str = "job_id") -> str:
    return JOB_ID.check(value, field)


def check_component(value: object, field: str = "component") -> str:
    return COMPONENT.check(value, field)


def check_slot(value: object, field: str = "slot") -> str:
    return SLOT.check(value, field)


def check_tag(value: object, field: str = "tag") -> str:
    return TAG.check(value, field)


def check_role(value: object, field: str = "role") -> str:
    return ROLE.check(value, field)


def check_status(value: object, field: str = "status") -> str:
    return STATUS.check(value, field)


def check_table_name(value: object, field: str = "name") -> tuple[str, str]:
    """The (namespace, name) of a valid table name."""
    match = TABLE_NAME.pattern.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise IdentifierError(field, value, TABLE_NAME.rule, TABLE_NAME.example)
    return match.group(1), match.group(2)


def check_party(value: object, field: str = "party") -> int:
    """A party id: a plain integer from 1 to 2**31 - 1 (bool is not one, though Python says it is an int)."""
    if isinstance(value, int) and not isinstance(value, bool) and PARTY_ID_MIN <= value <= PARTY_ID_MAX:
        return value
    raise IdentifierError(field, value, f"a party id is an integer from {PARTY_ID_MIN} to {PARTY_ID_MAX}", "10000")


TEXT_MAX_CHARS: Final = 4096


def printable(text: str, limit: int = 1000) -> str:
    """Free text from outside (a partner's refusal reason, a task's failure) as one log line: control
    characters escaped, so no newline starts a forged line, and cut to ``limit`` characters."""
    cut = text[:limit]
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)
    return shown if len(text) <= limit else f"{shown}... ({len(text)} chars)"


def check_text(value: str, field: str, limit: int = TEXT_MAX_CHARS) -> str:
    """Free text (a reason) is not an identifier, but it is bounded: at most ``limit`` characters."""
    if len(value) > limit:
        raise IdentifierError(field, value, f"at most {limit} characters", "the task failed: out of memory")
    return value
