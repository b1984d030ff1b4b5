"""The tables and enums of grades: grade rules with their history, customer importance, the qualification
review's proposals, and every member's grade history. (The grade definitions are `domain.members.tables.Grade`:
members reference them.)"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from domain.columns import created_at_column, enum_type, foreign_key, id_column, reference, timestamp_column
from domain.customers.tables import Importance


class ProposalKind(StrEnum):
    ADMIT = "ADMIT"  # a customer who is not a member qualifies
    UPGRADE = "UPGRADE"
    DOWNGRADE = "DOWNGRADE"
    REVOKE = "REVOKE"  # a member no longer qualifies for any grade


class ProposalState(StrEnum):
    PENDING = "PENDING"  # waits for a reviewer
    APPLIED = "APPLIED"  # applied: by the run (automatic kinds) or by a reviewer's approval
    REJECTED = "REJECTED"
    SUPPRESSED_BY_POLICY = "SUPPRESSED_BY_POLICY"  # a downgrade the policy does not apply
    IN_GRACE = "IN_GRACE"  # a downgrade applied by a later review once its grace period has passed
    LAPSED = "LAPSED"  # no longer applies: a later review found no change, or the member or grade changed since
    SUPERSEDED = "SUPERSEDED"  # a later review proposed again (a grace goes on in the later proposal)


class ChangeKind(StrEnum):
    ADMIT = "ADMIT"
    UPGRADE = "UPGRADE"
    DOWNGRADE = "DOWNGRADE"
    REVOKE = "REVOKE"
    MANUAL = "MANUAL"
    ANNUAL_REVIEW = "ANNUAL_REVIEW"


class CustomerImportanceChange(SQLModel, table=True):
    """Every change of a customer's importance: who, when, why, before and after."""

    __tablename__ = "customer_importance_change"
    id: int | None = id_column()
    customer_id: int = foreign_key("customer.id")
    importance_before: Importance = Field(sa_column=sa.Column(enum_type(Importance, "importance_before"),
                                                              nullable=False))  # fmt: skip
    importance_after: Importance = Field(sa_column=sa.Column(enum_type(Importance, "importance_after"),
                                                             nullable=False))  # fmt: skip
    reason: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    staff_id: int = foreign_key("staff.id", index=False)
    changed_at: datetime | None = created_at_column()


class GradeRule(SQLModel, table=True):
    """What a grade asks of a customer, in force from `effective_from` to `effective_to` (inclusive) [G3].

    `branch_id` is headquarters for the national rule, or a province overriding it for its customers.
    `alternatives` lists sets of thresholds; a customer qualifies when every threshold of one set holds.
    A threshold left out is not asked: `months_in_network`, `arpu_fen` (average paid per month over the
    last `window_months` whole months), `points_earned` (earned, not balance, in that window), `importance`
    (at least), `spend_fen` (paid in that window)."""

    __tablename__ = "grade_rule"
    __table_args__ = (
        sa.CheckConstraint("window_months BETWEEN 1 AND 36", name="window_months_in_range"),
        sa.Index("ix_grade_rule_grade_branch", "grade_code", "branch_id", "effective_from"),
    )
    id: int | None = id_column()
    grade_code: str = Field(sa_column=sa.Column(sa.String(32), sa.ForeignKey("grade.code"), nullable=False))
    branch_id: int = foreign_key("branch.id", index=False)
    window_months: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    alternatives: list[dict[str, Any]] = Field(sa_column=sa.Column(JSONB, nullable=False))
    effective_from: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    effective_to: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))
    created_at: datetime | None = created_at_column()


class GradeRuleChange(SQLModel, table=True):
    """Every change of a grade rule: who, when, before and after."""

    __tablename__ = "grade_rule_change"
    id: int | None = id_column()
    rule_id: int = foreign_key("grade_rule.id")
    action: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    before: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    after: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    staff_id: int | None = foreign_key("staff.id", nullable=True, index=False)
    changed_at: datetime | None = created_at_column()


class GradeProposal(SQLModel, table=True):
    """What a qualification review found for one customer as of a date, with the figures that justify it [G4].
    One per (as_of, customer): rerunning a review of the same date proposes nothing new."""

    __tablename__ = "grade_proposal"
    __table_args__ = (
        sa.UniqueConstraint("as_of", "customer_id", name="uq_grade_proposal_as_of_customer"),
        sa.Index("ix_grade_proposal_state_branch", "state", "branch_id", "id"),
        sa.Index("ix_grade_proposal_member", "member_id", "id", postgresql_where=sa.text("member_id IS NOT NULL")),
    )
    id: int | None = id_column()
    run_id: int | None = reference(nullable=True)
    as_of: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    customer_id: int = reference()
    member_id: int | None = reference(nullable=True)
    branch_id: int = reference()  # the customer's branch
    club_id: int | None = reference(nullable=True)  # the member's club, or the club an ADMIT joins
    kind: ProposalKind = Field(sa_column=sa.Column(enum_type(ProposalKind, "kind"), nullable=False))
    grade_from: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))
    grade_to: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))
    rule_id: int | None = reference(nullable=True)  # the rule version that gives `grade_to`
    figures: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    state: ProposalState = Field(sa_column=sa.Column(enum_type(ProposalState, "state"), nullable=False))
    applies_on: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))  # end of a grace
    decided_by: int | None = reference(nullable=True)
    decided_at: datetime | None = timestamp_column()
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.String(500), nullable=True))
    created_at: datetime | None = created_at_column()


class GradeChange(SQLModel, table=True):
    """A member's grade history: every change, automatic or manual [G5]."""

    __tablename__ = "grade_change"
    __table_args__ = (sa.Index("ix_grade_change_member", "member_id", "id"),)
    id: int | None = id_column()
    member_id: int = reference()
    grade_from: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))
    grade_to: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))  # none: revoked
    kind: ChangeKind = Field(sa_column=sa.Column(enum_type(ChangeKind, "kind"), nullable=False))
    staff_id: int | None = reference(nullable=True)
    run_id: int | None = reference(nullable=True)
    proposal_id: int | None = reference(nullable=True)
    reason: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    figures: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    changed_at: datetime | None = created_at_column()


class GradeChangeBatch(SQLModel, table=True):
    """A bulk grade change [G5]: the filter, the grade, why, who, and how many members it changed."""

    __tablename__ = "grade_change_batch"
    id: int | None = id_column()
    grade_to: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    filter: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    member_count: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    reason: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    staff_id: int = reference()
    created_at: datetime | None = created_at_column()


class AnnualOutcome(StrEnum):
    EXTENDED = "EXTENDED"  # qualifying, and valid until within a year of the review: a year longer
    KEPT = "KEPT"  # qualifying and valid beyond a year: as it was
    GRACE = "GRACE"  # validity ended or no grade: the membership ends at the grace's end
    ENDED = "ENDED"


class AnnualReviewOutcome(SQLModel, table=True):
    """What the annual review of a date did to a member [G6]: once per (member, date)."""

    __tablename__ = "annual_review_outcome"
    member_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    as_of: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    outcome: AnnualOutcome = Field(sa_column=sa.Column(enum_type(AnnualOutcome, "outcome"), nullable=False))
    run_id: int | None = reference(nullable=True)
    decided_at: datetime | None = created_at_column()
