"""The tables and enums of members."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from domain.columns import created_at_column, enum_type, foreign_key, id_column, unique_ignoring_case


class MemberStatus(StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    GRACE = "GRACE"  # the annual review ends the membership on `grace_ends_on`; until then as ACTIVE [G6]
    ENDED = "ENDED"


class GradeStatus(StrEnum):
    ACTIVE = "ACTIVE"
    RETIRED = "RETIRED"  # kept for the members and history that name it; never given again


class Roaming(StrEnum):
    NATIONAL = "NATIONAL"  # club services and redemption in every province [G2]
    PROVINCE = "PROVINCE"  # only inside the member's home province


class Grade(SQLModel, table=True):
    """Grades are data [G1]: DIAMOND, EMERALD, SAPPHIRE are seeded, more can be added."""

    __tablename__ = "grade"
    __table_args__ = (unique_ignoring_case("grade"),)
    code: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    rank: int = Field(sa_column=sa.Column(sa.Integer, nullable=False, unique=True))
    card_type: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    national_roaming: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    service_standards: str = Field(default="", sa_column=sa.Column(sa.String(2000), nullable=False, server_default=""))
    status: GradeStatus = Field(
        default=GradeStatus.ACTIVE,
        sa_column=sa.Column(enum_type(GradeStatus, "status"), nullable=False, server_default=GradeStatus.ACTIVE.value),
    )


class Member(SQLModel, table=True):
    __tablename__ = "member"
    id: int | None = id_column()
    member_number: str = Field(sa_column=sa.Column(sa.String(20), nullable=False, unique=True))
    customer_id: int = Field(
        sa_column=sa.Column(sa.BigInteger, sa.ForeignKey("customer.id"), nullable=False, unique=True)
    )
    club_id: int = foreign_key("club.id")
    # The club's branch, kept here so staff scope filters need no join.
    branch_id: int = foreign_key("branch.id")
    grade_code: str = Field(sa_column=sa.Column(sa.String(32), sa.ForeignKey("grade.code"), nullable=False, index=True))
    status: MemberStatus = Field(
        default=MemberStatus.ACTIVE,
        sa_column=sa.Column(
            enum_type(MemberStatus, "status"), nullable=False, server_default=MemberStatus.ACTIVE.value, index=True
        ),
    )
    joined_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    valid_until: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    grace_ends_on: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))
    customer_manager_id: int | None = foreign_key("staff.id", nullable=True)
    interests: list[str] = Field(
        default_factory=list, sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'[]'::jsonb"))
    )
    relations: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'[]'::jsonb"))
    )
    password_hash: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    created_at: datetime | None = created_at_column()
    updated_at: datetime | None = created_at_column()


# Member numbers are drawn from a sequence: set by the club, never by the member [O5].
member_number_sequence = sa.Sequence("member_number_seq", start=100_000_000_001, metadata=SQLModel.metadata)
