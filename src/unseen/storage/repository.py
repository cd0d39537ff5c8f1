"""Everything the node reads and writes in its database, behind one small interface."""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from unseen.storage.database import DatabaseClaim
from unseen.storage.models import FINAL_STATUSES, JobRecord, MetricRecord, Status, TableRecord, TaskRecord
from unseen.storage.points import MetricPoint

__all__ = ["JobNotFoundError", "MetricPoint", "NodeStore"]

_ACTIVE = (Status.WAITING.value, Status.RUNNING.value)
_STATUSES_KEPT = 10_000


class JobNotFoundError(LookupError):
    pass


class NodeStore:
    """The node's database. The node is the only writer of it, so the store also keeps each job's status in
    memory as it writes it: every federation message checks that its job is live, and a database read per
    message cost more than the rest of a small message's checks together.

    "Only writer" is enforced, not assumed: a node claims its database before it opens the store
    (``storage.database.claim_database``: an advisory lock on PostgreSQL, a file lock on SQLite), and a second
    node on the same database is refused at start. Nothing else writes a node's database (the CLI and the
    board go through the node's API), so a status in memory is the status in the database."""

    def __init__(self, engine: Engine, claim: DatabaseClaim | None = None) -> None:
        self._engine = engine
        self._claim = claim
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._statuses: OrderedDict[str, Status] = OrderedDict()
        self._statuses_lock = threading.Lock()

    def _remember(self, job_id: str, status: Status) -> None:
        with self._statuses_lock:
            self._statuses[job_id] = status
            self._statuses.move_to_end(job_id)
            while len(self._statuses) > _STATUSES_KEPT:
                self._statuses.popitem(last=False)

    def session(self) -> Session:
        return self._sessions()

    def close(self) -> None:
        """Close the database's connections and let go of the node's claim on it."""
        self._engine.dispose()
        if self._claim is not None:
            self._claim.release()
            self._claim = None

    # jobs -----------------------------------------------------------------------------------------
    def add_job(self, job_id: str, name: str, initiator_party: int, is_initiator: bool, config_json: str) -> JobRecord:
        record = JobRecord(
            job_id=job_id,
            name=name,
            initiator_party=initiator_party,
            is_initiator=is_initiator,
            config_json=config_json,
            status=Status.WAITING.value,
            reason="",
            created_at=time.time(),
        )
        with self.session() as session, session.begin():
            session.add(record)
        self._remember(job_id, Status.WAITING)
        return record

    def get_job(self, job_id: str) -> JobRecord:
        with self.session() as session:
            record = session.get(JobRecord, job_id)
        if record is None:
            raise JobNotFoundError(f"job {job_id} not found on this node; list jobs with `unseen job list`")
        return record

    def find_job(self, job_id: str) -> JobRecord | None:
        with self.session() as session:
            return session.get(JobRecord, job_id)

    def job_status(self, job_id: str) -> Status | None:
        """A job's status (None for a job this node does not know), from memory once read or written."""
        with self._statuses_lock:
            known = self._statuses.get(job_id)
        if known is not None:
            return known
        record = self.find_job(job_id)
        if record is None:
            return None
        status = Status(record.status)
        with self._statuses_lock:
            self._statuses.setdefault(job_id, status)  # a write that raced this read has the newer status
        return status

    def list_jobs(self, limit: int = 100, status: str | None = None) -> list[JobRecord]:
        query = select(JobRecord).order_by(JobRecord.created_at.desc(), JobRecord.job_id.desc()).limit(limit)
        if status:
            query = query.where(JobRecord.status == status)
        with self.session() as session:
            return list(session.scalars(query))

    def set_job_status(self, job_id: str, status: Status, reason: str = "") -> bool:
        """Move a job to ``status``; a job already in a final state keeps it (the first ending wins)."""
        now = time.time()
        values: dict[str, Any] = {"status": status.value}
        if reason:
            values["reason"] = reason
        if status == Status.RUNNING:
            values["started_at"] = now
        if status.is_final:
            values["ended_at"] = now
        with self.session() as session, session.begin():
            result = session.execute(
                update(JobRecord)
                .where(JobRecord.job_id == job_id, JobRecord.status.not_in([s.value for s in FINAL_STATUSES]))
                .values(**values)
            )
        changed = bool(result.rowcount)  # type: ignore[attr-defined]
        if changed:
            self._remember(job_id, status)
        return changed

    # tasks ----------------------------------------------------------------------------------------
    def add_tasks(self, job_id: str, tasks: Iterable[tuple[str, str, int]]) -> None:
        now = time.time()
        with self.session() as session, session.begin():
            for component, role, party in tasks:
                session.add(
                    TaskRecord(
                        job_id=job_id,
                        component=component,
                        role=role,
                        party_id=party,
                        status=Status.WAITING.value,
                        reason="",
                        log_path="",
                        created_at=now,
                    )
                )

    def tasks(self, job_id: str, party_id: int | None = None) -> list[TaskRecord]:
        query = select(TaskRecord).where(TaskRecord.job_id == job_id).order_by(TaskRecord.id)
        if party_id is not None:
            query = query.where(TaskRecord.party_id == party_id)
        with self.session() as session:
            return list(session.scalars(query))

    def task(self, job_id: str, component: str, role: str, party_id: int) -> TaskRecord | None:
        query = select(TaskRecord).where(
            TaskRecord.job_id == job_id,
            TaskRecord.component == component,
            TaskRecord.role == role,
            TaskRecord.party_id == party_id,
        )
        with self.session() as session:
            return session.scalars(query).first()

    def update_task(self, job_id: str, component: str, role: str, party_id: int, **values: Any) -> bool:
        """Update a task unless it already ended; returns whether it changed."""
        status = values.get("status")
        if status is not None:
            values["status"] = Status(status).value
        with self.session() as session, session.begin():
            result = session.execute(
                update(TaskRecord)
                .where(
                    TaskRecord.job_id == job_id,
                    TaskRecord.component == component,
                    TaskRecord.role == role,
                    TaskRecord.party_id == party_id,
                    TaskRecord.status.not_in([s.value for s in FINAL_STATUSES]),
                )
                .values(**values)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def interrupt_active(self, reason: str, party_id: int) -> int:
        """Fail every job and every task of ``party_id`` (this node's party) a previous run left unfinished.

        The node cannot resume a task whose process it no longer owns. The rows an initiator mirrors for its
        partners' tasks are left as they were: those tasks may still run, and only the partner can say how
        they end (the initiator asks it when it starts again, see ``node/recovery.py``).
        """
        now = time.time()
        with self.session() as session, session.begin():
            tasks = session.execute(
                update(TaskRecord)
                .where(TaskRecord.status.in_(_ACTIVE), TaskRecord.party_id == party_id)
                .values(status=Status.FAILED.value, reason=reason, ended_at=now)
            )
            session.execute(
                update(JobRecord)
                .where(JobRecord.status.in_(_ACTIVE))
                .values(status=Status.FAILED.value, reason=reason, ended_at=now)
            )
        with self._statuses_lock:
            self._statuses.clear()  # read again from the database as needed
        return int(tasks.rowcount)  # type: ignore[attr-defined]

    def unsettled_jobs(self, party_id: int) -> list[JobRecord]:
        """Ended jobs this node initiated whose partners' tasks it still records as waiting or running."""
        query = (
            select(JobRecord)
            .where(
                JobRecord.is_initiator.is_(True),
                JobRecord.status.in_([s.value for s in FINAL_STATUSES]),
                JobRecord.job_id.in_(
                    select(TaskRecord.job_id).where(TaskRecord.party_id != party_id, TaskRecord.status.in_(_ACTIVE))
                ),
            )
            .order_by(JobRecord.created_at)
        )
        with self.session() as session:
            return list(session.scalars(query))

    # metrics --------------------------------------------------------------------------------------
    def add_metrics(self, job_id: str, component: str, role: str, party_id: int, points: Sequence[MetricPoint]) -> None:
        now = time.time()
        with self.session() as session, session.begin():
            for point in points:
                session.add(
                    MetricRecord(
                        job_id=job_id,
                        component=component,
                        role=role,
                        party_id=party_id,
                        name=point.name,
                        step=point.step,
                        value_json=json.dumps(point.value),
                        created_at=now,
                    )
                )

    def metrics(self, job_id: str, component: str | None = None) -> list[MetricRecord]:
        query = select(MetricRecord).where(MetricRecord.job_id == job_id).order_by(MetricRecord.id)
        if component:
            query = query.where(MetricRecord.component == component)
        with self.session() as session:
            return list(session.scalars(query))

    # tables ---------------------------------------------------------------------------------------
    def find_table(self, name: str) -> TableRecord | None:
        with self.session() as session:
            return session.get(TableRecord, name)

    def list_tables(self) -> list[TableRecord]:
        with self.session() as session:
            return list(session.scalars(select(TableRecord).order_by(TableRecord.name)))

    def delete_table(self, name: str) -> None:
        with self.session() as session, session.begin():
            record = session.get(TableRecord, name)
            if record is not None:
                session.delete(record)
