"""Redemption: the catalogue and its rules, gift stock, redemptions, quotes, cancellations, deliveries, pick-ups."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry
from strawberry import relay

from domain.errors import DomainError
from domain.redemption import bookings, catalogue, fulfilment, queries, redeem, stock
from resolvers import measured
from resolvers.declare import list_field, mutation_field
from resolvers.edge import read, user_errors
from resolvers.inputs import field_names, given_of, to_command
from schema.common import Month, connection
from schema.redemption import (
    ActivateRewardItemInput,
    AdjustGiftStockInput,
    AutoRedemptionPayload,
    AutoRedemptionRunType,
    BookAutoRedemptionInput,
    CancelAutoRedemptionInput,
    CancelRedemptionInput,
    ConsumptionRulePayload,
    ConsumptionRuleType,
    CreateConsumptionRuleInput,
    CreateRewardItemInput,
    FulfilmentFilter,
    FulfilmentPayload,
    FulfilmentType,
    GiftPickupFilter,
    GiftPickupPayload,
    GiftPickupType,
    GiftStockFilter,
    GiftStockMovementType,
    GiftStockPayload,
    GiftStockType,
    HandOverGiftInput,
    PauseAutoRedemptionInput,
    QuotedLine,
    QuotedLot,
    QuoteRedemptionInput,
    ReceiveGiftStockInput,
    RedeemPointsInput,
    RedemptionPayload,
    RedemptionQuote,
    RedemptionTotal,
    RedemptionType,
    ResumeAutoRedemptionInput,
    RetireRewardItemInput,
    RetryFulfilmentInput,
    RewardItemFilter,
    RewardItemPayload,
    RewardItemType,
    RunAutoRedemptionInput,
    RunAutoRedemptionPayload,
    SettleFulfilmentInput,
    StaffRedemptionFilter,
    TransferGiftStockInput,
    UpdateConsumptionRuleInput,
    UpdateRewardItemInput,
)


@strawberry.type
class RedemptionQuery:
    reward_items = list_field(
        catalogue.list_items, RewardItemType, RewardItemFilter,
        description="Rewards of your subtree and those offered in it, drafts and retired ones too (staff).",
    )  # fmt: skip

    @strawberry.field(description="Every consumption rule, past, present and future (staff).")
    async def consumption_rules(self, info: strawberry.Info) -> list[ConsumptionRuleType]:
        return await read(info, lambda s: catalogue.list_consumption_rules(s, info.context.principal))

    gift_stock = list_field(
        stock.list_stock, GiftStockType, GiftStockFilter, description="Gift stock of branches in your subtree (staff)."
    )

    @strawberry.field(description="Every change of one branch's stock of one gift, oldest first (staff).")
    async def gift_stock_history(
        self,
        info: strawberry.Info,
        item_id: relay.GlobalID,
        branch_id: relay.GlobalID,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> relay.Connection[GiftStockMovementType]:
        from domain.paging import PageRequest
        from resolvers.inputs import decode_id

        item, branch = decode_id(item_id, "RewardItem", "item_id"), decode_id(branch_id, "Branch", "branch_id")
        page = PageRequest(first, after, last, before)
        found = await read(
            info, lambda s: stock.stock_history(s, info.context.principal, page, item_id=item, branch_id=branch)
        )
        return connection(found)

    redemptions = list_field(
        queries.list_redemptions, RedemptionType, StaffRedemptionFilter,
        description="Redemptions of members of your subtree, or made in it, oldest first (staff).",
    )  # fmt: skip

    @strawberry.field(
        description="Points redeemed by reward kind and channel in the inclusive period of at most 3,660 days, net"
        " of the cancellations made in it (staff)."
    )
    async def redemption_totals(
        self,
        info: strawberry.Info,
        start: Annotated[date, strawberry.argument(name="from")],
        end: Annotated[date, strawberry.argument(name="to")],
    ) -> list[RedemptionTotal]:
        found = await read(info, lambda s: queries.totals(s, info.context.principal, start=start, end=end))
        return [RedemptionTotal(**vars(t)) for t in found]

    fulfilments = list_field(
        queries.list_fulfilments, FulfilmentType, FulfilmentFilter,
        description="Deliveries to the billing system for members of your subtree (staff).",
    )  # fmt: skip

    gift_pickups = list_field(
        queries.list_pickups, GiftPickupType, GiftPickupFilter,
        description="Gifts waiting at, or handed over by, branches of your subtree (staff).",
    )  # fmt: skip

    @strawberry.field(description="The latest runs of booked redemptions, newest first (headquarters administrators).")
    async def auto_redemption_runs(
        self, info: strawberry.Info, month: Month | None = None
    ) -> list[AutoRedemptionRunType]:
        return await read(info, lambda s: bookings.runs(s, info.context.principal, month))

    @strawberry.field(
        description="What redeemPoints would do with the same input, and every problem that would refuse it;"
        " writes nothing (a wrong card PIN is counted, as at redemption)."
    )
    async def quote_redemption(self, info: strawberry.Info, input: QuoteRedemptionInput) -> RedemptionQuote:
        context = info.context
        await context.reading.release()
        redeem.QuoteRedemption.admit(context.principal)  # a caller who may not quote is refused whatever the input
        try:
            command = to_command(redeem.QuoteRedemption, given_of(input))
            async with context.unit_of_work() as uow:
                quote = await uow.run(redeem.quote_redemption, command)
        except DomainError as error:
            measured.credentials_refused(error.problems)
            errors = user_errors(error.problems, field_names(redeem.QuoteRedemption))
            return RedemptionQuote(errors=errors, points=0, available=0, available_after=0, cross_branch=False,
                                   lines=[], lots=[])  # fmt: skip
        measured.credentials_refused(quote.problems)
        return RedemptionQuote(
            errors=user_errors(quote.problems, field_names(redeem.QuoteRedemption)),
            points=quote.points,
            available=quote.available,
            available_after=quote.available_after,
            cross_branch=quote.cross_branch,
            lines=[QuotedLine(quantity=q.quantity, unit_points=q.unit_points, points=q.points, item_id=q.item_id)
                   for q in quote.lines],
            lots=[QuotedLot(expires_on=lot.expires_on, points=lot.points) for lot in quote.lots],
        )  # fmt: skip


@strawberry.type
class RedemptionMutation:
    create_reward_item = mutation_field(
        catalogue.create_reward_item, CreateRewardItemInput, RewardItemPayload, "item",
        description="Add a draft reward, national (at headquarters) or of a province (administrators, club operators).",
    )  # fmt: skip
    update_reward_item = mutation_field(
        catalogue.update_reward_item, UpdateRewardItemInput, RewardItemPayload, "item",
        description="Change a reward; redemptions made keep their prices.",
    )  # fmt: skip
    activate_reward_item = mutation_field(
        catalogue.activate_reward_item, ActivateRewardItemInput, RewardItemPayload, "item",
        description="Offer a draft reward from now on, within its window.",
    )  # fmt: skip
    retire_reward_item = mutation_field(
        catalogue.retire_reward_item, RetireRewardItemInput, RewardItemPayload, "item",
        description="Offer a reward no more, for good.",
    )  # fmt: skip
    create_consumption_rule = mutation_field(
        catalogue.create_consumption_rule, CreateConsumptionRuleInput, ConsumptionRulePayload, "rule",
        description="Let a grade redeem an item, a kind of item or everything, from tomorrow on (headquarters).",
    )  # fmt: skip
    update_consumption_rule = mutation_field(
        catalogue.update_consumption_rule, UpdateConsumptionRuleInput, ConsumptionRulePayload, "rule",
        description="End a consumption rule, or change one not yet in effect (headquarters).",
    )  # fmt: skip
    receive_gift_stock = mutation_field(
        stock.receive_gift_stock, ReceiveGiftStockInput, GiftStockPayload, "movement",
        description="Gifts arrive at a branch of your subtree.",
    )  # fmt: skip
    adjust_gift_stock = mutation_field(
        stock.adjust_gift_stock, AdjustGiftStockInput, GiftStockPayload, "movement",
        description="Correct a branch's count of a gift, up or down; never below zero.",
    )  # fmt: skip
    transfer_gift_stock = mutation_field(
        stock.transfer_gift_stock, TransferGiftStockInput, GiftStockPayload, "movement",
        description="Move gifts between two branches of your subtree.",
    )  # fmt: skip
    redeem_points = mutation_field(
        redeem.redeem_points, RedeemPointsInput, RedemptionPayload, "redemption",
        description="Spend points on rewards at once [R2]: members for themselves (WEB, WAP, SMS), staff for a member"
        " (COUNTER, HOTLINE in their subtree; POS, TERMINAL with the member's card and PIN).",
    )  # fmt: skip
    cancel_redemption = mutation_field(
        redeem.cancel_redemption, CancelRedemptionInput, RedemptionPayload, "redemption",
        description="Cancel a redemption (or some of it) within the window, before a gift is handed over or a"
        " delivery made: the points return to the lots they came from, the gifts to the stock.",
    )  # fmt: skip
    retry_fulfilment = mutation_field(
        fulfilment.retry_fulfilment, RetryFulfilmentInput, FulfilmentPayload, "fulfilment",
        description="Try a FAILED delivery to the billing system again (administrators, club operators).",
    )  # fmt: skip
    settle_fulfilment = mutation_field(
        fulfilment.settle_fulfilment, SettleFulfilmentInput, FulfilmentPayload, "fulfilment",
        description="Record what the billing system says of a delivery in doubt: APPLIED (it is DELIVERED), or, once"
        " it has FAILED, NOT_APPLIED (retry it, or cancel its redemption) (administrators, club operators).",
    )  # fmt: skip
    hand_over_gift = mutation_field(
        fulfilment.hand_over_gift, HandOverGiftInput, GiftPickupPayload, "pickup",
        description="Give a waiting gift to its member (staff of its branch or a branch above it).",
    )  # fmt: skip
    book_auto_redemption = mutation_field(
        bookings.book_auto_redemption, BookAutoRedemptionInput, AutoRedemptionPayload, "booking",
        description="Book a monthly conversion of points into minutes, content or bill credit [R3]: members for"
        " themselves, staff for a member of their subtree.",
    )  # fmt: skip
    pause_auto_redemption = mutation_field(
        bookings.pause_auto_redemption, PauseAutoRedemptionInput, AutoRedemptionPayload, "booking",
        description="Skip a booking's months until it is resumed.",
    )  # fmt: skip
    resume_auto_redemption = mutation_field(
        bookings.resume_auto_redemption, ResumeAutoRedemptionInput, AutoRedemptionPayload, "booking",
        description="Run a paused booking again from its next month's run.",
    )  # fmt: skip
    cancel_auto_redemption = mutation_field(
        bookings.cancel_auto_redemption, CancelAutoRedemptionInput, AutoRedemptionPayload, "booking",
        description="End a booking for good; what it did stays.",
    )  # fmt: skip
    run_auto_redemption = mutation_field(
        bookings.run_auto_redemption, RunAutoRedemptionInput, RunAutoRedemptionPayload, "run",
        description="Carry out a month's bookings in the background (headquarters administrators): follow it with"
        " `node(id:)` or `autoRedemptionRuns`.",
    )  # fmt: skip
