"""The node's tables. Times are UTC seconds since the epoch (floats), the unit the wire and the API use."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Status(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELED = "canceled"
    TIMEOUT = "timeout"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({Status.SUCCESS, Status.FAILED, Status.CANCELED, Status.TIMEOUT})


class Base(DeclarativeBase):
    pass


class JobRecord(Base):
    """A job as this node knows it: the whole job at its initiator, this party's share elsewhere."""

    __tablename__ = "jobs"

    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    initiator_party: Mapped[int] = mapped_column(Integer)
    is_initiator: Mapped[bool]
    config_json: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float, index=True)
    started_at: Mapped[float | None] = mapped_column(Float, default=None)
    ended_at: Mapped[float | None] = mapped_column(Float, default=None)


class TaskRecord(Base):
    """One component for one role at one party; the initiator also mirrors its partners' tasks here."""

    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("job_id", "component", "role", "party_id", name="uq_task"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.job_id", ondelete="CASCADE"), index=True)
    component: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    party_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    pid: Mapped[int | None] = mapped_column(Integer, default=None)
    exit_code: Mapped[int | None] = mapped_column(Integer, default=None)
    log_path: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, default=None)
    ended_at: Mapped[float | None] = mapped_column(Float, default=None)


class MetricRecord(Base):
    """A value a task logged: a scalar per step (loss per iteration) or a JSON object (a ROC curve)."""

    __tablename__ = "metrics"
    __table_args__ = (Index("ix_metrics_job_component", "job_id", "component"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.job_id", ondelete="CASCADE"))
    component: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    party_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)  # a component's own name for it, namespaces included
    step: Mapped[int | None] = mapped_column(BigInteger, default=None)  # a task may number steps up to 2**63 - 1
    value_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)


class TableRecord(Base):
    """A table this party stores: its schema and size, never its rows (those stay in the Parquet file)."""

    __tablename__ = "data_tables"

    name: Mapped[str] = mapped_column(String(257), primary_key=True)  # namespace.name, 128 + 1 + 128 at most
    rows: Mapped[int] = mapped_column(BigInteger)  # past 2**31 - 1 rows a 32-bit column would refuse the table
    columns_json: Mapped[str] = mapped_column(Text)  # [{"name": ..., "dtype": ...}, ...] in file order
    id_column: Mapped[str | None] = mapped_column(Text, default=None)  # a CSV header may name a column at length
    label_column: Mapped[str | None] = mapped_column(Text, default=None)
    label_type: Mapped[str | None] = mapped_column(String(16), default=None)
    source: Mapped[str] = mapped_column(Text, default="")  # the uploaded file's name, or the job that wrote it
    created_at: Mapped[float] = mapped_column(Float)
