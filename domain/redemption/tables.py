"""The tables and enums of redemption: the reward catalogue, consumption rules, gift stock, redemptions
with their lines, fulfilments and pick-ups, cancellations, and pre-booked automatic redemptions."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from domain.columns import (
    created_at_column,
    enum_type,
    foreign_key,
    id_column,
    reference,
    timestamp_column,
    unique_ignoring_case,
)


class RewardKind(StrEnum):
    """What a reward gives [R1]."""

    BILL_CREDIT = "BILL_CREDIT"  # an amount in fen credited to the member's billing account
    CALL_MINUTES = "CALL_MINUTES"  # free call minutes
    CONTENT = "CONTENT"  # a content service, by its code
    GIFT = "GIFT"  # a physical gift from a branch's stock [R4]
    PARTNER_COUPON = "PARTNER_COUPON"  # a partner's coupon: offered once partners issue them


# The kinds the billing system delivers (a fulfilment record each), and the kinds a booking may convert to.
DELIVERED_KINDS = (RewardKind.BILL_CREDIT, RewardKind.CALL_MINUTES, RewardKind.CONTENT)


class ItemStatus(StrEnum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    RETIRED = "RETIRED"


class RedemptionChannel(StrEnum):
    """Where a redemption was asked for [R2]."""

    WEB = "WEB"
    WAP = "WAP"
    SMS = "SMS"
    POS = "POS"
    TERMINAL = "TERMINAL"
    COUNTER = "COUNTER"
    HOTLINE = "HOTLINE"
    PARTNER = "PARTNER"
    BOOKING = "BOOKING"  # a pre-booked automatic redemption, carried out by its monthly run [R3]


class RedemptionStatus(StrEnum):
    COMPLETED = "COMPLETED"
    PARTLY_CANCELLED = "PARTLY_CANCELLED"
    CANCELLED = "CANCELLED"


class FulfilmentState(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"  # gave up after its attempts; an operator may retry it
    CANCELLED = "CANCELLED"


class SettlementOutcome(StrEnum):
    """What the billing system says of a delivery in doubt."""

    APPLIED = "APPLIED"  # it applied it: the delivery is DELIVERED, and its redemption is not cancelled
    NOT_APPLIED = "NOT_APPLIED"  # it did not: the delivery is FAILED, to retry or to cancel with its redemption


class PickupState(StrEnum):
    READY = "READY"
    HANDED_OVER = "HANDED_OVER"
    CANCELLED = "CANCELLED"


class StockMovementKind(StrEnum):
    RECEIVE = "RECEIVE"
    ADJUST = "ADJUST"
    TRANSFER_OUT = "TRANSFER_OUT"
    TRANSFER_IN = "TRANSFER_IN"
    REDEMPTION = "REDEMPTION"
    CANCELLATION = "CANCELLATION"


class BookingStatus(StrEnum):
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    CANCELLED = "CANCELLED"


class ExecutionOutcome(StrEnum):
    REDEEMED = "REDEEMED"
    SKIPPED = "SKIPPED"


class RewardItem(SQLModel, table=True):
    """A reward of the catalogue [R1][R4]: its price, who may redeem it, when and where, and how often."""

    __tablename__ = "reward_item"
    __table_args__ = (
        unique_ignoring_case("reward_item"),
        sa.CheckConstraint("points_price > 0", name="price_positive"),
        sa.CheckConstraint("available_to IS NULL OR available_to >= available_from", name="window_ordered"),
        sa.CheckConstraint("daily_limit IS NULL OR daily_limit > 0", name="daily_limit_positive"),
        sa.CheckConstraint("monthly_limit IS NULL OR monthly_limit > 0", name="monthly_limit_positive"),
        sa.CheckConstraint("benefit_amount IS NULL OR benefit_amount > 0", name="benefit_positive"),
    )
    id: int | None = id_column()
    code: str = Field(sa_column=sa.Column(sa.String(32), nullable=False, unique=True))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    description: str | None = Field(default=None, sa_column=sa.Column(sa.String(500), nullable=True))
    kind: RewardKind = Field(sa_column=sa.Column(enum_type(RewardKind, "kind"), nullable=False))
    points_price: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    # What one unit gives: fen of bill credit, or minutes; the content service's code for CONTENT.
    benefit_amount: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    content_code: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))
    grade_codes: list[str] = Field(sa_column=sa.Column(JSONB, nullable=False))
    available_from: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    available_to: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))
    daily_limit: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    monthly_limit: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    # Headquarters for a national item; a province for an item of that province and its cities.
    branch_id: int = foreign_key("branch.id")
    status: ItemStatus = Field(
        default=ItemStatus.DRAFT,
        sa_column=sa.Column(enum_type(ItemStatus, "status"), nullable=False, server_default=ItemStatus.DRAFT.value),
    )
    picture_url: str | None = Field(default=None, sa_column=sa.Column(sa.String(500), nullable=True))
    staff_id: int = foreign_key("staff.id", index=False)  # who created it
    created_at: datetime | None = created_at_column()
    updated_at: datetime | None = created_at_column()


class ConsumptionRule(SQLModel, table=True):
    """Who may redeem what [P2]: a grade (or every grade) may redeem an item, a kind of item, or every item,
    when the member has at least a minimum of points available; in force for its dates (inclusive)."""

    __tablename__ = "consumption_rule"
    __table_args__ = (
        sa.CheckConstraint("item_kind IS NULL OR item_id IS NULL", name="kind_or_item"),
        sa.CheckConstraint("minimum_available_points IS NULL OR minimum_available_points >= 0", name="minimum"),
        sa.CheckConstraint("effective_to IS NULL OR effective_to >= effective_from", name="dates_ordered"),
    )
    id: int | None = id_column()
    grade_code: str | None = Field(
        default=None, sa_column=sa.Column(sa.String(32), sa.ForeignKey("grade.code"), nullable=True)
    )
    item_kind: RewardKind | None = Field(
        default=None, sa_column=sa.Column(enum_type(RewardKind, "item_kind"), nullable=True)
    )
    item_id: int | None = foreign_key("reward_item.id", nullable=True, index=False)
    minimum_available_points: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    effective_from: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    effective_to: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))
    created_at: datetime | None = created_at_column()


class ConsumptionRuleChange(SQLModel, table=True):
    """Every change of a consumption rule: who, when, before and after."""

    __tablename__ = "consumption_rule_change"
    id: int | None = id_column()
    rule_id: int = foreign_key("consumption_rule.id")
    action: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    before: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    after: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    staff_id: int | None = foreign_key("staff.id", nullable=True, index=False)
    changed_at: datetime | None = created_at_column()


class GiftStock(SQLModel, table=True):
    """How many of a gift a branch holds; never negative [R4]."""

    __tablename__ = "gift_stock"
    __table_args__ = (sa.CheckConstraint("quantity >= 0", name="quantity_nonnegative"),)
    item_id: int = Field(sa_column=sa.Column(sa.BigInteger, sa.ForeignKey("reward_item.id"), primary_key=True))
    branch_id: int = Field(sa_column=sa.Column(sa.BigInteger, sa.ForeignKey("branch.id"), primary_key=True))
    quantity: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    updated_at: datetime | None = created_at_column()


class GiftStockMovement(SQLModel, table=True):
    """One change of a branch's stock of a gift: who, when, why, and the quantity after it."""

    __tablename__ = "gift_stock_movement"
    __table_args__ = (sa.Index("ix_gift_stock_movement_stock", "item_id", "branch_id", "id"),)
    id: int | None = id_column()
    item_id: int = reference()
    branch_id: int = reference()
    kind: StockMovementKind = Field(sa_column=sa.Column(enum_type(StockMovementKind, "kind"), nullable=False))
    quantity: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))  # signed
    balance_after: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.String(500), nullable=True))
    staff_id: int | None = reference(nullable=True)
    redemption_id: int | None = reference(nullable=True)
    other_branch_id: int | None = reference(nullable=True)  # the other side of a transfer
    created_at: datetime | None = created_at_column()


class Redemption(SQLModel, table=True):
    """Points spent at once on rewards [R2]: where, through which channel, who handled it, and how much."""

    __tablename__ = "redemption"
    __table_args__ = (
        sa.CheckConstraint("points > 0", name="points_positive"),
        sa.CheckConstraint("cancelled_points >= 0 AND cancelled_points <= points", name="cancelled_within"),
        sa.Index("ix_redemption_member_day", "member_id", "redeemed_on", "id"),
        sa.Index("ix_redemption_branch_day", "branch_id", "redeemed_on"),
        sa.Index("ix_redemption_home_day", "home_branch_id", "redeemed_on"),
        sa.Index("ix_redemption_transaction", "transaction_id"),
    )
    id: int | None = id_column()
    member_id: int = reference()
    channel: RedemptionChannel = Field(sa_column=sa.Column(enum_type(RedemptionChannel, "channel"), nullable=False))
    outlet_id: int | None = reference(nullable=True)
    branch_id: int = reference()  # where it was made: the outlet's branch, else the handling staff's or the member's
    home_branch_id: int = reference()  # the member's branch, whose rules decided it [A1]
    cross_branch: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))  # made in another province
    staff_id: int | None = reference(nullable=True)  # who handled it for the member
    card_number: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    booking_id: int | None = reference(nullable=True)
    points: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    cancelled_points: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    status: RedemptionStatus = Field(
        sa_column=sa.Column(enum_type(RedemptionStatus, "status"), nullable=False, server_default="COMPLETED")
    )
    transaction_id: int = reference()  # the REDEMPTION entry of the ledger
    redeemed_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    created_at: datetime | None = created_at_column()


class RedemptionLine(SQLModel, table=True):
    """One reward of a redemption, at the price it had then."""

    __tablename__ = "redemption_line"
    __table_args__ = (
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint("cancelled_quantity >= 0 AND cancelled_quantity <= quantity", name="cancelled_within"),
        sa.Index("ix_redemption_line_limits", "member_id", "item_id", "redeemed_on"),
    )
    id: int | None = id_column()
    redemption_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, index=True))
    member_id: int = reference()
    item_id: int = reference()
    kind: RewardKind = Field(sa_column=sa.Column(enum_type(RewardKind, "kind"), nullable=False))
    quantity: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    unit_points: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    points: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    cancelled_quantity: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    redeemed_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))


class Fulfilment(SQLModel, table=True):
    """The outbox to the billing system: what a line of bill credit, minutes or content must deliver."""

    __tablename__ = "fulfilment"
    __table_args__ = (
        sa.Index("ix_fulfilment_state", "state", "id"),  # the pending ones to deliver, the failed ones to retry
    )
    id: int | None = id_column()
    redemption_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, index=True))
    line_id: int = reference()
    member_id: int = reference()
    item_id: int = reference()
    kind: RewardKind = Field(sa_column=sa.Column(enum_type(RewardKind, "kind"), nullable=False))
    account_id: int | None = reference(nullable=True)  # the member's billing account it is credited to
    quantity: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    amount: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))  # fen or minutes
    content_code: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))
    state: FulfilmentState = Field(
        sa_column=sa.Column(enum_type(FulfilmentState, "state"), nullable=False, server_default="PENDING")
    )
    attempts: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.String(500), nullable=True))
    delivered_at: datetime | None = timestamp_column()
    created_at: datetime | None = created_at_column()
    updated_at: datetime | None = created_at_column()


class FulfilmentDoubt(SQLModel, table=True):
    """A delivery that may have reached the billing system unanswered: marked before each send, on a connection
    of its own, and unmarked by its answer or by an operator's settlement (migration 0053). No foreign key: its
    check would wait for the lock the sender holds on the fulfilment while the gateway answers."""

    __tablename__ = "fulfilment_doubt"
    fulfilment_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False))
    since: datetime | None = created_at_column()  # the last send


class FulfilmentSettlement(SQLModel, table=True):
    """What an operator recorded of a delivery in doubt, having asked the billing system: kept, never changed."""

    __tablename__ = "fulfilment_settlement"
    id: int | None = id_column()
    fulfilment_id: int = reference(index=True)
    outcome: SettlementOutcome = Field(sa_column=sa.Column(enum_type(SettlementOutcome, "outcome"), nullable=False))
    staff_id: int = reference()  # who (before `reference`, the column, hides the function in this body)
    reference: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))  # the billing system's
    settled_at: datetime | None = created_at_column()


class GiftPickup(SQLModel, table=True):
    """A gift waiting at a branch for its member, then handed over: by whom and when."""

    __tablename__ = "gift_pickup"
    __table_args__ = (sa.Index("ix_gift_pickup_branch_state", "branch_id", "state"),)
    id: int | None = id_column()
    redemption_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, index=True))
    line_id: int = reference()
    member_id: int = reference()
    item_id: int = reference()
    branch_id: int = reference()
    quantity: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    state: PickupState = Field(
        sa_column=sa.Column(enum_type(PickupState, "state"), nullable=False, server_default="READY")
    )
    staff_id: int | None = reference(nullable=True)  # who handed it over
    handed_over_at: datetime | None = timestamp_column()
    created_at: datetime | None = created_at_column()


class RedemptionCancellation(SQLModel, table=True):
    """Points a cancellation gave back to the lots they came from (and what had expired meanwhile)."""

    __tablename__ = "redemption_cancellation"
    __table_args__ = (sa.Index("ix_redemption_cancellation_transaction", "transaction_id"),)
    id: int | None = id_column()
    redemption_id: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False, index=True))
    points: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))  # returned in all
    expired_points: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))  # of which went to breakage
    transaction_id: int = reference()  # the CANCELLATION entry
    expiry_transaction_id: int | None = reference(nullable=True)  # the EXPIRY entry of the expired share
    lines: list[dict[str, Any]] = Field(sa_column=sa.Column(JSONB, nullable=False))  # [{line_id, quantity, points}]
    staff_id: int | None = reference(nullable=True)  # None: the member cancelled
    reason: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    created_at: datetime | None = created_at_column()


class AutoRedemption(SQLModel, table=True):
    """A pre-booked conversion, carried out every month from its first month to its last [R3]."""

    __tablename__ = "auto_redemption"
    __table_args__ = (
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint("end_month IS NULL OR end_month >= start_month", name="months_ordered"),
        sa.Index("ix_auto_redemption_member", "member_id", "id"),
        # A reward's open bookings, which its retirement ends.
        sa.Index("ix_auto_redemption_open_item", "item_id", postgresql_where=sa.text("status IN ('ACTIVE', 'PAUSED')")),
    )
    id: int | None = id_column()
    member_id: int = reference()
    item_id: int = foreign_key("reward_item.id", index=False)
    quantity: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    # The reward's price when it was booked: a month's run charges no more (PRICE_CHANGED), a lower price as it is.
    unit_points: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    start_month: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    end_month: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))
    # The first days of the months it was last paused and resumed in: a month from the first to before the second
    # is skipped, even by its run made late (the booking was paused at its end).
    paused_month: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))
    resumed_month: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))
    status: BookingStatus = Field(
        sa_column=sa.Column(enum_type(BookingStatus, "status"), nullable=False, server_default="ACTIVE")
    )
    staff_id: int | None = reference(nullable=True)  # who booked it for the member
    # Why it was cancelled when nobody cancelled it: ITEM_RETIRED (its reward is offered no more).
    cancel_reason: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))
    created_at: datetime | None = created_at_column()
    updated_at: datetime | None = created_at_column()


class AutoRedemptionExecution(SQLModel, table=True):
    """What a booking's run did in a month: once per (booking, month), redeemed or skipped with the reason."""

    __tablename__ = "auto_redemption_execution"
    booking_id: int = Field(sa_column=sa.Column(sa.BigInteger, primary_key=True))
    month: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    member_id: int = reference()
    outcome: ExecutionOutcome = Field(sa_column=sa.Column(enum_type(ExecutionOutcome, "outcome"), nullable=False))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.String(32), nullable=True))  # the error code
    redemption_id: int | None = reference(nullable=True)
    run_id: int | None = reference(nullable=True)
    executed_at: datetime | None = created_at_column()


def bookings_ended(condition: Any, reason: str, now: datetime) -> sa.Update:
    """The statement that cancels the open bookings `condition` selects, saying why (`cancel_reason`). It locks them
    first in id order, as the bookings' monthly run does, so that the two never wait for each other in a cycle."""
    open_ = [BookingStatus.ACTIVE.value, BookingStatus.PAUSED.value]
    locked = (
        sa.select(AutoRedemption.id)
        .where(condition, AutoRedemption.status.in_(open_))
        .order_by(AutoRedemption.id)
        .with_for_update()
        .cte("locked")
    )
    return (
        sa.update(AutoRedemption)
        .where(AutoRedemption.id.in_(sa.select(locked.c.id)))
        .values(status=BookingStatus.CANCELLED.value, cancel_reason=reason, updated_at=now)
    )
