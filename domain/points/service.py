"""Points operations for staff and members: adjustments, reversals, the expiry run, and reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import clock
from domain.access import MemberPrincipal, Permission, Principal, may_read_member, require_staff, role_grants
from domain.columns import records
from domain.errors import DomainError, ErrorCode
from domain.members.states import MemberOperation, rules_for
from domain.members.tables import Member
from domain.organisation.service import subtree_branch_ids, visible
from domain.organisation.tables import Branch
from domain.paging import Page, PageRequest, fetch_page
from domain.points import ledger
from domain.points.bills import next_month
from domain.points.tables import EntryType, LedgerTransaction, PointsBalance, PointsLot
from domain.validation import Checker, note_length_max, require_period
from domain.work.commands import Idempotent, MemberId, PointsTransactionId
from domain.work.idempotency import claims_its_key
from domain.work.unit import UnitOfWork

adjustment_points_max = 10_000_000
expiring_days_max = 366
# Manual entries [P4]: which types staff may record, and the sign each must have (0: either).
ADJUSTABLE = {
    EntryType.ADJUSTMENT: 0,
    EntryType.BONUS_PROMOTION: 1,
    EntryType.BONUS_ACTIVITY: 1,
    EntryType.SURVEY: 1,
    EntryType.REFERRAL: 1,
    EntryType.PENALTY: -1,
}


@dataclass(frozen=True, kw_only=True)
class AdjustPoints(Idempotent):
    member_id: MemberId | None
    points: int
    reason: str
    entry_type: EntryType = EntryType.ADJUSTMENT

    def authorize(self, principal: Principal) -> None:
        require_staff(principal, Permission.POINTS_ADJUST)


ADJUST = ledger.entries_of(
    "adjust_points(:scope, :key, :digest, :member_id, :branch_path, :entry_type, :account, :points, :reason,"
    " :staff_id, :today, :states)",
    replayed=True,
    states=JSONB,
)
REVERSE = ledger.entries_of(
    "reverse_points_transaction(:scope, :key, :digest, :transaction_id, :branch_path, :reason, :staff_id, :today,"
    " :states)",
    replayed=True,
    states=JSONB,
)


@claims_its_key
async def adjust_points(uow: UnitOfWork, command: AdjustPoints) -> LedgerTransaction:
    """A manual bonus or penalty with a reason [P4]; a negative adjustment cannot overdraw.

    One statement: the key's claim, the member's scope, the balance, the lot and the entry.
    """
    actor = require_staff(uow.principal, Permission.POINTS_ADJUST)
    check = Checker()
    reason = check.text("reason", command.reason, length_max=note_length_max, required=True)
    check.integer("points", command.points, minimum=-adjustment_points_max, maximum=adjustment_points_max)
    kind, points = EntryType(command.entry_type), command.points
    if kind not in ADJUSTABLE:
        check.fail("entry_type", ErrorCode.INVALID, f"Staff may record {', '.join(ADJUSTABLE)}.")
    elif points == 0 or (ADJUSTABLE[kind] and (points > 0) != (ADJUSTABLE[kind] > 0)):
        check.fail(
            "points", ErrorCode.OUT_OF_RANGE, "points must not be 0, and penalties are negative, bonuses positive."
        )
    check.raise_if_any()
    if command.member_id is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such member in your scope.", "member_id")
    # A correction stays possible in every membership state; bonuses and penalties only while the member earns.
    operation = MemberOperation.CORRECT if kind == EntryType.ADJUSTMENT else MemberOperation.EARN
    rows = await uow.statement(ADJUST, **uow.claim.params(), member_id=command.member_id,
                               branch_path=actor.branch_path, entry_type=kind.value,
                               account=ledger.COUNTER_ACCOUNT[kind].value, points=points, reason=reason,
                               staff_id=actor.staff_id, today=uow.today, states=rules_for(operation))  # fmt: skip
    return ledger.entry(rows[0])


@dataclass(frozen=True, kw_only=True)
class ReversePointsTransaction(Idempotent):
    transaction_id: PointsTransactionId | None
    reason: str

    def authorize(self, principal: Principal) -> None:
        require_staff(principal, Permission.POINTS_RULES)


@claims_its_key
async def reverse_points_transaction(uow: UnitOfWork, command: ReversePointsTransaction) -> LedgerTransaction:
    """Correct a past entry by reversing it; the original stays as it was. One statement, as adjustments."""
    actor = require_staff(uow.principal, Permission.POINTS_RULES)
    check = Checker()
    reason = check.text("reason", command.reason, length_max=note_length_max, required=True)
    check.raise_if_any()
    if command.transaction_id is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such ledger transaction in your scope.", "transaction_id")
    rows = await uow.statement(REVERSE, **uow.claim.params(), transaction_id=command.transaction_id,
                               branch_path=actor.branch_path, reason=reason, staff_id=actor.staff_id,
                               today=uow.today, states=rules_for(MemberOperation.CORRECT))  # fmt: skip
    return ledger.entry(rows[0])


@dataclass(frozen=True)
class ExpiryRun:
    members: int
    points: int


async def expire(
    sessions: async_sessionmaker, as_of: date, *, chunk_members: int = 500, progress: Any = None
) -> ExpiryRun:
    """Expire every lot that ended before `as_of`, one committed chunk of members at a time.

    Idempotent and resumable: expired lots have nothing left, so a rerun finds nothing to do. It never
    runs ahead of today: points still valid today stay, whoever starts the run.
    """
    if as_of > clock.today():
        raise DomainError(ErrorCode.OUT_OF_RANGE, f"asOf {as_of} is after today: points still valid stay.", "as_of")
    members = points = 0
    after = 0
    while True:
        async with UnitOfWork(sessions) as uow:
            batch = await ledger.members_with_expired_lots(uow.session, as_of, after, chunk_members)
            for member_id in batch:
                transaction = await ledger.expire_member(uow.session, member_id, as_of)
                if transaction is not None:
                    members, points = members + 1, points - transaction.points
        if not batch:
            return ExpiryRun(members, points)
        after = batch[-1]
        if progress:
            progress(len(batch))


# --- reads ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expiring:
    points: int
    expires_on: date


@dataclass(frozen=True)
class PointsSummary:
    member_id: int
    posted: int
    held: int
    expired: int  # held by lots that ended before today, until the expiry run moves it: never spent

    @property
    def available(self) -> int:
        return self.posted - self.held - self.expired


async def summaries(session: AsyncSession, member_ids: list[int]) -> list[PointsSummary]:
    expired = sa.func.points_expired(PointsBalance.member_id, clock.today())
    query = sa.select(PointsBalance.member_id, PointsBalance.posted, PointsBalance.held, expired).where(
        PointsBalance.member_id.in_(member_ids)
    )
    rows = {member_id: figures for member_id, *figures in (await session.execute(query)).all()}
    return [PointsSummary(i, *rows.get(i, (0, 0, 0))) for i in member_ids]


async def expiring_soon(session: AsyncSession, member_id: int, days: int) -> list[Expiring]:
    """Points that expire within `days` days from today, by expiry date [P5]."""
    if not 0 <= days <= expiring_days_max:
        raise DomainError(ErrorCode.OUT_OF_RANGE, f"days must be 0 to {expiring_days_max}.", "days")
    today = clock.today()
    query = (
        sa.select(PointsLot.expires_on, sa.func.sum(PointsLot.remaining))
        .where(
            PointsLot.member_id == member_id,
            PointsLot.remaining > 0,
            PointsLot.expires_on.between(today, today + timedelta(days=days)),
        )
        .group_by(PointsLot.expires_on)
        .order_by(PointsLot.expires_on)
    )
    return [Expiring(int(total), on) for on, total in (await session.execute(query)).all()]


async def history(
    session: AsyncSession,
    principal: Principal,
    member_id: int,
    page: PageRequest,
    *,
    entry_types: list[str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> Page[LedgerTransaction]:
    """A member's entries by type and inclusive effective-date range [P6], in the order they take effect
    (then as they were written): a month accrued late appears in its place."""
    await _require_reader(session, principal, member_id)
    if start and end and start > end:
        raise DomainError(ErrorCode.INVALID, "to must not be before from.", "to")
    query = sa.select(LedgerTransaction).where(LedgerTransaction.member_id == member_id)
    if entry_types:
        query = query.where(LedgerTransaction.entry_type.in_(sorted({EntryType(t) for t in entry_types})))
    if start:
        query = query.where(LedgerTransaction.effective_on >= start)
    if end:
        query = query.where(LedgerTransaction.effective_on <= end)
    return await fetch_page(session, query, (LedgerTransaction.effective_on, LedgerTransaction.id), page)


async def _require_reader(session: AsyncSession, principal: Principal, member_id: int) -> None:
    if isinstance(principal, MemberPrincipal) and principal.member_id == member_id:
        return
    require_staff(principal, Permission.POINTS_READ)
    path = await session.scalar(
        sa.select(Branch.path).join(Member, Member.branch_id == Branch.id).where(Member.id == member_id)
    )
    if path is None or not may_read_member(principal, member_id, path):
        raise DomainError(ErrorCode.NOT_FOUND, "No such member in your scope.", "member_id")


async def get_transactions_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[Any]:
    query = (
        sa.select(LedgerTransaction, Branch.path)
        .join(Member, Member.id == LedgerTransaction.member_id)
        .join(Branch, Branch.id == Member.branch_id)
        .where(LedgerTransaction.id.in_(ids))
    )

    def allowed(transaction: LedgerTransaction, path: str) -> bool:
        if isinstance(principal, MemberPrincipal):
            return transaction.member_id == principal.member_id
        return role_grants(principal, Permission.POINTS_READ) and may_read_member(
            principal, transaction.member_id, path
        )

    return await visible(session, query, ids, allowed)


@dataclass(frozen=True)
class Total:
    entry_type: EntryType
    points: int
    entries: int


async def totals(session: AsyncSession, principal: Principal, *, start: date, end: date) -> list[Total]:
    """Points by entry type in the inclusive period, for members in the caller's subtree [P6][P7]."""
    actor = require_staff(principal, Permission.POINTS_READ)
    require_period(start, end)
    members = sa.select(Member.id).where(Member.branch_id.in_(subtree_branch_ids(actor.branch_path)))
    query = (
        sa.select(LedgerTransaction.entry_type, sa.func.sum(LedgerTransaction.points), sa.func.count())
        .where(
            LedgerTransaction.effective_on.between(start, end),
            LedgerTransaction.member_id.in_(members.scalar_subquery()),
        )
        .group_by(LedgerTransaction.entry_type)
        .order_by(LedgerTransaction.entry_type)
    )
    return [Total(t, int(p), c) for t, p, c in (await session.execute(query)).all()]


statement_entries_max = 1_000  # a statement lists its month's first entries; pointsHistory pages through all


@dataclass(frozen=True)
class Statement:
    """A member's points for one month [P6]: opening + earned + spent = closing, over all of the month's entries;
    `entries` the first `statement_entries_max` of `entry_count`."""

    month: date
    opening: int
    earned: int
    spent: int
    entry_count: int
    entries: list[LedgerTransaction]

    @property
    def closing(self) -> int:
        return self.opening + self.earned + self.spent


async def statement(session: AsyncSession, principal: Principal, member_id: int, first: date) -> Statement:
    """The member's statement of the month whose first day is `first`."""
    await _require_reader(session, principal, member_id)
    following = next_month(first)
    figures = (await session.execute(_STATEMENT_FIGURES, {"member": member_id, "first": first,
                                                          "following": following})).one()  # fmt: skip
    query = (
        sa.select(LedgerTransaction)
        .where(LedgerTransaction.member_id == member_id, LedgerTransaction.effective_on >= first,
               LedgerTransaction.effective_on < following)
        .order_by(LedgerTransaction.effective_on, LedgerTransaction.id)
        .limit(statement_entries_max)
    )  # fmt: skip
    return Statement(first, *map(int, figures), await records(session, query))


# Opening, earned (every entry that added points), spent (every entry that took some) and how many entries: of
# the whole month, however many entries it lists.
_STATEMENT_FIGURES = sa.text(
    """SELECT coalesce(sum(points) FILTER (WHERE effective_on < :first), 0),
              coalesce(sum(points) FILTER (WHERE effective_on >= :first AND points > 0), 0),
              coalesce(sum(points) FILTER (WHERE effective_on >= :first AND points < 0), 0),
              count(*) FILTER (WHERE effective_on >= :first)
       FROM ledger_transaction WHERE member_id = :member AND effective_on < :following"""
)
