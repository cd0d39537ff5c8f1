"""The jobs page's query: one page of the node's jobs, filtered, searched and sorted in the database.

The list is never cut at a fixed count: every job can be reached by paging, in any of the sortable orders.
Sorting and paging happen in SQL (the node may hold many thousands of jobs); a page is at most PER_PAGE_MAX.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from unseen.storage.models import JobRecord, Status

PER_PAGE = 50
PER_PAGE_MAX = 200
SEARCH_MAX_CHARS = 200
SORTS = ("created", "started", "ended", "duration", "name", "status", "job")
STATES = [s.value for s in Status]


@dataclass(frozen=True)
class JobListQuery:
    """What the jobs page asks for; ``parse`` turns untrusted URL parameters into a valid one."""

    state: str = ""
    q: str = ""
    sort: str = "created"
    descending: bool = True
    page: int = 1
    per_page: int = PER_PAGE

    @classmethod
    def parse(
        cls, state: str = "", q: str = "", sort: str = "", order: str = "", page: Any = 1, per: Any = 0
    ) -> JobListQuery:
        def number(value: Any, default: int) -> int:
            try:
                return int(value)
            except (TypeError, ValueError):
                return default

        return cls(
            state=state if state in STATES else "",
            q=q.strip()[:SEARCH_MAX_CHARS],
            sort=sort if sort in SORTS else "created",
            descending=order != "asc",
            page=max(1, min(number(page, 1), 1_000_000)),
            per_page=max(1, min(number(per, PER_PAGE) or PER_PAGE, PER_PAGE_MAX)),
        )

    def params(self) -> dict[str, str]:
        """The URL parameters that bring this page back (defaults left out)."""
        found = {"state": self.state, "q": self.q, "sort": "" if self.sort == "created" else self.sort}
        found["order"] = "" if self.descending else "asc"
        found["page"] = "" if self.page == 1 else str(self.page)
        return {k: v for k, v in found.items() if v}


def _order(query: JobListQuery, now: float) -> list[Any]:
    column: Any = {
        "created": JobRecord.created_at,
        "started": JobRecord.started_at,
        "ended": JobRecord.ended_at,
        "duration": func.coalesce(JobRecord.ended_at, now) - JobRecord.started_at,
        "name": func.lower(JobRecord.name),
        "status": JobRecord.status,
        "job": JobRecord.job_id,
    }[query.sort]
    direction = column.desc() if query.descending else column.asc()
    tie = JobRecord.job_id.desc() if query.descending else JobRecord.job_id.asc()
    return [direction.nulls_last(), tie]


def list_page(session: Callable[[], Session], query: JobListQuery) -> tuple[list[JobRecord], int]:
    """One page of jobs and how many match in all."""
    conditions: list[Any] = []
    if query.state:
        conditions.append(JobRecord.status == query.state)
    if query.q:
        needle = query.q.lower()
        conditions.append(
            or_(
                func.lower(JobRecord.job_id).contains(needle, autoescape=True),
                func.lower(JobRecord.name).contains(needle, autoescape=True),
            )
        )
    with session() as db:
        total = int(db.scalar(select(func.count()).select_from(JobRecord).where(*conditions)) or 0)
        rows = db.scalars(
            select(JobRecord)
            .where(*conditions)
            .order_by(*_order(query, time.time()))
            .offset((query.page - 1) * query.per_page)
            .limit(query.per_page)
        )
        return list(rows), total
