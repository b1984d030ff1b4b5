"""Card stock and member cards."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry
from strawberry import relay

from domain.cards import lifecycle, queries, stock
from resolvers.edge import mutate, paged, read
from resolvers.inputs import decode_id
from schema.cards import (
    ApplyForCardInput,
    ApproveCardApplicationInput,
    CancelCardInput,
    CardApplicationPayload,
    CardApplicationType,
    CardEventFilter,
    CardEventType,
    CardFilter,
    CardPayload,
    CardStockCountType,
    CardStockPayload,
    CardType,
    ChangeCardPinInput,
    HandOverCardInput,
    IssueCardsInput,
    ReceiveCardBatchInput,
    ReissueCardInput,
    ReplaceCardInput,
    ReportCardLostInput,
    ResetCardPinInput,
    ReturnCardsInput,
    SetCardStateInput,
    TransferCardsInput,
    UnfreezeCardInput,
    VoidCardsInput,
)
from schema.common import key_of


@strawberry.type
class CardQuery:
    @strawberry.field(description="Cards in your subtree by number range, state, type, holder, branch, member, date.")
    async def cards(
        self,
        info: strawberry.Info,
        filter: CardFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> relay.Connection[CardType]:
        return await paged(info, queries.list_cards, filter, first, after, last, before)

    @strawberry.field(description="A card by number, if you may see it (staff in scope, or its member).")
    async def card(self, info: strawberry.Info, number: str) -> CardType | None:
        key = key_of(number)
        return None if key is None else await info.context.loaders.cards_scoped.load(key)

    @strawberry.field(description="Card operations by card, member, action, resulting state and date (inclusive).")
    async def card_events(
        self,
        info: strawberry.Info,
        filter: CardEventFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> relay.Connection[CardEventType]:
        return await paged(info, queries.list_events, filter, first, after, last, before)

    @strawberry.field(description="Card applications: a member's own, or those of members in your subtree.")
    async def card_applications(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> relay.Connection[CardApplicationType]:
        return await paged(info, queries.list_applications, None, first, after, last, before)

    @strawberry.field(description="Per card type: received, issued, returned, voided in the period; on hand now.")
    async def card_stock_count(
        self,
        info: strawberry.Info,
        branch_id: relay.GlobalID,
        start: Annotated[date, strawberry.argument(name="from")],
        end: Annotated[date, strawberry.argument(name="to")],
    ) -> list[CardStockCountType]:
        async def count(session):
            branch = decode_id(branch_id, "Branch", "branchId")
            return await queries.stock_count(session, info.context.principal, branch_id=branch, start=start, end=end)

        return await read(info, count)


@strawberry.type
class CardMutation:
    @strawberry.mutation(description="Receive a batch of new cards into your branch's stock (card stock staff).")
    async def receive_card_batch(self, info: strawberry.Info, input: ReceiveCardBatchInput) -> CardStockPayload:
        return await mutate(info, CardStockPayload, stock.receive_batch, input)

    @strawberry.mutation(description="Issue cards down to a club or customer manager (card stock staff).")
    async def issue_cards(self, info: strawberry.Info, input: IssueCardsInput) -> CardStockPayload:
        return await mutate(info, CardStockPayload, stock.issue_cards, input)

    @strawberry.mutation(description="Move issued cards between clubs and customer managers (card stock staff).")
    async def transfer_cards(self, info: strawberry.Info, input: TransferCardsInput) -> CardStockPayload:
        return await mutate(info, CardStockPayload, stock.transfer_cards, input)

    @strawberry.mutation(description="Return unused cards to the parent branch (card stock staff).")
    async def return_cards(self, info: strawberry.Info, input: ReturnCardsInput) -> CardStockPayload:
        return await mutate(info, CardStockPayload, stock.return_cards, input)

    @strawberry.mutation(description="Void damaged stock cards (card stock staff).")
    async def void_cards(self, info: strawberry.Info, input: VoidCardsInput) -> CardStockPayload:
        return await mutate(info, CardStockPayload, stock.void_cards, input)

    @strawberry.mutation(description="Correct the stock state of cards, with a reason (card stock staff).")
    async def set_card_state(self, info: strawberry.Info, input: SetCardStateInput) -> CardStockPayload:
        return await mutate(info, CardStockPayload, stock.set_card_state, input)

    @strawberry.mutation(description="Ask for a card, optionally booking a pick-up (the member, or staff for them).")
    async def apply_for_card(self, info: strawberry.Info, input: ApplyForCardInput) -> CardApplicationPayload:
        return await mutate(info, CardApplicationPayload, lifecycle.apply_for_card, input, "application")

    @strawberry.mutation(description="Approve a card application and its booking (card service staff).")
    async def approve_card_application(
        self, info: strawberry.Info, input: ApproveCardApplicationInput
    ) -> CardApplicationPayload:
        return await mutate(info, CardApplicationPayload, lifecycle.approve_application, input, "application")

    @strawberry.mutation(description="Give a stock card to a member, who sets the PIN (card service staff).")
    async def hand_over_card(self, info: strawberry.Info, input: HandOverCardInput) -> CardPayload:
        return await mutate(info, CardPayload, lifecycle.hand_over, input, "card")

    @strawberry.mutation(description="Report a card lost: it stops working at once (the member, or staff with proof).")
    async def report_card_lost(self, info: strawberry.Info, input: ReportCardLostInput) -> CardPayload:
        return await mutate(info, CardPayload, lifecycle.report_lost, input, "card")

    @strawberry.mutation(description="Make a lost card usable again (the member, or staff with proof).")
    async def unfreeze_card(self, info: strawberry.Info, input: UnfreezeCardInput) -> CardPayload:
        return await mutate(info, CardPayload, lifecycle.unfreeze, input, "card")

    @strawberry.mutation(description="Replace a lost card with a new one from stock (card service staff).")
    async def reissue_card(self, info: strawberry.Info, input: ReissueCardInput) -> CardPayload:
        return await mutate(info, CardPayload, lifecycle.reissue, input, "card")

    @strawberry.mutation(description="Replace a damaged card, or one of a former grade's type (card service staff).")
    async def replace_card(self, info: strawberry.Info, input: ReplaceCardInput) -> CardPayload:
        return await mutate(info, CardPayload, lifecycle.replace, input, "card")

    @strawberry.mutation(
        description="End a card for good, e.g. after the member left the network (card service staff)."
    )
    async def cancel_card(self, info: strawberry.Info, input: CancelCardInput) -> CardPayload:
        return await mutate(info, CardPayload, lifecycle.cancel, input, "card")

    @strawberry.mutation(description="Change your card's PIN, giving the current one (the member).")
    async def change_card_pin(self, info: strawberry.Info, input: ChangeCardPinInput) -> CardPayload:
        return await mutate(info, CardPayload, lifecycle.change_pin, input, "card")

    @strawberry.mutation(description="Set a new PIN after checking the member's ID document (card service staff).")
    async def reset_card_pin(self, info: strawberry.Info, input: ResetCardPinInput) -> CardPayload:
        return await mutate(info, CardPayload, lifecycle.reset_pin, input, "card")
