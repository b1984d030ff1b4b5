"""The reward catalogue [R1]: items staff create, activate and retire within their branch, consumption rules
as data [P2], and what a member may redeem today.

An item is national (its branch is headquarters) or of one province and its cities. Staff with the catalogue
permission maintain the items of their subtree; national ones only at headquarters. A redemption stores each
item's price as it was, so changing an item never rewrites the past. Consumption rules follow the points
rules' pattern (`domain/points/rules.py`): a rule takes effect from tomorrow at the earliest, and once in
effect it can only be ended, on today or later; every change is recorded (who, when, before, after).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import clock
from domain.access import MemberPrincipal, Permission, Principal, StaffPrincipal, require_staff, role_grants
from domain.columns import records, same_code
from domain.dated import change_action, check_dates, from_tomorrow, keeps_the_past
from domain.errors import DomainError, ErrorCode
from domain.members.tables import Grade, Member
from domain.organisation.service import branch_in_scope, locked_in_scope
from domain.organisation.tables import Branch, BranchLevel
from domain.paging import Page, PageRequest, fetch_page
from domain.points.errors import PointsErrorCode
from domain.points.rules import require_headquarters
from domain.points.tables import PointsBalance
from domain.redemption.errors import RedemptionErrorCode
from domain.redemption.tables import (
    AutoRedemption,
    ConsumptionRule,
    ConsumptionRuleChange,
    ItemStatus,
    RedemptionLine,
    RewardItem,
    RewardKind,
    bookings_ended,
)
from domain.validation import Checker, name_length_max, note_length_max
from domain.work.commands import UNCHANGED, BranchId, Command, ConsumptionRuleId, RewardItemId, changes
from domain.work.unit import UnitOfWork

price_points_max = 100_000_000
limit_max = 10_000
benefit_max = 100_000_000  # fen of bill credit (a million yuan) or minutes
grades_max = 20
NEVER = date(9999, 12, 31)
_url = re.compile(r"^https?://[^\s]+$")
# What each kind of reward needs besides a price: the amount one unit gives, or the content service's code.
NEEDS = {
    RewardKind.BILL_CREDIT: "benefit_amount",
    RewardKind.CALL_MINUTES: "benefit_amount",
    RewardKind.CONTENT: "content_code",
    RewardKind.GIFT: None,
}


@dataclass(frozen=True, kw_only=True)
class CreateRewardItem(Command):
    branch_id: BranchId | None  # headquarters for a national item, else a province
    code: str
    name: str
    kind: RewardKind
    points_price: int
    grade_codes: list[str]
    available_from: date
    available_to: date | None = None
    description: str | None = None
    benefit_amount: int | None = None
    content_code: str | None = None
    daily_limit: int | None = None
    monthly_limit: int | None = None
    picture_url: str | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateRewardItem(Command):
    """Only the fields given change; None clears an optional one. Past redemptions keep their prices."""

    id: RewardItemId | None
    name: str | None = UNCHANGED
    description: str | None = UNCHANGED
    points_price: int | None = UNCHANGED
    grade_codes: list[str] | None = UNCHANGED
    available_from: date | None = UNCHANGED
    available_to: date | None = UNCHANGED
    benefit_amount: int | None = UNCHANGED
    content_code: str | None = UNCHANGED
    daily_limit: int | None = UNCHANGED
    monthly_limit: int | None = UNCHANGED
    picture_url: str | None = UNCHANGED


@dataclass(frozen=True, kw_only=True)
class ActivateRewardItem(Command):
    id: RewardItemId | None


@dataclass(frozen=True, kw_only=True)
class RetireRewardItem(Command):
    id: RewardItemId | None


_ITEM_FIELDS = ("name", "description", "points_price", "grade_codes", "available_from", "available_to",
                "benefit_amount", "content_code", "daily_limit", "monthly_limit", "picture_url")  # fmt: skip


def _checked_fields(check: Checker, given: dict[str, Any]) -> dict[str, Any]:
    """The item fields present in `given`, checked; name, price, grades and first day may not be cleared."""
    checks = {
        "name": lambda v: check.text("name", v, length_max=name_length_max, required=True),
        "description": lambda v: check.text("description", v, length_max=note_length_max),
        "points_price": lambda v: _required_integer(check, "points_price", v, price_points_max),
        "grade_codes": lambda v: _grade_codes(check, v),
        "available_from": lambda v: v if v is not None else check.fail("available_from", ErrorCode.REQUIRED,
                                                                         "available_from is required."),
        "available_to": lambda v: v,
        "benefit_amount": lambda v: check.integer("benefit_amount", v, minimum=1, maximum=benefit_max),
        "content_code": lambda v: check.code("content_code", v, required=False),
        "daily_limit": lambda v: check.integer("daily_limit", v, minimum=1, maximum=limit_max),
        "monthly_limit": lambda v: check.integer("monthly_limit", v, minimum=1, maximum=limit_max),
        "picture_url": lambda v: check.pattern("picture_url", v, _url, "http(s) address", length_max=500),
    }  # fmt: skip
    return {field: checks[field](value) for field, value in given.items()}


def _required_integer(check: Checker, field: str, value: Any, maximum: int) -> int | None:
    if check.required(field, value) is None:
        return None
    return check.integer(field, value, minimum=1, maximum=maximum)


def _grade_codes(check: Checker, codes: Any) -> list[str] | None:
    if not codes:
        check.fail("grade_codes", ErrorCode.REQUIRED, "grade_codes must name at least one grade.")
        return None
    if len(codes) > grades_max:
        check.fail("grade_codes", ErrorCode.OUT_OF_RANGE, f"grade_codes holds at most {grades_max} grades.")
        return None
    cleaned = [check.code("grade_codes", code) for code in codes]
    return sorted({c for c in cleaned if c is not None})


async def _check_item(session: AsyncSession, item: RewardItem) -> None:
    """What an item must be as a whole: its kind's benefit, known grades, an ordered window."""
    check = Checker()
    needs = NEEDS.get(RewardKind(item.kind), "none")
    if needs == "none":
        check.fail("kind", RedemptionErrorCode.ITEM_KIND_NOT_OFFERED, "Partner coupons come with the partners.")
    for field in ("benefit_amount", "content_code"):
        if field == needs and getattr(item, field) is None:
            check.fail(field, ErrorCode.REQUIRED, f"A {item.kind} reward needs its {field}.")
        elif field != needs and getattr(item, field) is not None:
            check.fail(field, ErrorCode.INVALID, f"A {item.kind} reward has no {field}.")
    if item.available_to is not None and item.available_to < item.available_from:
        check.fail("available_to", ErrorCode.INVALID, "available_to must not be before available_from.")
    check.raise_if_any()
    known = set(await session.scalars(sa.select(Grade.code).where(Grade.code.in_(item.grade_codes))))
    if unknown := [code for code in item.grade_codes if code not in known]:
        raise DomainError(ErrorCode.NOT_FOUND, f"No such grade: {', '.join(unknown)}.", "grade_codes")


async def create_reward_item(uow: UnitOfWork, command: CreateRewardItem) -> RewardItem:
    actor = require_staff(uow.principal, Permission.REDEMPTION_CATALOGUE)
    check = Checker()
    code = check.code("code", command.code)
    clean = _checked_fields(check, changes(command, *_ITEM_FIELDS))
    check.raise_if_any()
    branch = await branch_in_scope(uow.session, actor, command.branch_id, "branch_id")
    if branch.level == BranchLevel.CITY:
        raise DomainError(ErrorCode.INVALID, "A reward is national (headquarters) or of a province.", "branch_id")
    item = RewardItem(branch_id=branch.id, code=code, kind=RewardKind(command.kind), staff_id=actor.staff_id, **clean)
    await _check_item(uow.session, item)
    if (
        taken := await uow.session.scalar(sa.select(RewardItem.code).where(same_code(RewardItem.code, code)))
    ) is not None:
        raise DomainError(ErrorCode.DUPLICATE, f"Reward code {taken} is taken.", "code")
    uow.session.add(item)
    await uow.session.flush()
    return item


async def _item_in_scope(uow: UnitOfWork, item_id: int | None) -> RewardItem:
    actor = require_staff(uow.principal, Permission.REDEMPTION_CATALOGUE)
    return await locked_in_scope(uow.session, actor, RewardItem, item_id, "id", "reward")


async def update_reward_item(uow: UnitOfWork, command: UpdateRewardItem) -> RewardItem:
    require_staff(uow.principal, Permission.REDEMPTION_CATALOGUE)
    check = Checker()
    clean = _checked_fields(check, changes(command, *_ITEM_FIELDS))
    check.raise_if_any()
    item = await _item_in_scope(uow, command.id)
    if item.status == ItemStatus.RETIRED:
        raise DomainError(RedemptionErrorCode.ITEM_RETIRED, "A retired reward stays as it was.", "id")
    for field, value in clean.items():
        setattr(item, field, value)
    await _check_item(uow.session, item)
    item.updated_at = uow.now
    await uow.session.flush()
    return item


async def activate_reward_item(uow: UnitOfWork, command: ActivateRewardItem) -> RewardItem:
    """A draft reward is offered from now on (within its window)."""
    item = await _item_in_scope(uow, command.id)
    if item.status == ItemStatus.ACTIVE:
        raise DomainError(RedemptionErrorCode.ITEM_ALREADY_ACTIVE, "The reward is active already.", "id")
    if item.status == ItemStatus.RETIRED:
        raise DomainError(RedemptionErrorCode.ITEM_RETIRED, "The reward is retired: it is offered no more.", "id")
    item.status, item.updated_at = ItemStatus.ACTIVE, uow.now
    await uow.session.flush()
    return item


async def retire_reward_item(uow: UnitOfWork, command: RetireRewardItem) -> RewardItem:
    """A reward is offered no more, for good; its redemptions keep naming it, and its bookings end
    (cancelled, `cancel_reason` ITEM_RETIRED), since they would never run again."""
    item = await _item_in_scope(uow, command.id)
    if item.status == ItemStatus.RETIRED:
        raise DomainError(RedemptionErrorCode.ITEM_RETIRED, "The reward is retired already.", "id")
    item.status, item.updated_at = ItemStatus.RETIRED, uow.now
    await uow.session.flush()
    await uow.session.execute(bookings_ended(AutoRedemption.item_id == item.id, "ITEM_RETIRED", uow.now))
    return item


# --- consumption rules -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CreateConsumptionRule(Command):
    """Members of a grade (every grade: none) may redeem an item, a kind of item, or everything (neither)."""

    effective_from: date
    effective_to: date | None = None
    grade_code: str | None = None
    item_kind: RewardKind | None = None
    item_id: RewardItemId | None = None
    minimum_available_points: int | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateConsumptionRule(Command):
    """Setting `effective_to` alone ends the rule; a rule in effect takes nothing else."""

    id: ConsumptionRuleId | None
    effective_from: date | None = UNCHANGED
    effective_to: date | None = UNCHANGED
    minimum_available_points: int | None = UNCHANGED


def rule_snapshot(rule: ConsumptionRule) -> dict[str, Any]:
    return {
        "grade_code": rule.grade_code,
        "item_kind": rule.item_kind.value if rule.item_kind else None,
        "item_id": rule.item_id,
        "minimum_available_points": rule.minimum_available_points,
        "effective_from": rule.effective_from.isoformat(),
        "effective_to": rule.effective_to.isoformat() if rule.effective_to else None,
    }


async def create_consumption_rule(uow: UnitOfWork, command: CreateConsumptionRule) -> ConsumptionRule:
    actor = await require_headquarters(uow.session, uow.principal, "Consumption rules are maintained")
    check = Checker()
    check.integer("minimum_available_points", command.minimum_available_points, minimum=0, maximum=price_points_max)
    if command.item_kind is not None and command.item_id is not None:
        check.fail("item_id", ErrorCode.INVALID, "A rule names an item or a kind of item, not both.")
    if command.effective_from <= uow.today:
        check.fail("effective_from", PointsErrorCode.RULE_IN_EFFECT, from_tomorrow(uow.today))
    check.raise_if_any()
    rule = ConsumptionRule(grade_code=command.grade_code, item_kind=command.item_kind, item_id=command.item_id,
                           minimum_available_points=command.minimum_available_points,
                           effective_from=command.effective_from, effective_to=command.effective_to)  # fmt: skip
    return await _add_rule(uow.session, rule, actor.staff_id)


async def _add_rule(session: AsyncSession, rule: ConsumptionRule, staff_id: int | None) -> ConsumptionRule:
    if rule.grade_code is not None and await session.get(Grade, rule.grade_code) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such grade.", "grade_code")
    if rule.item_id is not None and await session.get(RewardItem, rule.item_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such reward.", "item_id")
    check_dates(rule.effective_from, rule.effective_to)
    session.add(rule)
    await session.flush()
    session.add(ConsumptionRuleChange(rule_id=rule.id, action="CREATE", after=rule_snapshot(rule), staff_id=staff_id))
    return rule


async def establish_consumption_rule(session: AsyncSession, rule: ConsumptionRule) -> ConsumptionRule:
    """A club's founding rule, from any date: only before anything was redeemed (set-up, the demo)."""
    if await session.scalar(sa.select(sa.exists().where(RedemptionLine.id.is_not(None)))):
        raise DomainError(PointsErrorCode.RULE_IN_EFFECT, "Rewards were redeemed: rules now change by updates.")
    return await _add_rule(session, rule, None)


async def update_consumption_rule(uow: UnitOfWork, command: UpdateConsumptionRule) -> ConsumptionRule:
    actor = await require_headquarters(uow.session, uow.principal, "Consumption rules are maintained")
    rule = await uow.session.get(ConsumptionRule, command.id, with_for_update=True) if command.id else None
    if rule is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such rule.", "id")
    before, given = rule_snapshot(rule), changes(command, "effective_from", "effective_to", "minimum_available_points")
    keeps_the_past(rule, given, uow.today, ("minimum_available_points",))
    check = Checker()
    if "minimum_available_points" in given:
        check.integer("minimum_available_points", given["minimum_available_points"], minimum=0,
                      maximum=price_points_max)  # fmt: skip
    if "effective_from" in given and given["effective_from"] is None:
        check.fail("effective_from", ErrorCode.REQUIRED, "effective_from is required.")
    check.raise_if_any()
    for field, value in given.items():
        setattr(rule, field, value)
    check_dates(rule.effective_from, rule.effective_to)
    after = rule_snapshot(rule)
    if action := change_action(before, after, given):
        uow.session.add(ConsumptionRuleChange(rule_id=rule.id, action=action, before=before, after=after,
                                              staff_id=actor.staff_id))  # fmt: skip
        await uow.session.flush()
    return rule


async def list_consumption_rules(session: AsyncSession, principal: Principal) -> list[ConsumptionRule]:
    require_staff(principal, Permission.REDEMPTION_READ)
    query = sa.select(ConsumptionRule).order_by(ConsumptionRule.effective_from, ConsumptionRule.id)
    return await records(session, query.limit(1_000))


# --- reads -----------------------------------------------------------------------------------------


async def require_member_reader(session: AsyncSession, principal: Principal, member_id: int) -> None:
    """The member themselves, or staff who read redemptions, the member being of their subtree."""
    if isinstance(principal, MemberPrincipal) and principal.member_id == member_id:
        return
    actor = require_staff(principal, Permission.REDEMPTION_READ)
    path = await session.scalar(
        sa.select(Branch.path).join(Member, Member.branch_id == Branch.id).where(Member.id == member_id)
    )
    if path is None or not actor.covers(path):
        raise DomainError(ErrorCode.NOT_FOUND, "No such member in your scope.", "member_id")


def _offered_to_staff(actor: StaffPrincipal) -> Any:
    """Items staff see: those of their subtree, and those offered there (national ones, their province's)."""
    path = sa.select(Branch.path).where(Branch.id == RewardItem.branch_id).scalar_subquery()
    return sa.or_(
        sa.func.starts_with(path, actor.branch_path), sa.func.starts_with(sa.literal(actor.branch_path), path)
    )


async def list_items(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest,
    *,
    kind: str | None = None,
    status: str | None = None,
) -> Page[RewardItem]:
    """The catalogue as staff maintain it, oldest first."""
    actor = require_staff(principal, Permission.REDEMPTION_READ)
    query = sa.select(RewardItem).where(_offered_to_staff(actor))
    if kind is not None:
        query = query.where(RewardItem.kind == RewardKind(kind))
    if status is not None:
        query = query.where(RewardItem.status == ItemStatus(status))
    return await fetch_page(session, query, RewardItem.id, page)


async def get_items_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[RewardItem | None]:
    """Items by id for `node(id:)`: staff see those offered in their subtree, members those of their home that
    have been offered (a draft is not, until it is activated; a retired one was, and its redemptions name it)."""
    query = sa.select(RewardItem).where(RewardItem.id.in_(ids))
    if isinstance(principal, MemberPrincipal):
        query = query.where(_home_of(principal.member_id), RewardItem.status != ItemStatus.DRAFT)
    elif role_grants(principal, Permission.REDEMPTION_READ):
        query = query.where(_offered_to_staff(principal))
    else:
        return [None] * len(ids)
    found = {item.id: item for item in await records(session, query)}
    return [found.get(i) for i in ids]


@dataclass(frozen=True)
class Booked:
    """A reward as a booking of a member sees it: whether it is offered at their home, and whether their grade
    may redeem it on a day of the booking's months (the item's grades, and a consumption rule in force then)."""

    item: RewardItem
    at_home: bool
    grade_allowed: bool


async def reward_booked(
    session: AsyncSession, principal: Principal, member: Member, item_id: int | None, months: tuple[date, date]
) -> Booked | None:
    """The reward `item_id` as the caller booking for `member` sees it, from the first day to the last of
    `months`; None when the caller does not see it. The member sees what is offered at their home and not a
    draft; staff also what is offered in their subtree (as `node(id:)`, and `reward_seen` in the database). The
    item is locked as it is until the transaction ends (FOR SHARE): a retirement waits for the booking, or it
    for one."""
    if item_id is None:
        return None
    at_home = _home_of(member.id)
    seen = sa.and_(at_home, RewardItem.status != ItemStatus.DRAFT)
    if isinstance(principal, StaffPrincipal):
        seen = sa.or_(seen, _offered_to_staff(principal))
    allowed = sa.and_(RewardItem.grade_codes.op("?")(member.grade_code),
                      _minimum(member.grade_code, *months).is_not(None))  # fmt: skip
    query = sa.select(RewardItem, at_home, allowed).where(RewardItem.id == item_id, seen)
    found = (await session.execute(query.with_for_update(read=True, of=RewardItem))).first()
    return Booked(found[0], bool(found[1]), bool(found[2])) if found else None


def _home_of(member_id: int) -> Any:
    """Items offered to a member: national ones, and those of the member's home province."""
    province = sa.func.branch_province(RewardItem.branch_id)
    home = sa.select(sa.func.branch_province(Member.branch_id)).where(Member.id == member_id).scalar_subquery()
    return sa.or_(province.is_(None), province == home)


@dataclass(frozen=True)
class Offer:
    """A reward as a member sees it today: its item, whether they can afford it, and what is left of their
    limits (None: no limit)."""

    item: RewardItem
    affordable: bool
    remaining_today: int | None
    remaining_this_month: int | None


async def catalogue(
    session: AsyncSession, principal: Principal, member_id: int, page: PageRequest, *, kind: str | None = None
) -> Page[Offer]:
    """What the member may redeem today [R1]: active items in their window, of their grade and home, that a
    consumption rule in force lets them redeem, oldest first. The member sees their own; staff who serve
    members see a member's of their subtree."""
    await require_member_reader(session, principal, member_id)
    today = clock.today()
    member = (await session.execute(sa.select(Member.grade_code).where(Member.id == member_id))).one()
    query = sa.select(RewardItem).where(
        RewardItem.status == ItemStatus.ACTIVE,
        RewardItem.available_from <= today,
        sa.func.coalesce(RewardItem.available_to, NEVER) >= today,
        RewardItem.grade_codes.op("?")(member.grade_code),
        RewardItem.kind != RewardKind.PARTNER_COUPON,
        _home_of(member_id),
        _minimum(member.grade_code, today).is_not(None),
    )
    if kind is not None:
        query = query.where(RewardItem.kind == RewardKind(kind))
    found = await fetch_page(session, query, RewardItem.id, page)
    figures = await _offer_figures(session, member_id, member.grade_code, [i.id for _, i in found.items], today)
    return Page([(cursor, Offer(item, *figures[item.id])) for cursor, item in found.items],
                found.has_next_page, found.has_previous_page)  # fmt: skip


def _minimum(grade_code: str, today: date, last: date | None = None, item: Any = RewardItem) -> Any:
    """The lowest minimum balance of the consumption rules in force (`today`, or a day of `today` to `last`)
    that let the grade redeem the item; NULL when none does."""
    return (
        sa.select(sa.func.min(sa.func.coalesce(ConsumptionRule.minimum_available_points, 0)))
        .where(
            ConsumptionRule.effective_from <= (last or today),
            sa.func.coalesce(ConsumptionRule.effective_to, NEVER) >= today,
            sa.or_(ConsumptionRule.grade_code.is_(None), ConsumptionRule.grade_code == grade_code),
            sa.or_(
                ConsumptionRule.item_id == item.id,
                ConsumptionRule.item_kind == item.kind,
                sa.and_(ConsumptionRule.item_id.is_(None), ConsumptionRule.item_kind.is_(None)),
            ),
        )
        .scalar_subquery()
    )


async def _offer_figures(
    session: AsyncSession, member_id: int, grade_code: str, item_ids: list[int], today: date
) -> dict[int, tuple[bool, int | None, int | None]]:
    """(affordable, remaining today, remaining this month) of each item, in one statement."""
    if not item_ids:
        return {}
    open_quantity = RedemptionLine.quantity - RedemptionLine.cancelled_quantity
    used = (
        sa.select(
            RedemptionLine.item_id,
            sa.func.sum(open_quantity).filter(RedemptionLine.redeemed_on == today).label("today"),
            sa.func.sum(open_quantity).label("month"),
        )
        .where(
            RedemptionLine.member_id == member_id,
            RedemptionLine.item_id.in_(item_ids),
            RedemptionLine.redeemed_on.between(today.replace(day=1), today),
        )
        .group_by(RedemptionLine.item_id)
        .subquery()
    )
    available = sa.select(
        PointsBalance.posted - PointsBalance.held - sa.func.points_expired(PointsBalance.member_id, today)
    ).where(PointsBalance.member_id == member_id)
    query = (
        sa.select(RewardItem.id, RewardItem.points_price, RewardItem.daily_limit, RewardItem.monthly_limit,
                  _minimum(grade_code, today), sa.func.coalesce(available.scalar_subquery(), 0),
                  sa.func.coalesce(used.c.today, 0), sa.func.coalesce(used.c.month, 0))
        .outerjoin(used, used.c.item_id == RewardItem.id)
        .where(RewardItem.id.in_(item_ids))
    )  # fmt: skip
    figures = {}
    for item_id, price, daily, monthly, minimum, points, today_used, month_used in await session.execute(query):
        figures[item_id] = (
            points >= price and points >= (minimum or 0),
            None if daily is None else max(daily - today_used, 0),
            None if monthly is None else max(monthly - month_used, 0),
        )
    return figures
