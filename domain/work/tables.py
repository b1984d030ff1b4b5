"""The tables of the unit of work: idempotency records, and the record of every background run."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from domain.columns import created_at_column, enum_type, foreign_key, id_column, timestamp_column


class IdempotencyRecord(SQLModel, table=True):
    """A replayed request with the same key returns the stored result; another request is refused."""

    __tablename__ = "idempotency_record"
    scope: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    key: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    request_sha256: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))
    result: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    created_at: datetime | None = created_at_column()


class JobStatus(StrEnum):
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"  # stopped on an error; a new run resumes where it stopped
    INTERRUPTED = "INTERRUPTED"  # the process running it stopped; a new run resumes where it stopped


class JobRun(SQLModel, table=True):
    """One run of a background job (a monthly accrual, …): who started it, how far it got, why it stopped.

    `kind` names the job and `subject` what it works on (the month "2026-10"); one run of a
    (kind, subject) at a time. `figures` holds the job's named counters, added to by each
    committed chunk, so the record always tells how far the run got.
    """

    __tablename__ = "job_run"
    __table_args__ = (sa.Index("ix_job_run_kind_subject", "kind", "subject", "id"),)
    id: int | None = id_column()
    kind: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    subject: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    status: JobStatus = Field(
        default=JobStatus.RUNNING,
        sa_column=sa.Column(enum_type(JobStatus, "status"), nullable=False, server_default="RUNNING"),
    )
    staff_id: int | None = foreign_key("staff.id", nullable=True, index=False)  # none: started by the system
    total: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))  # to do at start
    figures: dict[str, int] = Field(
        default_factory=dict, sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    )
    error: str | None = Field(default=None, sa_column=sa.Column(sa.String(500), nullable=True))  # why it stopped
    started_at: datetime | None = created_at_column()
    finished_at: datetime | None = timestamp_column()
