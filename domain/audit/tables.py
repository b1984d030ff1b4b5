"""The audit trail's one table: an event per mutation of an authenticated caller, never changed or removed."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from domain.auth.tables import PrincipalKind
from domain.columns import enum_type, id_column

request_id_length_max = 128  # as the edge accepts an `X-Request-ID` (loyalty/app.py)
client_address_length_max = 64  # an IPv6 address with its zone fits; longer is cut, never refused
operation_length_max = 64
target_length_max = 80  # "PointsTransaction:9223372036854775807" and the longest node name fit
targets_max = 20  # a bulk command names its first 20 targets; the rest are in its own records
outcome_length_max = 64
path_length_max = 400  # as `branch.path`


class AuditEvent(SQLModel, table=True):
    """One mutation of an authenticated caller: who (`principal_kind`, `principal_id`, acting for
    `branch_path`; a partner with which of its keys, `api_client_id`), from where (`client_address`,
    `request_id`), when, what (`operation`, the mutation's name), to what (`targets`: the typed ids the
    command named, `Member:12`, `Card:880…`; `result_id`: the object the mutation answered with, for a
    creating one the object it made) and how it ended (`outcome`: OK, REPLAYED, or the error code of its
    refusal, INTERNAL for a fault).

    Append-only: the database refuses UPDATE, DELETE and TRUNCATE of it (migration 0015). Two indexes
    only, its key and a BRIN of the time, because every mutation writes a row."""

    __tablename__ = "audit_event"
    __table_args__ = (sa.Index("ix_audit_event_occurred_at", "occurred_at", postgresql_using="brin"),)
    id: int | None = id_column()
    occurred_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    request_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(request_id_length_max)))
    principal_kind: PrincipalKind = Field(
        sa_column=sa.Column(enum_type(PrincipalKind, "principal_kind"), nullable=False)
    )
    principal_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    branch_path: str = Field(sa_column=sa.Column(sa.String(path_length_max), nullable=False))
    client_address: str | None = Field(default=None, sa_column=sa.Column(sa.String(client_address_length_max)))
    operation: str = Field(sa_column=sa.Column(sa.String(operation_length_max), nullable=False))
    targets: list[str] = Field(
        default_factory=list, sa_column=sa.Column(ARRAY(sa.String(target_length_max)), nullable=False)
    )
    result_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(target_length_max)))
    outcome: str = Field(sa_column=sa.Column(sa.String(outcome_length_max), nullable=False))
    api_client_id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))  # a partner's key
