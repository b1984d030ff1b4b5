"""Card stock and member cards."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry
from strawberry import relay

from domain.cards import lifecycle, queries, stock
from resolvers.declare import list_field, mutation_field
from resolvers.edge import read
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
    cards = list_field(
        queries.list_cards,
        CardType,
        CardFilter,
        description="Cards in your subtree by number range, state, type, holder, branch, member, date.",
    )

    @strawberry.field(description="A card by number, if you may see it (staff in scope, or its member).")
    async def card(self, info: strawberry.Info, number: str) -> CardType | None:
        key = key_of(number)
        return None if key is None else await info.context.loaders.cards_scoped.load(key)

    card_events = list_field(
        queries.list_events,
        CardEventType,
        CardEventFilter,
        description="Card operations by card, member, action, resulting state and date (inclusive).",
    )

    card_applications = list_field(
        queries.list_applications,
        CardApplicationType,
        description="Card applications: a member's own, or those of members in your subtree.",
    )

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
    receive_card_batch = mutation_field(
        stock.receive_batch,
        ReceiveCardBatchInput,
        CardStockPayload,
        description="Receive a batch of new cards into your branch's stock (card stock staff).",
    )

    issue_cards = mutation_field(
        stock.issue_cards,
        IssueCardsInput,
        CardStockPayload,
        description="Issue cards down to a club or customer manager (card stock staff).",
    )

    transfer_cards = mutation_field(
        stock.transfer_cards,
        TransferCardsInput,
        CardStockPayload,
        description="Move issued cards between clubs and customer managers (card stock staff).",
    )

    return_cards = mutation_field(
        stock.return_cards,
        ReturnCardsInput,
        CardStockPayload,
        description="Return unused cards to the parent branch (card stock staff).",
    )

    void_cards = mutation_field(
        stock.void_cards, VoidCardsInput, CardStockPayload, description="Void damaged stock cards (card stock staff)."
    )

    set_card_state = mutation_field(
        stock.set_card_state,
        SetCardStateInput,
        CardStockPayload,
        description="Correct the stock state of cards, with a reason (card stock staff).",
    )

    apply_for_card = mutation_field(
        lifecycle.apply_for_card,
        ApplyForCardInput,
        CardApplicationPayload,
        "application",
        description="Ask for a card, optionally booking a pick-up (the member, or staff for them).",
    )

    approve_card_application = mutation_field(
        lifecycle.approve_application,
        ApproveCardApplicationInput,
        CardApplicationPayload,
        "application",
        description="Approve a card application and its booking (card service staff).",
    )

    hand_over_card = mutation_field(
        lifecycle.hand_over,
        HandOverCardInput,
        CardPayload,
        "card",
        description="Give a stock card to a member, who sets the PIN (card service staff).",
    )

    report_card_lost = mutation_field(
        lifecycle.report_lost,
        ReportCardLostInput,
        CardPayload,
        "card",
        description="Report a card lost: it stops working at once (the member, or staff with proof).",
    )

    unfreeze_card = mutation_field(
        lifecycle.unfreeze,
        UnfreezeCardInput,
        CardPayload,
        "card",
        description="Make a lost card usable again (the member, or staff with proof).",
    )

    reissue_card = mutation_field(
        lifecycle.reissue,
        ReissueCardInput,
        CardPayload,
        "card",
        description="Replace a lost card with a new one from stock (card service staff).",
    )

    replace_card = mutation_field(
        lifecycle.replace,
        ReplaceCardInput,
        CardPayload,
        "card",
        description="Replace a damaged card, or one of a former grade's type (card service staff).",
    )

    cancel_card = mutation_field(
        lifecycle.cancel,
        CancelCardInput,
        CardPayload,
        "card",
        description="End a card for good, e.g. after the member left the network (card service staff).",
    )

    change_card_pin = mutation_field(
        lifecycle.change_pin,
        ChangeCardPinInput,
        CardPayload,
        "card",
        description="Change your card's PIN, giving the current one (the member).",
    )

    reset_card_pin = mutation_field(
        lifecycle.reset_pin,
        ResetCardPinInput,
        CardPayload,
        "card",
        description="Set a new PIN after checking the member's ID document (card service staff).",
    )
