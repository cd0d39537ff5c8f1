"""One metric value as a task logs it and its node stores it: a leaf module, so that a task's metrics
(``runtime/metrics``) can name it without loading the database layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MetricPoint:
    name: str
    step: int | None
    value: Any
