"""The tables and enums of partners."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.columns import (
    created_at_column,
    enum_type,
    foreign_key,
    id_column,
    timestamp_column,
    unique_ignoring_case,
)


class PartnerKind(StrEnum):
    AIRLINE = "AIRLINE"
    MALL = "MALL"
    RETAIL = "RETAIL"
    TRAVEL = "TRAVEL"
    HOSPITALITY = "HOSPITALITY"
    FINANCE = "FINANCE"
    OTHER = "OTHER"


class PartnerNature(StrEnum):
    """The partner's form of ownership."""

    STATE_OWNED = "STATE_OWNED"
    PRIVATE = "PRIVATE"
    JOINT_VENTURE = "JOINT_VENTURE"
    FOREIGN = "FOREIGN"
    PUBLIC_INSTITUTION = "PUBLIC_INSTITUTION"
    OTHER = "OTHER"


class PartnerStatus(StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"  # its keys are refused until it is active again
    TERMINATED = "TERMINATED"  # the partnership ended: its keys are refused, and it stays so


class Partner(SQLModel, table=True):
    """A partner of the club [X1], maintained by one branch: HQ for national partners."""

    __tablename__ = "partner"
    __table_args__ = (
        unique_ignoring_case("partner"),
        sa.CheckConstraint("staff_count >= 0", name="staff_count_not_negative"),
        sa.CheckConstraint("registered_capital_yuan >= 0", name="registered_capital_not_negative"),
    )
    id: int | None = id_column()
    code: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    branch_id: int = foreign_key("branch.id")
    kind: PartnerKind = Field(
        default=PartnerKind.OTHER,
        sa_column=sa.Column(enum_type(PartnerKind, "partner_kind"), nullable=False, server_default="OTHER"),
    )
    nature: PartnerNature = Field(
        default=PartnerNature.OTHER,
        sa_column=sa.Column(enum_type(PartnerNature, "partner_nature"), nullable=False, server_default="OTHER"),
    )
    status: PartnerStatus = Field(
        default=PartnerStatus.ACTIVE,
        sa_column=sa.Column(enum_type(PartnerStatus, "partner_status"), nullable=False, server_default="ACTIVE"),
    )
    address: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    legal_representative: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))
    staff_count: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    registered_capital_yuan: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    created_at: datetime | None = created_at_column()


class PartnerContact(SQLModel, table=True):
    """Who at the partner a branch deals with [X1]: each branch on the partner's side of the tree keeps its own
    (a province its contact for a national partner), one per branch."""

    __tablename__ = "partner_contact"
    __table_args__ = (sa.UniqueConstraint("partner_id", "branch_id", name="partner_contact_one_per_branch"),)
    id: int | None = id_column()
    partner_id: int = foreign_key("partner.id", index=False)
    branch_id: int = foreign_key("branch.id")
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    position: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))
    phone: str | None = Field(default=None, sa_column=sa.Column(sa.String(24), nullable=True))
    email: str | None = Field(default=None, sa_column=sa.Column(sa.String(254), nullable=True))
    updated_at: datetime | None = created_at_column()


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
