"""The tables and enums of cards."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from domain.columns import created_at_column, enum_type, foreign_key, id_column, timestamp_column


class CardState(StrEnum):
    # In stock, held by a branch (and possibly a club or customer manager).
    INITIAL = "INITIAL"
    ISSUED = "ISSUED"
    RETURNED = "RETURNED"
    VOID = "VOID"
    # Given to a member.
    ACTIVE = "ACTIVE"
    LOST = "LOST"
    RETIRED = "RETIRED"  # replaced or reissued: never usable again
    CANCELLED = "CANCELLED"


STOCK_STATES = (CardState.INITIAL, CardState.ISSUED, CardState.RETURNED)


USABLE_STATES = (CardState.ACTIVE, CardState.LOST)
ENDED_STATES = (CardState.RETIRED, CardState.CANCELLED, CardState.VOID)


class CardAction(StrEnum):
    ISSUE = "ISSUE"
    TRANSFER = "TRANSFER"
    RETURN = "RETURN"
    VOID = "VOID"
    SET_STATE = "SET_STATE"
    HAND_OVER = "HAND_OVER"
    REPORT_LOST = "REPORT_LOST"
    UNFREEZE = "UNFREEZE"
    REISSUE = "REISSUE"
    REPLACE = "REPLACE"
    CANCEL = "CANCEL"
    CHANGE_PIN = "CHANGE_PIN"
    RESET_PIN = "RESET_PIN"
    PROOF_FAILED = "PROOF_FAILED"


class Channel(StrEnum):
    COUNTER = "COUNTER"
    HOTLINE = "HOTLINE"
    SELF_SERVICE = "SELF_SERVICE"
    WAP = "WAP"
    SYSTEM = "SYSTEM"


class ApplicationStatus(StrEnum):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    FULFILLED = "FULFILLED"


class CardBatch(SQLModel, table=True):
    """Cards received from the card maker or HQ into a branch's stock, as one record [K1]."""

    __tablename__ = "card_batch"
    id: int | None = id_column()
    branch_id: int = foreign_key("branch.id")
    card_type: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    valid_until: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    card_count: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    first_number: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    last_number: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    source: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))
    staff_id: int = foreign_key("staff.id", index=False)
    received_at: datetime | None = created_at_column()


class Card(SQLModel, table=True):
    __tablename__ = "card"
    __table_args__ = (
        sa.Index("ix_card_stock", "branch_id", "state", "card_type"),
        # Stock cards have no member: index only members' cards, so receiving stock stays cheap.
        sa.Index("ix_card_member", "member_id", postgresql_where=sa.text("member_id IS NOT NULL")),
        # A member holds at most one usable card [K5].
        sa.Index(
            "uq_card_usable_per_member",
            "member_id",
            unique=True,
            postgresql_where=sa.text("state IN ('ACTIVE', 'LOST')"),
        ),
        sa.CheckConstraint("failed_attempt_count >= 0", name="failed_attempts_nonnegative"),
    )
    number: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    card_type: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    state: CardState = Field(sa_column=sa.Column(enum_type(CardState, "state"), nullable=False))
    valid_until: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    batch_id: int = foreign_key("card_batch.id", index=False)
    # The branch whose stock holds the card; for a member's card, the member's branch.
    branch_id: int = Field(sa_column=sa.Column(sa.BigInteger, sa.ForeignKey("branch.id"), nullable=False))
    holder_club_id: int | None = foreign_key("club.id", nullable=True, index=False)
    holder_staff_id: int | None = foreign_key("staff.id", nullable=True, index=False)
    member_id: int | None = foreign_key("member.id", nullable=True, index=False)
    pin_hash: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    failed_attempt_count: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    locked_until: datetime | None = timestamp_column()
    replaces_number: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    replaced_by_number: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    updated_at: datetime | None = created_at_column()


class CardEvent(SQLModel, table=True):
    """Every operation on a card: who, when, channel, what, why [K4]."""

    __tablename__ = "card_event"
    __table_args__ = (sa.Index("ix_card_event_branch_time", "branch_id", "occurred_at"),)
    id: int | None = id_column()
    card_number: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, index=True))
    card_type: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    action: CardAction = Field(sa_column=sa.Column(enum_type(CardAction, "action"), nullable=False))
    state_before: CardState = Field(sa_column=sa.Column(enum_type(CardState, "state_before"), nullable=False))
    state_after: CardState = Field(sa_column=sa.Column(enum_type(CardState, "state_after"), nullable=False))
    # The branch holding the card before the operation: stock counts group by it.
    branch_id: int = Field(sa_column=sa.Column(sa.BigInteger, sa.ForeignKey("branch.id"), nullable=False))
    member_id: int | None = foreign_key("member.id", nullable=True)
    staff_id: int | None = foreign_key("staff.id", nullable=True, index=False)
    channel: Channel = Field(sa_column=sa.Column(enum_type(Channel, "channel"), nullable=False))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.String(500), nullable=True))
    detail: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    )
    occurred_at: datetime | None = created_at_column()


class CardApplication(SQLModel, table=True):
    """A member's request for a card, with an optional pick-up booking [K4]."""

    __tablename__ = "card_application"
    __table_args__ = (
        sa.Index(
            "uq_card_application_open", "member_id", unique=True, postgresql_where=sa.text("status <> 'FULFILLED'")
        ),
    )
    id: int | None = id_column()
    member_id: int = foreign_key("member.id", index=False)
    status: ApplicationStatus = Field(sa_column=sa.Column(enum_type(ApplicationStatus, "status"), nullable=False))
    pickup_at: datetime | None = timestamp_column()
    pickup_place: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    requested_by_staff_id: int | None = foreign_key("staff.id", nullable=True, index=False)
    approved_by_staff_id: int | None = foreign_key("staff.id", nullable=True, index=False)
    card_number: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    created_at: datetime | None = created_at_column()


class StaffProofFailure(SQLModel, table=True):
    """The last wrong PIN or proof a staff account entered for a card, or the last time it showed a number that
    holds no card: its throttle counts those of the last lock period (`lifecycle.refuse_if_account_throttled`).
    One row per card and account, forgotten when the card's PIN is then given right, or when the account fails
    again after the lock period has passed."""

    __tablename__ = "staff_proof_failure"
    __table_args__ = (sa.Index("ix_staff_proof_failure_staff_time", "staff_id", "occurred_at"),)
    staff_id: int = Field(sa_column=sa.Column(sa.BigInteger, sa.ForeignKey("staff.id"), primary_key=True))
    card_number: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))  # as shown: maybe no card's
    occurred_at: datetime | None = created_at_column()
