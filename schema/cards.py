"""Membership cards as GraphQL types (roots are database rows)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from domain.cards import tables as cards_tables
from domain.cards.lifecycle import ReplaceReason as DomainReplaceReason
from domain.cards.lifecycle import locked
from domain.cards.queries import card_events_listed_max
from schema.common import UserError, client_keys, joined, listed, node_keys, row_type
from schema.members import MemberType
from schema.organisation import BranchType, ClubType, StaffType

CardState = strawberry.enum(
    cards_tables.CardState,
    description="Stock: INITIAL ISSUED RETURNED VOID. A member's: ACTIVE LOST RETIRED CANCELLED.",
)
CardAction = strawberry.enum(cards_tables.CardAction)
Channel = strawberry.enum(cards_tables.Channel)
ApplicationStatus = strawberry.enum(cards_tables.ApplicationStatus)
ReplaceReason = strawberry.enum(DomainReplaceReason)


@strawberry.type(name="CardBatch", description="Cards received together from the card maker or HQ [K1].")
class CardBatchType:
    card_type: str
    valid_until: date
    card_count: int
    source: str | None
    received_at: datetime

    @strawberry.field
    def first_number(self) -> str:
        return str(self.first_number)

    @strawberry.field
    def last_number(self) -> str:
        return str(self.last_number)

    @strawberry.field
    @joined("branches", "branch_id")
    def branch(self, info: strawberry.Info) -> BranchType: ...

    @strawberry.field
    @joined("staff", "staff_id")
    def received_by(self, info: strawberry.Info) -> StaffType: ...


@strawberry.type(name="CardEvent", description="One operation on a card: who, when, channel, what, why.")
class CardEventType:
    card_type: str
    action: CardAction
    state_before: CardState
    state_after: CardState
    channel: Channel
    reason: str | None
    detail: JSON = strawberry.field(
        resolver=lambda root: client_keys(root.detail),
        description="What the operation recorded: receiver, place, holder, proof used …",
    )
    occurred_at: datetime

    @strawberry.field
    def card_number(self) -> str:
        return str(self.card_number)

    @strawberry.field(description="The member of staff who did it; null when the member did it themselves.")
    @joined("staff", "staff_id")
    def staff(self, info: strawberry.Info) -> StaffType | None: ...


async def _entitled_card_type(card: Any, info: strawberry.Info) -> str | None:
    """The card type a usable card's member's grade gives (none for stock and ended cards)."""
    if card.member_id is None or card.state not in cards_tables.USABLE_STATES:
        return None
    member = await info.context.loaders.members_scoped.load(card.member_id)
    return None if member is None else (await info.context.loaders.grades.load(member.grade_code)).card_type


@strawberry.type(name="Card", description="A membership card, in stock or a member's [K1]–[K5].")
class CardType(relay.Node):
    card_type: str = strawberry.field(description="Follows the grade: DIAMOND, EMERALD, SAPPHIRE cards.")
    state: CardState
    valid_until: date
    is_type_of = row_type(cards_tables.Card)

    @classmethod
    def resolve_id(cls, root: cards_tables.Card, *, info: strawberry.Info) -> str:
        return str(root.number)

    @strawberry.field
    def number(self) -> str:
        return str(self.number)

    @strawberry.field(
        description="For a member's usable card: the card type the member's grade gives. When it differs from"
        " cardType (after a grade change), replaceCard with reason GRADE_CHANGE is offered; this card works until"
        " then [K5]."
    )
    async def entitled_card_type(self, info: strawberry.Info) -> str | None:
        return await _entitled_card_type(self, info)

    @strawberry.field(description="Whether replaceCard with reason GRADE_CHANGE is offered for this card.")
    async def grade_change_replacement_offered(self, info: strawberry.Info) -> bool:
        entitled = await _entitled_card_type(self, info)
        return entitled is not None and entitled != self.card_type

    @strawberry.field(description="Locked for a while after too many wrong PINs or identity proofs.")
    def locked(self) -> bool:
        return locked(self)

    @strawberry.field(description="The branch whose stock holds the card, or the member's branch.")
    @joined("branches", "branch_id")
    def branch(self, info: strawberry.Info) -> BranchType: ...

    @strawberry.field
    @joined("clubs", "holder_club_id")
    def holder_club(self, info: strawberry.Info) -> ClubType | None: ...

    @strawberry.field(description="The customer manager holding the card in stock.")
    @joined("staff", "holder_staff_id")
    def holder_staff(self, info: strawberry.Info) -> StaffType | None: ...

    @strawberry.field
    @joined("members_scoped", "member_id")
    def member(self, info: strawberry.Info) -> MemberType | None: ...

    @strawberry.field
    @joined("card_batches", "batch_id")
    def batch(self, info: strawberry.Info) -> CardBatchType: ...

    @strawberry.field(description="The card this one replaced (reissue or replacement).")
    def replaces_number(self) -> str | None:
        return str(self.replaces_number) if self.replaces_number else None

    @strawberry.field(description="The card that replaced this one.")
    def replaced_by_number(self) -> str | None:
        return str(self.replaced_by_number) if self.replaced_by_number else None

    @strawberry.field(description="Operations on the card, oldest first: its last 100 (`cardEvents` pages through"
                      " all); the receipt is `batch`.", metadata=listed(card_events_listed_max))  # fmt: skip
    @joined("card_history", "number")
    def history(self, info: strawberry.Info) -> list[CardEventType]: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.cards_scoped.load_many(node_keys(node_ids))


@strawberry.type(name="CardApplication", description="A member's request for a card, with an optional pick-up booking.")
class CardApplicationType(relay.Node):
    id: relay.NodeID[int]
    status: ApplicationStatus
    pickup_at: datetime | None
    pickup_place: str | None
    created_at: datetime
    is_type_of = row_type(cards_tables.CardApplication)

    @strawberry.field
    def card_number(self) -> str | None:
        return str(self.card_number) if self.card_number else None

    @strawberry.field
    @joined("members_scoped", "member_id")
    def member(self, info: strawberry.Info) -> MemberType | None: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.applications_scoped.load_many(node_keys(node_ids))


@strawberry.type(name="CardStockCount", description="One card type's movements in the period and stock on hand now.")
class CardStockCountType:
    card_type: str
    received: int
    issued: int
    returned: int
    voided: int
    on_hand_now: int


# --- inputs and payloads ------------------------------------------------------------------

NUMBERS = "A range numberFrom–numberTo (inclusive, same number of digits), or a list of up to 1,000 numbers."


@strawberry.input(description=f"Receive cards into your branch's stock as INITIAL. {NUMBERS} At most 1,000,000 cards.")
class ReceiveCardBatchInput:
    card_type: str
    valid_until: date
    number_from: str | None = None
    number_to: str | None = None
    numbers: list[str] | None = None
    source: str | None = strawberry.field(default=None, description="Card maker or HQ dispatch reference.")


@strawberry.input(description=f"Issue cards your branch holds to a club or customer manager at or below it. {NUMBERS}")
class IssueCardsInput:
    received_by: str = strawberry.field(description="Who took delivery.")
    to_club_id: relay.GlobalID | None = None
    to_staff_id: relay.GlobalID | None = None
    place: str | None = None
    number_from: str | None = None
    number_to: str | None = None
    numbers: list[str] | None = None


@strawberry.input(description=f"Move issued cards to another club or customer manager in your subtree. {NUMBERS}")
class TransferCardsInput:
    to_club_id: relay.GlobalID | None = None
    to_staff_id: relay.GlobalID | None = None
    reason: str | None = None
    number_from: str | None = None
    number_to: str | None = None
    numbers: list[str] | None = None


@strawberry.input(description=f"Return whole, unused cards your branch holds to the parent branch. {NUMBERS}")
class ReturnCardsInput:
    reason: str | None = None
    number_from: str | None = None
    number_to: str | None = None
    numbers: list[str] | None = None


@strawberry.input(description=f"Void damaged stock cards. {NUMBERS}")
class VoidCardsInput:
    reason: str
    number_from: str | None = None
    number_to: str | None = None
    numbers: list[str] | None = None


@strawberry.input(description=f"Correct stock states (INITIAL, RETURNED, VOID) with a reason. {NUMBERS}")
class SetCardStateInput:
    state: CardState
    reason: str
    number_from: str | None = None
    number_to: str | None = None
    numbers: list[str] | None = None


@strawberry.type
class CardStockPayload:
    errors: list[UserError]
    count: int | None = strawberry.field(default=None, description="How many cards changed.")
    batch: CardBatchType | None = None


@strawberry.input
class ApplyForCardInput:
    member_id: relay.GlobalID | None = strawberry.field(default=None, description="Staff: the member. Members: omit.")
    pickup_at: datetime | None = None
    pickup_place: str | None = None


@strawberry.input
class ApproveCardApplicationInput:
    id: relay.GlobalID


@strawberry.type
class CardApplicationPayload:
    errors: list[UserError]
    application: CardApplicationType | None = None


@strawberry.input
class HandOverCardInput:
    member_id: relay.GlobalID
    card_number: str
    receiver_id_number: str
    receiver_phone: str
    pin: str = strawberry.field(description="The member's chosen PIN: 6 digits, not a run or a repeat.")


@strawberry.input(
    description="Staff acting for a caller give exactly one: ID document number, card PIN, "
    "or subscriber number with password."
)
class IdentityProofInput:
    id_document_number: str | None = None
    card_pin: str | None = None
    subscriber_number: str | None = None
    password: str | None = None


@strawberry.input
class ReportCardLostInput:
    card_number: str
    proof: IdentityProofInput | None = strawberry.field(default=None, description="Required when staff report.")
    channel: Channel | None = None
    idempotency_key: str | None = strawberry.field(
        default=None, description="A retry with the same key answers as the first call."
    )


@strawberry.input
class UnfreezeCardInput:
    card_number: str
    proof: IdentityProofInput | None = None
    channel: Channel | None = None


@strawberry.input
class ReissueCardInput:
    old_card_number: str
    new_card_number: str


@strawberry.input
class ReplaceCardInput:
    old_card_number: str
    new_card_number: str
    reason: ReplaceReason


@strawberry.input
class CancelCardInput:
    card_number: str
    reason: str


@strawberry.input
class ChangeCardPinInput:
    card_number: str
    old_pin: str
    new_pin: str


@strawberry.input
class ResetCardPinInput:
    card_number: str
    id_document_number: str
    new_pin: str


@strawberry.type
class CardPayload:
    errors: list[UserError]
    card: CardType | None = None
    replayed: bool = strawberry.field(
        default=False,
        description="This answer is the stored one of an earlier request with the same idempotency key, as it was"
        " then: nothing was done again.",
    )


@strawberry.input
class CardFilter:
    number_from: str | None = None
    number_to: str | None = None
    states: list[CardState] | None = None
    card_type: str | None = None
    branch_id: relay.GlobalID | None = strawberry.field(default=None, description="This branch and below.")
    holder_club_id: relay.GlobalID | None = None
    holder_staff_id: relay.GlobalID | None = None
    member_id: relay.GlobalID | None = None
    operated_from: date | None = strawberry.field(default=None, description="Cards with an operation on or after.")
    operated_to: date | None = strawberry.field(default=None, description="… and on or before (inclusive).")


@strawberry.input
class CardEventFilter:
    card_number: str | None = None
    member_id: relay.GlobalID | None = None
    actions: list[CardAction] | None = None
    states: list[CardState] | None = strawberry.field(default=None, description="State after the operation.")
    occurred_from: date | None = None
    occurred_to: date | None = None
