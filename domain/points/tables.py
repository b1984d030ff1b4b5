"""The tables and enums of points."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from domain.columns import created_at_column, enum_type, foreign_key, id_column, reference, timestamp_column


class EntryType(StrEnum):
    """What a movement of a member's points is, as members and reports see it [P1]."""

    CONSUMPTION = "CONSUMPTION"
    BONUS_TENURE = "BONUS_TENURE"
    BONUS_ON_TIME = "BONUS_ON_TIME"
    BONUS_PROMOTION = "BONUS_PROMOTION"
    BONUS_ACTIVITY = "BONUS_ACTIVITY"
    PENALTY = "PENALTY"
    PARTNER_EXCHANGE_IN = "PARTNER_EXCHANGE_IN"
    SURVEY = "SURVEY"
    REFERRAL = "REFERRAL"
    ADJUSTMENT = "ADJUSTMENT"
    REDEMPTION = "REDEMPTION"
    EXPIRY = "EXPIRY"
    REVERSAL = "REVERSAL"
    CANCELLATION = "CANCELLATION"  # points a cancelled redemption gives back to the lots it drew on


class SystemAccount(StrEnum):
    """The club's side of every movement; their balances are sums over the journal, never a hot row."""

    ISSUANCE = "ISSUANCE"
    BREAKAGE = "BREAKAGE"
    REDEMPTION = "REDEMPTION"
    PARTNER_CLEARING = "PARTNER_CLEARING"
    ADJUSTMENT = "ADJUSTMENT"


class RuleKind(StrEnum):
    POINTS_PER_YUAN = "POINTS_PER_YUAN"
    GRADE_MULTIPLIER = "GRADE_MULTIPLIER"
    TENURE_BONUS_PER_YEAR = "TENURE_BONUS_PER_YEAR"
    ON_TIME_BONUS = "ON_TIME_BONUS"
    LATE_PENALTY_PERCENT = "LATE_PENALTY_PERCENT"
    EXPIRY_YEAR_END_AFTER_YEARS = "EXPIRY_YEAR_END_AFTER_YEARS"
    EXPIRY_AFTER_MONTHS = "EXPIRY_AFTER_MONTHS"


class LedgerAccount(SQLModel, table=True):
    __tablename__ = "ledger_account"
    code: SystemAccount = Field(sa_column=sa.Column(enum_type(SystemAccount, "code"), primary_key=True))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))


class PointsBalance(SQLModel, table=True):
    """A member's points account: posted minus held is what the member may spend."""

    __tablename__ = "points_balance"
    __table_args__ = (
        sa.CheckConstraint("held >= 0", name="held_nonnegative"),
        sa.CheckConstraint("posted - held >= 0", name="available_nonnegative"),
    )
    member_id: int = Field(sa_column=sa.Column(sa.BigInteger, sa.ForeignKey("member.id"), primary_key=True))
    posted: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    held: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    # The day an ended membership's points end (`ledger.end_points_of_ended`): every lot, one credited later too.
    points_end_on: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))
    updated_at: datetime | None = created_at_column()


class LedgerTransaction(SQLModel, table=True):
    """One business event: `points` move between the member and a system account.

    Double entry by construction, as a transfer: the member's side is `points`, the system
    account's side is `-points`, so every transaction sums to zero. Never updated or deleted
    (the database refuses). References to members, lots and bills are checked per statement.
    """

    __tablename__ = "ledger_transaction"
    __table_args__ = (
        sa.CheckConstraint("points <> 0", name="points_nonzero"),
        sa.Index(
            "uq_ledger_transaction_reverses_id",
            "reverses_id",
            unique=True,
            postgresql_where=sa.text("reverses_id IS NOT NULL"),
        ),
        sa.Index("ix_ledger_transaction_member_effective", "member_id", "effective_on", "id"),
    )
    id: int | None = id_column()
    member_id: int = reference()
    entry_type: EntryType = Field(sa_column=sa.Column(enum_type(EntryType, "entry_type"), nullable=False))
    account: SystemAccount = Field(sa_column=sa.Column(enum_type(SystemAccount, "account"), nullable=False))
    points: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))  # the member's side, signed
    effective_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    # A reason of up to 500 characters, and room for the mark of a correction (`domain/members/states.py`).
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.String(600), nullable=True))
    staff_id: int | None = reference(nullable=True)
    reverses_id: int | None = reference(nullable=True)
    lot_id: int | None = reference(nullable=True)  # the lot a credit filled
    bill_id: int | None = reference(nullable=True)  # the bill that earned it
    created_at: datetime | None = created_at_column()


class PointsLot(SQLModel, table=True):
    """Points earned together, expiring together; spending takes the soonest-expiring first.

    The credits that filled a lot name it (`LedgerTransaction.lot_id`); what happened to it
    since is in its movements, so `remaining = amount + sum(movements)`.
    """

    __tablename__ = "points_lot"
    __table_args__ = (
        sa.CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_within_amount"),
        sa.Index("ix_points_lot_spendable", "member_id", "expires_on", "id", postgresql_where=sa.text("remaining > 0")),
    )
    id: int | None = id_column()
    member_id: int = reference()
    amount: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    remaining: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    earned_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    expires_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))


class LotMovement(SQLModel, table=True):
    """A draw on a lot, or a restore by a reversal: which lots a transaction used, so a reversal
    restores exactly those lots."""

    __tablename__ = "lot_movement"
    id: int | None = id_column()
    # Checked by `loyalty verify`, not per row: a per-row check locks the lot and the entry for every movement
    # (a third of a bulk run's time), and neither is ever deleted (docs/architecture.md, "Data").
    lot_id: int = reference(index=True)
    transaction_id: int = reference(index=True)
    amount: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class PointsRule(SQLModel, table=True):
    """Earning, validity and penalty rules as data with effective dates [P2]."""

    __tablename__ = "points_rule"
    id: int | None = id_column()
    kind: RuleKind = Field(sa_column=sa.Column(enum_type(RuleKind, "kind"), nullable=False))
    grade_code: str | None = Field(
        default=None, sa_column=sa.Column(sa.String(32), sa.ForeignKey("grade.code"), nullable=True)
    )
    value: Decimal = Field(sa_column=sa.Column(sa.Numeric(12, 4), nullable=False))
    effective_from: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    effective_to: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))
    created_at: datetime | None = created_at_column()


class PointsRuleChange(SQLModel, table=True):
    __tablename__ = "points_rule_change"
    id: int | None = id_column()
    rule_id: int = foreign_key("points_rule.id")
    action: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    before: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    after: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    staff_id: int = foreign_key("staff.id", index=False)
    changed_at: datetime | None = created_at_column()


class Bill(SQLModel, table=True):
    """A month's bill of a billing account, as the billing system reports it [O3]."""

    __tablename__ = "bill"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "billing_month"),
        sa.CheckConstraint("amount_billed_fen >= 0 AND amount_paid_fen >= 0", name="amounts_nonnegative"),
        sa.CheckConstraint("extract(day FROM billing_month) = 1", name="month_starts_on_day_one"),
        sa.Index("ix_bill_month", "billing_month", "id"),
    )
    id: int | None = id_column()
    account_id: int = foreign_key("account.id", index=False)
    billing_month: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    amount_billed_fen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    amount_paid_fen: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    due_date: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    paid_date: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))
    imported_at: datetime | None = created_at_column()


class Accrual(SQLModel, table=True):
    """A bill whose points were computed: written with the ledger entries, so a bill earns once."""

    __tablename__ = "accrual"
    __table_args__ = (sa.Index("ix_accrual_penalty_due", "member_id", postgresql_where=sa.text("penalty_due")),)
    bill_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))  # checked per statement
    member_id: int | None = reference(nullable=True)
    points: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))  # net of its penalty
    # a late or unpaid bill whose penalty is still to take: after every bill of the month has earned
    penalty_due: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()))
    penalised_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True))
    accrued_at: datetime | None = created_at_column()


class NotificationChannel(StrEnum):
    SMS = "SMS"
    EMAIL = "EMAIL"
    CALLBACK = "CALLBACK"  # the customer manager calls the member back


class NotificationStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


class Notification(SQLModel, table=True):
    """The outbox: a message to a member, written with the event that caused it, sent later."""

    __tablename__ = "notification"
    __table_args__ = (sa.Index("ix_notification_pending", "due_at", postgresql_where=sa.text("status = 'PENDING'")),)
    id: int | None = id_column()
    member_id: int = foreign_key("member.id")
    channel: NotificationChannel = Field(sa_column=sa.Column(enum_type(NotificationChannel, "channel"), nullable=False))
    address: str | None = Field(default=None, sa_column=sa.Column(sa.String(254), nullable=True))
    message: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    # Makes a warning once-only: e.g. one per member and expiry date.
    dedupe_key: str = Field(sa_column=sa.Column(sa.String(100), nullable=False, unique=True))
    due_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    status: NotificationStatus = Field(
        default=NotificationStatus.PENDING,
        sa_column=sa.Column(enum_type(NotificationStatus, "status"), nullable=False, server_default="PENDING"),
    )
    attempts: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    sent_at: datetime | None = timestamp_column()
    created_at: datetime | None = created_at_column()
