"""The tables and enums of organisation."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.columns import created_at_column, enum_type, foreign_key, id_column, unique_ignoring_case


class BranchLevel(StrEnum):
    HQ = "HQ"
    PROVINCE = "PROVINCE"
    CITY = "CITY"


class StaffRole(StrEnum):
    ADMINISTRATOR = "ADMINISTRATOR"
    CLUB_OPERATOR = "CLUB_OPERATOR"
    CUSTOMER_MANAGER = "CUSTOMER_MANAGER"
    AGENT = "AGENT"
    SETTLEMENT_CLERK = "SETTLEMENT_CLERK"
    AUDITOR = "AUDITOR"


class Branch(SQLModel, table=True):
    __tablename__ = "branch"
    __table_args__ = (unique_ignoring_case("branch"),)
    id: int | None = id_column()
    code: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    level: BranchLevel = Field(sa_column=sa.Column(enum_type(BranchLevel, "level"), nullable=False))
    parent_id: int | None = foreign_key("branch.id", nullable=True)
    # "/1/4/9/": ancestors and self; a subtree is every path that starts with its root's path.
    path: str = Field(sa_column=sa.Column(sa.String(400), nullable=False, unique=True))
    created_at: datetime | None = created_at_column()


class Staff(SQLModel, table=True):
    __tablename__ = "staff"
    __table_args__ = (unique_ignoring_case("staff", "username"),)
    id: int | None = id_column()
    username: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    display_name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    role: StaffRole = Field(sa_column=sa.Column(enum_type(StaffRole, "role"), nullable=False))
    branch_id: int = foreign_key("branch.id")
    password_hash: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    active: bool = Field(default=True, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.true()))
    created_at: datetime | None = created_at_column()


class StaffDeactivation(SQLModel, table=True):
    """Who deactivated a staff account (while it is inactive; none for one deactivated before 0057): only an
    administrator whose subtree holds that person's branch reactivates it."""

    __tablename__ = "staff_deactivation"
    staff_id: int = Field(sa_column=sa.Column(sa.BigInteger, sa.ForeignKey("staff.id"), primary_key=True))
    deactivated_by: int = foreign_key("staff.id")
    deactivated_at: datetime | None = created_at_column()


class Club(SQLModel, table=True):
    __tablename__ = "club"
    __table_args__ = (unique_ignoring_case("club"),)
    id: int | None = id_column()
    branch_id: int = foreign_key("branch.id")
    code: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    category: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    contact_person: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))
    phone: str | None = Field(default=None, sa_column=sa.Column(sa.String(24), nullable=True))
    email: str | None = Field(default=None, sa_column=sa.Column(sa.String(254), nullable=True))
    address: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    created_at: datetime | None = created_at_column()


class OutletStatus(StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


class Outlet(SQLModel, table=True):
    """A service point of a branch where members are served and redeem (a counter, a POS, a terminal) [S1]."""

    __tablename__ = "outlet"
    __table_args__ = (unique_ignoring_case("outlet"),)
    id: int | None = id_column()
    code: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    branch_id: int = foreign_key("branch.id")
    address: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    phone: str | None = Field(default=None, sa_column=sa.Column(sa.String(24), nullable=True))
    status: OutletStatus = Field(
        default=OutletStatus.OPEN,
        sa_column=sa.Column(enum_type(OutletStatus, "status"), nullable=False, server_default=OutletStatus.OPEN.value),
    )
    created_at: datetime | None = created_at_column()
