"""The tables of the unit of work: idempotency records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from domain.columns import created_at_column


class IdempotencyRecord(SQLModel, table=True):
    """A replayed request with the same key returns the stored result; another request is refused."""

    __tablename__ = "idempotency_record"
    scope: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    key: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    request_sha256: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))
    result: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    created_at: datetime | None = created_at_column()
