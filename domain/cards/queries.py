"""Reading cards: lists by number range, state, holder, branch and date; a card's history; stock counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import clock
from domain.access import MemberPrincipal, Permission, Principal, may_read_member, require_staff, role_grants
from domain.cards.common import card_number
from domain.cards.tables import (
    STOCK_STATES,
    USABLE_STATES,
    Card,
    CardAction,
    CardApplication,
    CardBatch,
    CardEvent,
    CardState,
)
from domain.columns import record_columns, records, records_of
from domain.members.tables import Grade, Member
from domain.organisation.service import branch_in_scope, in_scopes, subtree_branch_ids, visible
from domain.organisation.tables import Branch
from domain.paging import Page, PageRequest, fetch_page
from domain.validation import Checker, period_days_max
from domain.work.commands import BranchId, ClubId, MemberId, StaffId

card_events_listed_max = 100  # of one card, its last (`cardEvents` pages through every one)


def _day_range(
    check: Checker, start: date | None, end: date | None, days_max: int | None = None
) -> tuple[datetime | None, datetime | None]:
    """Inclusive days as [start 00:00, day after end 00:00) in the club's time zone, at most `days_max` apart."""
    check.period("to", start, end, days_max)
    begin = datetime.combine(start, time.min, tzinfo=clock.zone) if start else None
    finish = datetime.combine(end + timedelta(days=1), time.min, tzinfo=clock.zone) if end else None
    return begin, finish


async def list_cards(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    *,
    number_from: str | None = None,
    number_to: str | None = None,
    states: list[str] | None = None,
    card_type: str | None = None,
    branch_id: BranchId | None = None,
    holder_club_id: ClubId | None = None,
    holder_staff_id: StaffId | None = None,
    member_id: MemberId | None = None,
    operated_from: date | None = None,
    operated_to: date | None = None,
) -> Page[Card]:
    actor = require_staff(principal, Permission.CARD_READ)
    check = Checker()
    low = card_number(check, "number_from", number_from) if number_from else None
    high = card_number(check, "number_to", number_to) if number_to else None
    begin, finish = _day_range(check, operated_from, operated_to)
    check.raise_if_any()
    query = sa.select(Card).where(await in_scopes(session, actor, Card.branch_id, branch_id))
    tests = [
        (low, Card.number.__ge__),
        (high, Card.number.__le__),
        (card_type, Card.card_type.__eq__),
        (holder_club_id, Card.holder_club_id.__eq__),
        (holder_staff_id, Card.holder_staff_id.__eq__),
        (member_id, Card.member_id.__eq__),
    ]
    query = query.where(*[test(value) for value, test in tests if value is not None])
    if states:
        query = query.where(Card.state.in_(sorted({CardState(s) for s in states})))
    if begin or finish:
        events = sa.select(CardEvent.card_number)
        events = events.where(CardEvent.occurred_at >= begin) if begin else events
        events = events.where(CardEvent.occurred_at < finish) if finish else events
        query = query.where(Card.number.in_(events.scalar_subquery()))
    return await fetch_page(session, query, Card.number, page)


async def get_cards_scoped(session: AsyncSession, principal: Principal, numbers: list[int]) -> list[Card | None]:
    """Staff with card rights in the card's subtree, or the member who holds it."""
    query = sa.select(Card, Branch.path).join(Branch).where(Card.number.in_(numbers))

    def allowed(card: Card, path: str) -> bool:
        if isinstance(principal, MemberPrincipal):
            return card.member_id == principal.member_id
        return role_grants(principal, Permission.CARD_READ) and principal.covers(path)

    rows = {card.number: (card, path) for card, path in (await session.execute(query)).all()}
    return [found[0] if found and allowed(*found) else None for found in (rows.get(n) for n in numbers)]


async def usable_card_of_members(session: AsyncSession, member_ids: list[int]) -> list[Card | None]:
    query = sa.select(*record_columns(Card)).where(Card.member_id.in_(member_ids), Card.state.in_(USABLE_STATES))
    rows = {c.member_id: c for c in records_of(Card, (await session.execute(query)).all())}
    return [rows.get(i) for i in member_ids]


async def history(session: AsyncSession, principal: Principal, numbers: list[int]) -> list[list[CardEvent]]:
    """Each card's operations, oldest first (its last `card_events_listed_max`; the receipt is on its batch). A
    member sees those of the card as theirs, from its hand-over on, as `list_events` shows them: not the stock's
    movements before it (who received it, where it was kept, for which customer manager)."""
    turn = sa.func.row_number().over(partition_by=CardEvent.card_number, order_by=CardEvent.id.desc()).label("turn")
    ranked = sa.select(CardEvent.id, turn).where(CardEvent.card_number.in_(numbers))
    if isinstance(principal, MemberPrincipal):
        ranked = ranked.where(CardEvent.member_id == principal.member_id)
    last = ranked.subquery()  # each card's last ones: one card's many never crowd out another's
    query = sa.select(CardEvent).where(
        CardEvent.id.in_(sa.select(last.c.id).where(last.c.turn <= card_events_listed_max))
    )
    grouped: dict[int, list[CardEvent]] = {n: [] for n in numbers}
    for row in await records(session, query.order_by(CardEvent.id)):
        grouped[row.card_number].append(row)
    return [grouped[n] for n in numbers]


async def batches(session: AsyncSession, ids: list[int]) -> list[CardBatch | None]:
    rows = {b.id: b for b in await records(session, sa.select(CardBatch).where(CardBatch.id.in_(ids)))}
    return [rows.get(i) for i in ids]


async def list_events(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    *,
    card_number: str | None = None,
    member_id: MemberId | None = None,
    actions: list[str] | None = None,
    states: list[str] | None = None,
    occurred_from: date | None = None,
    occurred_to: date | None = None,
) -> Page[CardEvent]:
    """Card operations by card, member, action, resulting state and inclusive date range."""
    check = Checker()
    number = _parse_number(check, card_number)
    begin, finish = _day_range(check, occurred_from, occurred_to)
    check.raise_if_any()
    if isinstance(principal, MemberPrincipal):
        query = sa.select(CardEvent).where(CardEvent.member_id == principal.member_id)
    else:
        actor = require_staff(principal, Permission.CARD_READ)  # the operations of the cards they serve now, as the
        cards = sa.select(Card.number).where(Card.branch_id.in_(subtree_branch_ids(actor.branch_path)))  # history
        query = sa.select(CardEvent).where(CardEvent.card_number.in_(cards))
    tests = [
        (number, CardEvent.card_number.__eq__),
        (member_id, CardEvent.member_id.__eq__),
        (begin, CardEvent.occurred_at.__ge__),
        (finish, CardEvent.occurred_at.__lt__),
    ]
    query = query.where(*[test(value) for value, test in tests if value is not None])
    if actions:
        query = query.where(CardEvent.action.in_(sorted({CardAction(a) for a in actions})))
    if states:
        query = query.where(CardEvent.state_after.in_(sorted({CardState(s) for s in states})))
    return await fetch_page(session, query, CardEvent.id, page)


def _parse_number(check: Checker, value: str | None) -> int | None:
    return card_number(check, "card_number", value) if value is not None else None


async def list_applications(
    session: AsyncSession, principal: Principal, page: PageRequest, *, status: str | None = None
) -> Page[CardApplication]:
    if isinstance(principal, MemberPrincipal):
        query = sa.select(CardApplication).where(CardApplication.member_id == principal.member_id)
    else:
        actor = require_staff(principal, Permission.CARD_READ)
        members = sa.select(Member.id).where(Member.branch_id.in_(subtree_branch_ids(actor.branch_path)))
        query = sa.select(CardApplication).where(CardApplication.member_id.in_(members.scalar_subquery()))
    if status is not None:
        query = query.where(CardApplication.status == status)
    return await fetch_page(session, query, CardApplication.id, page)


async def get_applications_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[Any]:
    query = (
        sa.select(CardApplication, Branch.path)
        .join(Member, Member.id == CardApplication.member_id)
        .join(Branch, Branch.id == Member.branch_id)
        .where(CardApplication.id.in_(ids))
    )
    return await visible(session, query, ids, lambda a, path: may_read_member(principal, a.member_id, path))


@dataclass(frozen=True)
class StockCount:
    card_type: str
    received: int
    issued: int
    returned: int
    voided: int
    on_hand_now: int


async def stock_count(
    session: AsyncSession, principal: Principal, *, branch_id: int | None, start: date, end: date
) -> list[StockCount]:
    """Per card type, for a branch and everything below it: cards received, issued, returned and
    voided in the inclusive period, and the stock on hand now [K3]."""
    actor = require_staff(principal, Permission.CARD_READ)
    check = Checker()
    begin, finish = _day_range(check, start, end, period_days_max)
    check.raise_if_any()
    branch = await branch_in_scope(session, actor, branch_id, "branch_id")
    branches = subtree_branch_ids(branch.path)
    received = (
        sa.select(CardBatch.card_type, sa.func.sum(CardBatch.card_count))
        .where(CardBatch.branch_id.in_(branches), CardBatch.received_at >= begin, CardBatch.received_at < finish)
        .group_by(CardBatch.card_type)
    )
    # a correction into VOID counts as a void, and one out of it as a void undone: `voided` is net, as on hand is
    signed = sa.case((sa.and_(CardEvent.action == CardAction.SET_STATE, CardEvent.state_before == CardState.VOID), -1),
                     else_=1)  # fmt: skip
    moved = (
        sa.select(CardEvent.card_type, CardEvent.action, sa.func.sum(signed))
        .where(
            CardEvent.branch_id.in_(branches),
            CardEvent.occurred_at >= begin,
            CardEvent.occurred_at < finish,
            CardEvent.action.in_([CardAction.ISSUE, CardAction.RETURN, CardAction.VOID, CardAction.SET_STATE]),
            sa.or_(
                CardEvent.action != CardAction.SET_STATE,
                CardEvent.state_after == CardState.VOID,
                CardEvent.state_before == CardState.VOID,
            ),
        )
        .group_by(CardEvent.card_type, CardEvent.action)
    )
    on_hand = (
        sa.select(Card.card_type, sa.func.count())
        .where(Card.branch_id.in_(branches), Card.state.in_(STOCK_STATES))
        .group_by(Card.card_type)
    )
    counts: dict[str, dict[str, int]] = {}
    for card_type, total in (await session.execute(received)).all():
        counts.setdefault(card_type, {})["received"] = int(total)
    for card_type, action, total in (await session.execute(moved)).all():
        key = {"ISSUE": "issued", "RETURN": "returned"}.get(action.value, "voided")
        counts.setdefault(card_type, {})[key] = counts.get(card_type, {}).get(key, 0) + int(total)
    for card_type, total in (await session.execute(on_hand)).all():
        counts.setdefault(card_type, {})["on_hand_now"] = total
    order = {t: r for t, r in (await session.execute(sa.select(Grade.card_type, Grade.rank))).all()}
    return [
        StockCount(
            t,
            c.get("received", 0),
            c.get("issued", 0),
            c.get("returned", 0),
            c.get("voided", 0),
            c.get("on_hand_now", 0),
        )
        for t, c in sorted(counts.items(), key=lambda item: order.get(item[0], 99))
    ]
