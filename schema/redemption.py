"""Redemption as GraphQL types: the catalogue, consumption rules, gift stock, redemptions with their lines,
fulfilments, pick-ups and cancellations, quotes, and pre-booked automatic redemptions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from domain.access import Permission, role_grants
from domain.paging import listed_max
from domain.redemption import tables as redemption_tables
from domain.redemption.bookings import AutoRedemptionRun, executions_listed_max
from domain.redemption.catalogue import grades_max
from domain.redemption.redeem import cancellations_listed_max, items_max, settlements_listed_max
from domain.work.tables import JobStatus
from schema.common import Long, Month, UserError, client_keys, joined, listed, node_keys, row_type
from schema.organisation import BranchType, OutletType, StaffType

if TYPE_CHECKING:
    from schema.members import MemberType
    from schema.points import PointsTransactionType

RewardKind = strawberry.enum(redemption_tables.RewardKind, description="What a reward gives [R1].")
ItemStatus = strawberry.enum(redemption_tables.ItemStatus, name="RewardItemStatus")
RedemptionChannel = strawberry.enum(redemption_tables.RedemptionChannel, description="Where a redemption was asked.")
RedemptionStatus = strawberry.enum(redemption_tables.RedemptionStatus)
FulfilmentState = strawberry.enum(redemption_tables.FulfilmentState)
SettlementOutcome = strawberry.enum(redemption_tables.SettlementOutcome)
PickupState = strawberry.enum(redemption_tables.PickupState)
StockMovementKind = strawberry.enum(redemption_tables.StockMovementKind)
BookingStatus = strawberry.enum(redemption_tables.BookingStatus)
ExecutionOutcome = strawberry.enum(redemption_tables.ExecutionOutcome)

_Member = Annotated["MemberType", strawberry.lazy("schema.members")]
_Transaction = Annotated["PointsTransactionType", strawberry.lazy("schema.points")]


@strawberry.type(name="RewardItem", description="A reward of the catalogue [R1]: price, grades, window, limits.")
class RewardItemType(relay.Node):
    id: relay.NodeID[int]
    code: str
    name: str
    description: str | None
    kind: RewardKind
    points_price: int
    benefit_amount: int | None = strawberry.field(description="What one unit gives: fen of bill credit, or minutes.")
    content_code: str | None = strawberry.field(description="The content service a CONTENT reward gives.")
    grade_codes: list[str] = strawberry.field(description="The grades that may redeem it.", metadata=listed(grades_max))
    available_from: date
    available_to: date | None = strawberry.field(description="The last day it is offered (inclusive); null: open.")
    daily_limit: int | None = strawberry.field(description="Units one member may redeem a day; null: no limit.")
    monthly_limit: int | None = strawberry.field(description="Units one member may redeem a calendar month.")
    status: ItemStatus
    picture_url: str | None
    is_type_of = row_type(redemption_tables.RewardItem)

    @strawberry.field(description="Headquarters for a national reward, else the province it is offered in.")
    @joined("branches", "branch_id")
    def branch(self, info: strawberry.Info) -> BranchType: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.items_scoped.load_many(node_keys(node_ids))


@strawberry.type(description="A reward as the member sees it today: can they afford it, and what is left of it.")
class Offer:
    item: RewardItemType
    affordable: bool = strawberry.field(description="The member has the points (and any minimum a rule asks).")
    remaining_today: int | None = strawberry.field(description="Units left of the daily limit; null: no limit.")
    remaining_this_month: int | None = strawberry.field(description="Units left of the monthly limit; null: none.")


@strawberry.type(name="ConsumptionRuleChange")
class ConsumptionRuleChangeType:
    action: str
    before: JSON | None = strawberry.field(resolver=lambda root: client_keys(root.before))
    after: JSON = strawberry.field(resolver=lambda root: client_keys(root.after))
    changed_at: datetime

    @strawberry.field
    @joined("staff", "staff_id")
    def changed_by(self, info: strawberry.Info) -> StaffType | None: ...


@strawberry.type(name="ConsumptionRule", description="Who may redeem what, from what balance, for its dates [P2].")
class ConsumptionRuleType(relay.Node):
    id: relay.NodeID[int]
    grade_code: str | None = strawberry.field(description="The grade it lets; null: every grade.")
    item_kind: RewardKind | None = strawberry.field(description="The kind of reward it lets; null with no item: all.")
    minimum_available_points: int | None
    effective_from: date
    effective_to: date | None
    is_type_of = row_type(redemption_tables.ConsumptionRule)

    @strawberry.field(description="The one reward it lets, if it names one; null too if you do not see it (as node).")
    @joined("items_scoped", "item_id")
    def item(self, info: strawberry.Info) -> RewardItemType | None: ...

    @strawberry.field(
        description="Its last 100 changes, oldest first: who, when, before and after.", metadata=listed(listed_max)
    )
    @joined("consumption_rule_changes", "id")
    def changes(self, info: strawberry.Info) -> list[ConsumptionRuleChangeType]: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        from domain.redemption import catalogue

        keys = node_keys(node_ids)
        if not role_grants(info.context.principal, Permission.REDEMPTION_READ):
            return [None for _ in keys]  # as the list's readers see them; null for anyone else
        rules = await info.context.read(lambda s: catalogue.list_consumption_rules(s, info.context.principal))
        by_id = {r.id: r for r in rules}
        return [by_id.get(i) for i in keys]


@strawberry.type(name="GiftStock", description="How many of a gift a branch holds [R4].")
class GiftStockType:
    quantity: int
    updated_at: datetime
    is_type_of = row_type(redemption_tables.GiftStock)

    @strawberry.field
    @joined("items", "item_id")
    def item(self, info: strawberry.Info) -> RewardItemType: ...

    @strawberry.field
    @joined("branches", "branch_id")
    def branch(self, info: strawberry.Info) -> BranchType: ...


@strawberry.type(name="GiftStockMovement", description="One change of a branch's stock: who, when, why, what was left.")
class GiftStockMovementType:
    kind: StockMovementKind
    quantity: int = strawberry.field(description="Signed: positive in, negative out.")
    balance_after: int
    reason: str | None
    created_at: datetime
    is_type_of = row_type(redemption_tables.GiftStockMovement)

    @strawberry.field
    @joined("items", "item_id")
    def item(self, info: strawberry.Info) -> RewardItemType: ...

    @strawberry.field
    @joined("branches", "branch_id")
    def branch(self, info: strawberry.Info) -> BranchType: ...

    @strawberry.field(description="The other branch of a transfer.")
    @joined("branches", "other_branch_id")
    def other_branch(self, info: strawberry.Info) -> BranchType | None: ...

    @strawberry.field
    @joined("staff", "staff_id")
    def staff(self, info: strawberry.Info) -> StaffType | None: ...


@strawberry.type(name="RedemptionLine", description="One reward of a redemption, at the price it had then.")
class RedemptionLineType:
    kind: RewardKind
    quantity: int
    unit_points: int
    points: int
    cancelled_quantity: int
    is_type_of = row_type(redemption_tables.RedemptionLine)

    @strawberry.field
    @joined("items", "item_id")
    def item(self, info: strawberry.Info) -> RewardItemType: ...


@strawberry.type(name="FulfilmentSettlement", description="The billing system's answer about a delivery in doubt.")
class FulfilmentSettlementType:
    outcome: SettlementOutcome
    reference: str = strawberry.field(description="The billing system's reference for what it found.")
    settled_at: datetime
    is_type_of = row_type(redemption_tables.FulfilmentSettlement)

    @strawberry.field
    @joined("staff", "staff_id")
    def settled_by(self, info: strawberry.Info) -> StaffType: ...


@strawberry.type(name="Fulfilment", description="What the billing system delivers for a line: its state and attempts.")
class FulfilmentType(relay.Node):
    id: relay.NodeID[int]
    kind: RewardKind
    quantity: int
    amount: int | None = strawberry.field(description="Fen of bill credit, or minutes, in all.")
    content_code: str | None
    state: FulfilmentState
    attempts: int
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    is_type_of = row_type(redemption_tables.Fulfilment)

    @strawberry.field
    @joined("items", "item_id")
    def item(self, info: strawberry.Info) -> RewardItemType: ...

    @strawberry.field
    @joined("redemptions_scoped", "redemption_id")
    def redemption(self, info: strawberry.Info) -> RedemptionType | None: ...

    @strawberry.field(
        description="The last send of it the billing system may have applied unanswered (the gateway raised, or the"
        " sender stopped): its redemption is not cancelled until it is delivered or settled; null: not in doubt."
    )
    async def in_doubt_since(self, info: strawberry.Info) -> datetime | None:
        doubt = await info.context.loaders.fulfilment_doubts.load(self.id)
        return doubt.since if doubt is not None else None

    @strawberry.field(
        description="What operators recorded of it, having asked the billing system, oldest first (the last 20;"
        " staff; empty to a member).",
        metadata=listed(settlements_listed_max),
    )
    async def settlements(self, info: strawberry.Info) -> list[FulfilmentSettlementType]:
        if not role_grants(info.context.principal, Permission.REDEMPTION_READ):
            return []
        return await info.context.loaders.settlements_by_fulfilment.load(self.id)

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.fulfilments_scoped.load_many(node_keys(node_ids))


@strawberry.type(name="GiftPickup", description="A gift waiting at a branch for its member, then handed over.")
class GiftPickupType(relay.Node):
    id: relay.NodeID[int]
    quantity: int
    state: PickupState
    handed_over_at: datetime | None
    created_at: datetime
    is_type_of = row_type(redemption_tables.GiftPickup)

    @strawberry.field
    @joined("items", "item_id")
    def item(self, info: strawberry.Info) -> RewardItemType: ...

    @strawberry.field
    @joined("branches", "branch_id")
    def branch(self, info: strawberry.Info) -> BranchType: ...

    @strawberry.field
    @joined("staff", "staff_id")
    def handed_over_by(self, info: strawberry.Info) -> StaffType | None: ...

    @strawberry.field
    @joined("redemptions_scoped", "redemption_id")
    def redemption(self, info: strawberry.Info) -> RedemptionType | None: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.pickups_scoped.load_many(node_keys(node_ids))


@strawberry.type(description="A reward and how many of it a cancellation took back.")
class CancelledItem:
    quantity: int
    points: int
    item_id: strawberry.Private[int]

    @strawberry.field
    @joined("items", "item_id")
    def item(self, info: strawberry.Info) -> RewardItemType: ...


@strawberry.type(name="RedemptionCancellation", description="Points given back, to the lots they came from.")
class RedemptionCancellationType:
    points: int = strawberry.field(description="Given back in all.")
    expired_points: int = strawberry.field(description="Of which went on to breakage: their lots had expired.")
    reason: str
    created_at: datetime
    is_type_of = row_type(redemption_tables.RedemptionCancellation)

    @strawberry.field(metadata=listed(items_max))
    def items(self) -> list[CancelledItem]:
        return [CancelledItem(quantity=x["quantity"], points=x["points"], item_id=x["item_id"]) for x in self.lines]

    @strawberry.field(description="Who cancelled it; null: the member.")
    @joined("staff", "staff_id")
    def cancelled_by(self, info: strawberry.Info) -> StaffType | None: ...


@strawberry.type(name="Redemption", description="Points spent on rewards [R2]: where, how, by whom, and what.")
class RedemptionType(relay.Node):
    id: relay.NodeID[int]
    channel: RedemptionChannel
    cross_branch: bool = strawberry.field(description="Made in another province than the member's own [P6].")
    points: int
    cancelled_points: int
    status: RedemptionStatus
    redeemed_on: date
    created_at: datetime
    is_type_of = row_type(redemption_tables.Redemption)

    @strawberry.field
    @joined("members_scoped", "member_id")
    def member(self, info: strawberry.Info) -> _Member | None: ...

    @strawberry.field
    @joined("outlets", "outlet_id")
    def outlet(self, info: strawberry.Info) -> OutletType | None: ...

    @strawberry.field(description="Where it was made: the outlet's branch, else the serving staff's or the member's.")
    @joined("branches", "branch_id")
    def branch(self, info: strawberry.Info) -> BranchType: ...

    @strawberry.field(description="The member's branch, whose rules decided it [A1].")
    @joined("branches", "home_branch_id")
    def home_branch(self, info: strawberry.Info) -> BranchType: ...

    @strawberry.field(description="The staff member who served the member; null: the member themselves.")
    @joined("staff", "staff_id")
    def handled_by(self, info: strawberry.Info) -> StaffType | None: ...

    @strawberry.field(description="The ledger entry that took the points.")
    @joined("transactions_scoped", "transaction_id")
    def transaction(self, info: strawberry.Info) -> _Transaction | None: ...

    @strawberry.field(metadata=listed(items_max))
    @joined("lines_by_redemption", "id")
    def lines(self, info: strawberry.Info) -> list[RedemptionLineType]: ...

    @strawberry.field(description="What the billing system delivers: bill credit, minutes, content.",
                      metadata=listed(items_max))  # fmt: skip
    @joined("fulfilments_by_redemption", "id")
    def fulfilments(self, info: strawberry.Info) -> list[FulfilmentType]: ...

    @strawberry.field(description="The gifts waiting at (or handed over by) a branch.", metadata=listed(items_max))
    @joined("pickups_by_redemption", "id")
    def pickups(self, info: strawberry.Info) -> list[GiftPickupType]: ...

    @strawberry.field(description="Its last 20 cancellations, oldest first.", metadata=listed(cancellations_listed_max))
    @joined("cancellations_by_redemption", "id")
    def cancellations(self, info: strawberry.Info) -> list[RedemptionCancellationType]: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.redemptions_scoped.load_many(node_keys(node_ids))


@strawberry.type(description="One reward of a quote, at today's price.")
class QuotedLine:
    quantity: int
    unit_points: int
    points: int
    item_id: strawberry.Private[int]

    @strawberry.field
    @joined("items", "item_id")
    def item(self, info: strawberry.Info) -> RewardItemType: ...


@strawberry.type(description="Points that a redemption would take from the lots expiring on one day.")
class QuotedLot:
    expires_on: date
    points: int


@strawberry.type(description="What a redemption would do, and every problem that would refuse it; nothing is written.")
class RedemptionQuote:
    errors: list[UserError] = strawberry.field(description="Each check that fails; empty: redeemPoints would succeed.")
    points: int
    available: Long = strawberry.field(description="The member's points available now.")
    available_after: Long
    cross_branch: bool
    lines: list[QuotedLine]
    lots: list[QuotedLot] = strawberry.field(description="The lots the points would leave, soonest-expiring first.")


# --- bookings ------------------------------------------------------------------------------------


@strawberry.type(
    name="AutoRedemptionExecution",
    description="What a booking's monthly run did: once per month. A month skipped for want of points (or"
    " BELOW_MINIMUM_BALANCE, DAILY_LIMIT_REACHED, NO_BILLING_ACCOUNT, PRICE_CHANGED) is tried again by the month's"
    " later runs while it lasts (the last try is shown); a redeemed one never.",
)
class AutoRedemptionExecutionType:
    month: Month
    outcome: ExecutionOutcome
    reason: str | None = strawberry.field(description="Why it was skipped: the error code of the check that failed.")
    executed_at: datetime = strawberry.field(description="When the month was redeemed, or last tried.")
    is_type_of = row_type(redemption_tables.AutoRedemptionExecution)

    @strawberry.field
    @joined("redemptions_scoped", "redemption_id")
    def redemption(self, info: strawberry.Info) -> RedemptionType | None: ...


@strawberry.type(name="AutoRedemption", description="A pre-booked monthly conversion of points [R3].")
class AutoRedemptionType(relay.Node):
    id: relay.NodeID[int]
    quantity: int
    unit_points: Long | None = strawberry.field(
        description="The reward's price when it was booked: a month is charged no more (a dearer month is skipped,"
        " PRICE_CHANGED), and a lower price as it is."
    )
    start_month: Month
    end_month: Month | None
    status: BookingStatus
    cancel_reason: str | None = strawberry.field(
        description="Why it was cancelled when nobody cancelled it: ITEM_RETIRED (its reward is offered no more); "
        "null otherwise."
    )
    created_at: datetime
    is_type_of = row_type(redemption_tables.AutoRedemption)

    @strawberry.field
    @joined("items", "item_id")
    def item(self, info: strawberry.Info) -> RewardItemType: ...

    @strawberry.field
    @joined("members_scoped", "member_id")
    def member(self, info: strawberry.Info) -> _Member | None: ...

    @strawberry.field(
        description="Its monthly runs, latest first (the last 24).", metadata=listed(executions_listed_max)
    )
    @joined("executions_by_booking", "id")
    def executions(self, info: strawberry.Info) -> list[AutoRedemptionExecutionType]: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.bookings_scoped.load_many(node_keys(node_ids))


# --- inputs, filters and payloads -----------------------------------------------------------------


@strawberry.input
class CreateRewardItemInput:
    branch_id: relay.GlobalID = strawberry.field(description="Headquarters for a national reward, else a province.")
    code: str = strawberry.field(description="Unique code: letters, digits, _ . - (max 32).")
    name: str
    kind: RewardKind
    points_price: int
    grade_codes: list[str]
    available_from: date
    available_to: date | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    benefit_amount: int | None = strawberry.field(
        default=strawberry.UNSET, description="Fen for BILL_CREDIT, minutes for CALL_MINUTES, per unit."
    )
    content_code: str | None = strawberry.field(default=strawberry.UNSET, description="For CONTENT rewards.")
    daily_limit: int | None = strawberry.UNSET
    monthly_limit: int | None = strawberry.UNSET
    picture_url: str | None = strawberry.UNSET


@strawberry.input(description="Only the fields given are changed; null clears an optional field.")
class UpdateRewardItemInput:
    id: relay.GlobalID
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    points_price: int | None = strawberry.UNSET
    grade_codes: list[str] | None = strawberry.UNSET
    available_from: date | None = strawberry.UNSET
    available_to: date | None = strawberry.UNSET
    benefit_amount: int | None = strawberry.UNSET
    content_code: str | None = strawberry.UNSET
    daily_limit: int | None = strawberry.UNSET
    monthly_limit: int | None = strawberry.UNSET
    picture_url: str | None = strawberry.UNSET


@strawberry.input(description="A draft reward is offered from now on, within its window.")
class ActivateRewardItemInput:
    id: relay.GlobalID


@strawberry.input(description="A reward is offered no more, for good.")
class RetireRewardItemInput:
    id: relay.GlobalID


@strawberry.type
class RewardItemPayload:
    errors: list[UserError]
    item: RewardItemType | None = None


@strawberry.input
class RewardItemFilter:
    kind: RewardKind | None = strawberry.UNSET
    status: ItemStatus | None = strawberry.UNSET


@strawberry.input
class CatalogueFilter:
    kind: RewardKind | None = strawberry.UNSET


@strawberry.input(description="A rule takes effect from tomorrow at the earliest.")
class CreateConsumptionRuleInput:
    effective_from: date
    effective_to: date | None = strawberry.UNSET
    grade_code: str | None = strawberry.field(default=strawberry.UNSET, description="Null: every grade.")
    item_kind: RewardKind | None = strawberry.UNSET
    item_id: relay.GlobalID | None = strawberry.UNSET
    minimum_available_points: int | None = strawberry.UNSET


@strawberry.input(description="A rule in effect takes only an effectiveTo of today or later (ending it).")
class UpdateConsumptionRuleInput:
    id: relay.GlobalID
    effective_from: date | None = strawberry.UNSET
    effective_to: date | None = strawberry.UNSET
    minimum_available_points: int | None = strawberry.UNSET


@strawberry.type
class ConsumptionRulePayload:
    errors: list[UserError]
    rule: ConsumptionRuleType | None = None


@strawberry.input(description="Gifts arrive at a branch. Retrying with the same idempotencyKey is safe.")
class ReceiveGiftStockInput:
    item_id: relay.GlobalID
    branch_id: relay.GlobalID
    quantity: int
    reason: str
    idempotency_key: str


@strawberry.input(description="A counted correction: quantity is signed; the stock never goes below zero.")
class AdjustGiftStockInput:
    item_id: relay.GlobalID
    branch_id: relay.GlobalID
    quantity: int
    reason: str
    idempotency_key: str


@strawberry.input(description="Gifts move between two branches of your subtree.")
class TransferGiftStockInput:
    item_id: relay.GlobalID
    from_branch_id: relay.GlobalID
    to_branch_id: relay.GlobalID
    quantity: int
    reason: str
    idempotency_key: str


@strawberry.type
class GiftStockPayload:
    errors: list[UserError]
    movement: GiftStockMovementType | None = None
    replayed: bool = False


@strawberry.input
class GiftStockFilter:
    item_id: relay.GlobalID | None = strawberry.UNSET
    branch_id: relay.GlobalID | None = strawberry.UNSET


@strawberry.input
class ItemQuantityInput:
    item_id: relay.GlobalID
    quantity: int = strawberry.field(description="1 to 100.")


@strawberry.input(description="What a redemption would do, without doing it; the same fields as redeemPoints.")
class QuoteRedemptionInput:
    items: list[ItemQuantityInput] = strawberry.field(description="1 to 20 rewards, each named once.")
    channel: RedemptionChannel
    member_id: relay.GlobalID | None = strawberry.field(
        default=strawberry.UNSET, description="The member served (staff at a counter or hotline)."
    )
    outlet_id: relay.GlobalID | None = strawberry.UNSET
    card_number: str | None = strawberry.field(default=strawberry.UNSET, description="Shown at a POS or terminal.")
    card_pin: str | None = strawberry.UNSET


@strawberry.input(description="Spend points on rewards [R2]. Retrying with the same idempotencyKey is safe.")
class RedeemPointsInput:
    items: list[ItemQuantityInput] = strawberry.field(description="1 to 20 rewards, each named once.")
    channel: RedemptionChannel = strawberry.field(
        description="Members: WEB, WAP, SMS. Staff: COUNTER, HOTLINE (name the member), POS, TERMINAL (the member's"
        " card and PIN, at an outlet)."
    )
    idempotency_key: str
    member_id: relay.GlobalID | None = strawberry.UNSET
    outlet_id: relay.GlobalID | None = strawberry.UNSET
    card_number: str | None = strawberry.UNSET
    card_pin: str | None = strawberry.UNSET
    expected_points: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="The points the member agreed to (a quote's `points`): when the rewards cost otherwise (a price"
        " changed since), the redemption is refused, PRICE_CHANGED, and nothing is spent.",
    )


@strawberry.input(description="Cancel a redemption, or some of its rewards; the points go back to their lots.")
class CancelRedemptionInput:
    redemption_id: relay.GlobalID
    reason: str
    idempotency_key: str
    items: list[ItemQuantityInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Some quantity of some rewards; left out: everything left."
    )


@strawberry.type
class RedemptionPayload:
    errors: list[UserError]
    redemption: RedemptionType | None = None
    replayed: bool = strawberry.field(
        default=False,
        description="This answer is the stored one of an earlier request with the same idempotency key, as it was"
        " then: nothing was done again.",
    )


@strawberry.input
class RedemptionFilter:
    start: date | None = strawberry.field(default=strawberry.UNSET, name="from", description="Made on or after.")
    end: date | None = strawberry.field(default=strawberry.UNSET, name="to", description="Made on or before.")
    channel: RedemptionChannel | None = strawberry.UNSET
    status: RedemptionStatus | None = strawberry.UNSET
    item_kind: RewardKind | None = strawberry.UNSET
    cross_branch: bool | None = strawberry.UNSET


@strawberry.input
class StaffRedemptionFilter:
    member_id: relay.GlobalID | None = strawberry.UNSET
    outlet_id: relay.GlobalID | None = strawberry.UNSET
    branch_id: relay.GlobalID | None = strawberry.field(default=strawberry.UNSET, description="Where it was made.")
    item_id: relay.GlobalID | None = strawberry.UNSET
    start: date | None = strawberry.field(default=strawberry.UNSET, name="from", description="Made on or after.")
    end: date | None = strawberry.field(default=strawberry.UNSET, name="to", description="Made on or before.")
    channel: RedemptionChannel | None = strawberry.UNSET
    status: RedemptionStatus | None = strawberry.UNSET
    item_kind: RewardKind | None = strawberry.UNSET
    cross_branch: bool | None = strawberry.UNSET


@strawberry.type(
    description="Points redeemed of one kind of reward through one channel in a period, net of the cancellations"
    " made in it (of whichever redemption): a period once over never changes."
)
class RedemptionTotal:
    item_kind: RewardKind
    channel: RedemptionChannel
    redemptions: int = strawberry.field(description="Redemptions made in the period.")
    quantity: int = strawberry.field(description="Units redeemed in the period, less those cancelled in it.")
    points: Long = strawberry.field(description="Points redeemed in the period, less those given back in it.")


@strawberry.input
class FulfilmentFilter:
    state: FulfilmentState | None = strawberry.UNSET
    in_doubt: bool | None = strawberry.field(
        default=strawberry.UNSET, description="true: those the billing system may have applied unanswered."
    )


@strawberry.input
class GiftPickupFilter:
    state: PickupState | None = strawberry.UNSET
    branch_id: relay.GlobalID | None = strawberry.UNSET


@strawberry.input(description="A FAILED delivery is tried again.")
class RetryFulfilmentInput:
    id: relay.GlobalID


@strawberry.input(description="The billing system's answer about a delivery in doubt is recorded.")
class SettleFulfilmentInput:
    id: relay.GlobalID
    outcome: SettlementOutcome
    reference: str = strawberry.field(
        description="The billing system's reference for what it found: one line, 100 characters at most."
    )


@strawberry.input(description="A waiting gift is given to its member.")
class HandOverGiftInput:
    id: relay.GlobalID


@strawberry.type
class FulfilmentPayload:
    errors: list[UserError]
    fulfilment: FulfilmentType | None = None


@strawberry.type
class GiftPickupPayload:
    errors: list[UserError]
    pickup: GiftPickupType | None = None


@strawberry.input(description="A monthly conversion of points [R3]; retrying with the same idempotencyKey is safe.")
class BookAutoRedemptionInput:
    item_id: relay.GlobalID = strawberry.field(description="A CALL_MINUTES, CONTENT or BILL_CREDIT reward.")
    quantity: int
    start_month: Month = strawberry.field(description="This month or later.")
    idempotency_key: str
    end_month: Month | None = strawberry.field(default=strawberry.UNSET, description="The last month; left out: open.")
    member_id: relay.GlobalID | None = strawberry.field(
        default=strawberry.UNSET, description="The member (staff); a member books for themselves."
    )


@strawberry.input
class PauseAutoRedemptionInput:
    id: relay.GlobalID
    idempotency_key: str


@strawberry.input
class ResumeAutoRedemptionInput:
    id: relay.GlobalID
    idempotency_key: str


@strawberry.input
class CancelAutoRedemptionInput:
    id: relay.GlobalID
    idempotency_key: str


@strawberry.type
class AutoRedemptionPayload:
    errors: list[UserError]
    booking: AutoRedemptionType | None = None
    replayed: bool = False


AutoRedemptionRunStatus = strawberry.enum(JobStatus, name="AutoRedemptionRunStatus")


@strawberry.type(name="AutoRedemptionRun", description="A run of a month's bookings [R3]: how far it got, and why.")
class AutoRedemptionRunType(relay.Node):
    id: relay.NodeID[int]
    month: Month
    status: AutoRedemptionRunStatus
    bookings_total: int = strawberry.field(description="Bookings of the month still due when the run started.")
    bookings: int = strawberry.field(description="Bookings carried out so far: redeemed or skipped.")
    redeemed: int
    skipped: int = strawberry.field(description="Skipped with a reason (see each booking's executions).")
    points: Long
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    is_type_of = row_type(AutoRedemptionRun)

    @strawberry.field(description="Who started it; none when it was started from the command line.")
    @joined("staff", "staff_id")
    def started_by(self, info: strawberry.Info) -> StaffType | None: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.auto_redemption_runs_scoped.load_many(node_keys(node_ids))


@strawberry.input
class RunAutoRedemptionInput:
    month: Month = strawberry.field(description="A month that has begun.")


@strawberry.type
class RunAutoRedemptionPayload:
    errors: list[UserError]
    run: AutoRedemptionRunType | None = None
