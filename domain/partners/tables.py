"""The tables and enums of partners."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.columns import created_at_column, foreign_key, id_column, timestamp_column, unique_ignoring_case


class Partner(SQLModel, table=True):
    """The minimum of a partner that API clients need; the registry [X1] extends it."""

    __tablename__ = "partner"
    __table_args__ = (unique_ignoring_case("partner"),)
    id: int | None = id_column()
    code: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    # The branch that maintains the partner: HQ for national partners.
    branch_id: int = foreign_key("branch.id")
    created_at: datetime | None = created_at_column()


class PartnerApiClient(SQLModel, table=True):
    __tablename__ = "partner_api_client"
    id: int | None = id_column()
    partner_id: int = foreign_key("partner.id")
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    key_id: str = Field(sa_column=sa.Column(sa.String(40), nullable=False, unique=True))
    secret_sha256: bytes = Field(sa_column=sa.Column(sa.LargeBinary(32), nullable=False))
    created_by_staff_id: int = foreign_key("staff.id", index=False)
    created_at: datetime | None = created_at_column()
    revoked_at: datetime | None = timestamp_column()
