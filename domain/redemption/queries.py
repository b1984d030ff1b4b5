"""Reads of redemption [P6]: a member's redemptions (with those made in other provinces), staff lists by
member, outlet, branch, channel, item and dates, totals for a period, fulfilments and pick-ups.

Staff see a redemption when the member's branch or the branch it was made at lies in their subtree: the
home branch decided it, the other branch served it (and settles it later) [A1].
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access import MemberPrincipal, Permission, Principal, StaffPrincipal, require_staff, role_grants
from domain.columns import records_of
from domain.errors import DomainError, ErrorCode
from domain.members.tables import Member
from domain.organisation.service import subtree_branch_ids
from domain.paging import Page, PageRequest, fetch_page
from domain.points.tables import LedgerTransaction
from domain.redemption.catalogue import require_member_reader
from domain.redemption.tables import (
    Fulfilment,
    FulfilmentDoubt,
    FulfilmentState,
    GiftPickup,
    PickupState,
    Redemption,
    RedemptionCancellation,
    RedemptionChannel,
    RedemptionLine,
    RedemptionStatus,
    RewardKind,
)
from domain.validation import require_period
from domain.work.commands import BranchId, MemberId, OutletId, RewardItemId


def _seen_by(actor: StaffPrincipal) -> Any:
    branches = subtree_branch_ids(actor.branch_path)
    return sa.or_(Redemption.home_branch_id.in_(branches), Redemption.branch_id.in_(branches))


def _filtered(
    query: Any, *, start: date | None, end: date | None, channel: str | None, status: str | None,
    item_kind: str | None, cross_branch: bool | None,
) -> Any:  # fmt: skip
    if start and end and start > end:
        raise DomainError(ErrorCode.INVALID, "to must not be before from.", "to")
    if start is not None:
        query = query.where(Redemption.redeemed_on >= start)
    if end is not None:
        query = query.where(Redemption.redeemed_on <= end)
    if channel is not None:
        query = query.where(Redemption.channel == RedemptionChannel(channel))
    if status is not None:
        query = query.where(Redemption.status == RedemptionStatus(status))
    if cross_branch is not None:
        query = query.where(Redemption.cross_branch.is_(cross_branch))
    if item_kind is not None:
        lines = sa.select(RedemptionLine.id).where(
            RedemptionLine.redemption_id == Redemption.id, RedemptionLine.kind == RewardKind(item_kind)
        )
        query = query.where(lines.exists())
    return query


async def member_redemptions(
    session: AsyncSession, principal: Principal, member_id: int, page: PageRequest, *, start: date | None = None,
    end: date | None = None, channel: str | None = None, status: str | None = None, item_kind: str | None = None,
    cross_branch: bool | None = None,
) -> Page[Redemption]:  # fmt: skip
    """A member's redemptions in the order they were made, wherever they were made [P6]: the member's own,
    or a member's of the caller's subtree (staff)."""
    await require_member_reader(session, principal, member_id)
    query = sa.select(Redemption).where(Redemption.member_id == member_id)
    query = _filtered(query, start=start, end=end, channel=channel, status=status, item_kind=item_kind,
                      cross_branch=cross_branch)  # fmt: skip
    return await fetch_page(session, query, Redemption.id, page)


async def list_redemptions(
    session: AsyncSession, principal: Principal, page: PageRequest, *, member_id: MemberId | None = None,
    outlet_id: OutletId | None = None, branch_id: BranchId | None = None, item_id: RewardItemId | None = None,
    start: date | None = None, end: date | None = None, channel: str | None = None, status: str | None = None,
    item_kind: str | None = None, cross_branch: bool | None = None,
) -> Page[Redemption]:  # fmt: skip
    """Redemptions of members of the caller's subtree, or made in it (staff)."""
    actor = require_staff(principal, Permission.REDEMPTION_READ)
    query = sa.select(Redemption).where(_seen_by(actor))
    if member_id is not None:
        query = query.where(Redemption.member_id == member_id)
    if outlet_id is not None:
        query = query.where(Redemption.outlet_id == outlet_id)
    if branch_id is not None:
        query = query.where(Redemption.branch_id == branch_id)
    if item_id is not None:
        lines = sa.select(RedemptionLine.id).where(
            RedemptionLine.redemption_id == Redemption.id, RedemptionLine.item_id == item_id
        )
        query = query.where(lines.exists())
    query = _filtered(query, start=start, end=end, channel=channel, status=status, item_kind=item_kind,
                      cross_branch=cross_branch)  # fmt: skip
    return await fetch_page(session, query, Redemption.id, page)


async def get_redemptions_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[Any]:
    """Redemptions by id for `node(id:)`: the member's own; staff those they would list; None otherwise."""
    return await scoped(session, principal, Redemption, ids, Redemption.member_id, _seen_by)


async def scoped(
    session: AsyncSession, principal: Principal, model: Any, ids: list[int], member_column: Any,
    staff_condition: Any,
) -> list[Any]:  # fmt: skip
    """Rows of `model` by id as records: a member's own (by `member_column`); for staff who read redemptions,
    those `staff_condition(actor)` lets them see; None for the rest, and for any other caller."""
    if isinstance(principal, MemberPrincipal):
        condition = member_column == principal.member_id
    elif role_grants(principal, Permission.REDEMPTION_READ):
        condition = staff_condition(principal)
    else:
        return [None] * len(ids)
    query = sa.select(*model.__table__.columns).where(model.id.in_(ids), condition)
    found = {r.id: r for r in records_of(model, (await session.execute(query)).all())}
    return [found.get(i) for i in ids]


@dataclass(frozen=True)
class RedemptionTotal:
    item_kind: RewardKind
    channel: RedemptionChannel
    redemptions: int  # made in the period
    quantity: int  # net of the cancellations made in the period
    points: int  # net of the cancellations made in the period


async def totals(session: AsyncSession, principal: Principal, *, start: date, end: date) -> list[RedemptionTotal]:
    """Points redeemed by item kind and channel in the inclusive period, net of the cancellations made in it
    (of whichever redemption), for what the caller's subtree sees [P6][S5]: as the ledger counts them, so that a
    period once over never changes."""
    actor = require_staff(principal, Permission.REDEMPTION_READ)
    require_period(start, end)
    made = (
        sa.select(RedemptionLine.kind, Redemption.channel, Redemption.id.label("redemption_id"),
                  RedemptionLine.quantity, (RedemptionLine.quantity * RedemptionLine.unit_points).label("points"))
        .join(Redemption, Redemption.id == RedemptionLine.redemption_id)
        .where(_seen_by(actor), Redemption.redeemed_on.between(start, end))
    )  # fmt: skip
    given = (
        sa.func.jsonb_to_recordset(RedemptionCancellation.lines)
        .table_valued(sa.column("line_id", sa.BigInteger), sa.column("quantity", sa.Integer))
        .render_derived(with_types=True)
    )
    given_back = (
        sa.select(RedemptionLine.kind, Redemption.channel, sa.null(), -given.c.quantity,
                  -given.c.quantity * RedemptionLine.unit_points)
        .select_from(RedemptionCancellation)
        .join(LedgerTransaction, LedgerTransaction.id == RedemptionCancellation.transaction_id)
        .join(given, sa.true())
        .join(RedemptionLine, RedemptionLine.id == given.c.line_id)
        .join(Redemption, Redemption.id == RedemptionCancellation.redemption_id)
        .where(_seen_by(actor), LedgerTransaction.effective_on.between(start, end))
    )  # fmt: skip
    moves = sa.union_all(made, given_back).subquery()
    query = (
        sa.select(moves.c.kind, moves.c.channel, sa.func.count(sa.distinct(moves.c.redemption_id)),
                  sa.func.sum(moves.c.quantity), sa.func.sum(moves.c.points))
        .group_by(moves.c.kind, moves.c.channel)
        .order_by(moves.c.kind, moves.c.channel)
    )  # fmt: skip
    return [RedemptionTotal(k, c, n, int(q), int(p)) for k, c, n, q, p in await session.execute(query)]


def of_subtree(actor: StaffPrincipal, member_column: Any) -> Any:
    return member_column.in_(
        sa.select(Member.id).where(Member.branch_id.in_(subtree_branch_ids(actor.branch_path))).scalar_subquery()
    )


async def list_fulfilments(
    session: AsyncSession, principal: Principal, page: PageRequest, *, state: str | None = None,
    in_doubt: bool | None = None,
) -> Page[Fulfilment]:  # fmt: skip
    """Deliveries to the billing system of members of the caller's subtree, e.g. the FAILED ones to retry and
    those in doubt to settle."""
    actor = require_staff(principal, Permission.REDEMPTION_READ)
    query = sa.select(Fulfilment).where(of_subtree(actor, Fulfilment.member_id))
    if state is not None:
        query = query.where(Fulfilment.state == FulfilmentState(state))
    if in_doubt is not None:
        doubt = sa.exists().where(FulfilmentDoubt.fulfilment_id == Fulfilment.id)
        query = query.where(doubt if in_doubt else ~doubt)
    return await fetch_page(session, query, Fulfilment.id, page)


async def list_pickups(
    session: AsyncSession, principal: Principal, page: PageRequest, *, state: str | None = None,
    branch_id: BranchId | None = None,
) -> Page[GiftPickup]:  # fmt: skip
    """Gifts waiting at (or handed over by) branches of the caller's subtree."""
    actor = require_staff(principal, Permission.REDEMPTION_READ)
    query = sa.select(GiftPickup).where(GiftPickup.branch_id.in_(subtree_branch_ids(actor.branch_path)))
    if state is not None:
        query = query.where(GiftPickup.state == PickupState(state))
    if branch_id is not None:
        query = query.where(GiftPickup.branch_id == branch_id)
    return await fetch_page(session, query, GiftPickup.id, page)


async def get_fulfilments_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[Any]:
    """Fulfilments by id for `node(id:)`: the member's own; staff those of members of their subtree."""
    return await scoped(session, principal, Fulfilment, ids, Fulfilment.member_id,
                         lambda actor: of_subtree(actor, Fulfilment.member_id))  # fmt: skip


async def get_pickups_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[Any]:
    """Pick-ups by id for `node(id:)`: the member's own; staff those waiting in their subtree."""
    return await scoped(session, principal, GiftPickup, ids, GiftPickup.member_id,
                         lambda actor: GiftPickup.branch_id.in_(subtree_branch_ids(actor.branch_path)))  # fmt: skip
