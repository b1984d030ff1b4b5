"""The monthly points run [P3]: every paid bill of a month earns its member points.

For each bill: consumption points = yuan actually paid × points per yuan × the grade's
multiplier (rounded down); an on-time bonus when paid in full by the due date; a tenure bonus
per full year in the network (since the customer's first account opened). A late or unpaid
bill costs a percentage of the member's points instead of the on-time bonus. Entries take
effect on the first day after the billing month, so their validity counts from then.

The run works in committed chunks of bills. A bill is claimed in `accrual` in the same
transaction as its entries, so running a month twice changes nothing, and a run that stopped
half way resumes where it stopped. Memory stays flat: one chunk at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.points import rules
from domain.points.bills import next_month
from domain.tables import Accrual, Bill, EntryType, MemberStatus, PointsBalance, PointsRule, RuleKind

chunk_bills_default = 1_000


@dataclass(frozen=True)
class Rates:
    points_per_yuan: Decimal
    multipliers: dict[str, Decimal]
    on_time_bonus: int
    tenure_bonus_per_year: int
    late_penalty_percent: Decimal

    @classmethod
    def of(cls, in_force: list[PointsRule]) -> Rates:
        by_kind: dict[RuleKind, Decimal] = {r.kind: r.value for r in in_force if r.grade_code is None}
        return cls(
            points_per_yuan=by_kind.get(RuleKind.POINTS_PER_YUAN, Decimal(0)),
            multipliers={r.grade_code: r.value for r in in_force if r.kind == RuleKind.GRADE_MULTIPLIER},
            on_time_bonus=int(by_kind.get(RuleKind.ON_TIME_BONUS, 0)),
            tenure_bonus_per_year=int(by_kind.get(RuleKind.TENURE_BONUS_PER_YEAR, 0)),
            late_penalty_percent=by_kind.get(RuleKind.LATE_PENALTY_PERCENT, Decimal(0)),
        )


@dataclass(frozen=True)
class BillFacts:
    bill_id: int
    member_id: int | None
    grade_code: str | None
    billed_fen: int
    paid_fen: int
    due_date: date
    paid_date: date | None
    in_network_since: date | None


def full_years(since: date, until: date) -> int:
    years = until.year - since.year - ((until.month, until.day) < (since.month, since.day))
    return max(years, 0)


def earnings(bill: BillFacts, rates: Rates, month_end: date) -> dict[EntryType, int]:
    """The points a bill earns, by entry type (the penalty is decided against the balance later)."""
    multiplier = rates.multipliers.get(bill.grade_code, Decimal(1))
    yuan = Decimal(bill.paid_fen) / 100
    consumption = int((yuan * rates.points_per_yuan * multiplier).to_integral_value(ROUND_DOWN))
    on_time = bill.paid_date is not None and bill.paid_date <= bill.due_date and bill.paid_fen >= bill.billed_fen
    tenure_years = full_years(bill.in_network_since, month_end) if bill.in_network_since else 0
    return {
        EntryType.CONSUMPTION: consumption,
        EntryType.BONUS_ON_TIME: rates.on_time_bonus if on_time else 0,
        EntryType.BONUS_TENURE: rates.tenure_bonus_per_year * tenure_years,
    }


def is_late(bill: BillFacts) -> bool:
    return bill.paid_date is None or bill.paid_date > bill.due_date or bill.paid_fen < bill.billed_fen


@dataclass
class AccrualRun:
    bills: int = 0
    members: int = 0
    points: int = 0
    penalties: int = 0


_FACTS = """
SELECT b.id, m.id, m.grade_code, b.amount_billed_fen, b.amount_paid_fen, b.due_date, b.paid_date,
       (SELECT min(a2.opened_on) FROM account a2 WHERE a2.customer_id = a.customer_id)
FROM bill b
JOIN account a ON a.id = b.account_id
LEFT JOIN member m ON m.customer_id = a.customer_id AND m.status = :active
WHERE b.billing_month = :month AND b.id > :after
  AND NOT EXISTS (SELECT 1 FROM accrual x WHERE x.bill_id = b.id)
ORDER BY b.id LIMIT :limit
"""


async def _chunk(session: AsyncSession, month: date, after: int, limit: int) -> list[BillFacts]:
    rows = await session.execute(
        sa.text(_FACTS), {"month": month, "after": after, "limit": limit, "active": MemberStatus.ACTIVE.value}
    )
    return [BillFacts(*row) for row in rows]


async def _claim(session: AsyncSession, bills: list[BillFacts]) -> set[int]:
    """Claim the bills for this run; another run that claimed one first keeps it."""
    claimed = await session.scalars(
        insert(Accrual)
        .values([{"bill_id": b.bill_id, "member_id": b.member_id, "points": 0} for b in bills])
        .on_conflict_do_nothing()
        .returning(Accrual.bill_id)
    )
    return set(claimed.all())


# Earnings of a whole chunk in one statement: transactions, both postings of each, a lot per
# transaction filled by it, and the members' balances. Rows come back to their input by
# (member, entry type, reason), which is unique: one entry of each type per bill.
_EARN_SQL = """
WITH input AS (
    SELECT * FROM unnest(CAST(:members AS bigint[]), CAST(:types AS text[]), CAST(:points AS bigint[]),
                         CAST(:reasons AS text[])) AS i(member_id, entry_type, points, reason)
), tx AS (
    INSERT INTO ledger_transaction (member_id, entry_type, points, effective_on, reason)
    SELECT member_id, entry_type, points, :awarded_on, reason FROM input
    RETURNING id, member_id, entry_type, points
), postings AS (
    INSERT INTO ledger_posting (transaction_id, member_id, account, amount)
    SELECT id, member_id, NULL, points FROM tx
    UNION ALL SELECT id, NULL, 'ISSUANCE', -points FROM tx
), lots AS (
    INSERT INTO points_lot (member_id, transaction_id, source, amount, remaining, earned_on, expires_on)
    SELECT member_id, id, entry_type, points, points, :awarded_on, :expires_on FROM tx
    RETURNING id, transaction_id, amount
), moves AS (
    INSERT INTO lot_movement (lot_id, transaction_id, amount) SELECT id, transaction_id, amount FROM lots
), totals AS (
    SELECT member_id, sum(points) AS total FROM input GROUP BY member_id
)
UPDATE points_balance b SET posted = b.posted + t.total, updated_at = now()
FROM totals t WHERE b.member_id = t.member_id
"""


async def _lock_balances(session: AsyncSession, members: list[int]) -> None:
    """Create missing balance rows and lock them all, in member order (no deadlock with other runs)."""
    if not members:
        return
    await session.execute(insert(PointsBalance).values([{"member_id": m} for m in members]).on_conflict_do_nothing())
    await session.execute(
        sa.select(PointsBalance.member_id)
        .where(PointsBalance.member_id.in_(members))
        .order_by(PointsBalance.member_id)
        .with_for_update()
    )


async def _earn(session: AsyncSession, entries: list[tuple[int, EntryType, int, str]], awarded_on: date,
                expires_on: date) -> None:  # fmt: skip
    """Record a chunk's earnings (member, type, points, reason) set-based; balances are locked already."""
    columns = list(zip(*entries, strict=True))
    await session.execute(
        sa.text(_EARN_SQL),
        {
            "members": list(columns[0]),
            "types": [t.value for t in columns[1]],
            "points": list(columns[2]),
            "reasons": list(columns[3]),
            "awarded_on": awarded_on,
            "expires_on": expires_on,
        },  # fmt: skip
    )


# Penalties of a whole chunk: per member, one PENALTY entry of the chosen points (each late bill
# costs a percentage of the balance after the month's earnings, together never more than the
# balance), drawn from the soonest-expiring lots by a running sum.
_PENALTY_SQL = """
WITH need AS (
    SELECT p.member_id, least(p.points, b.posted - b.held) AS points, p.reason
    FROM unnest(CAST(:members AS bigint[]), CAST(:points AS bigint[]), CAST(:reasons AS text[]))
         AS p(member_id, points, reason)
    JOIN points_balance b ON b.member_id = p.member_id
    WHERE least(p.points, b.posted - b.held) > 0
), tx AS (
    INSERT INTO ledger_transaction (member_id, entry_type, points, effective_on, reason)
    SELECT member_id, 'PENALTY', -points, :awarded_on, reason FROM need
    RETURNING id, member_id, -points AS points
), postings AS (
    INSERT INTO ledger_posting (transaction_id, member_id, account, amount)
    SELECT id, member_id, NULL, -points FROM tx
    UNION ALL SELECT id, NULL, 'ADJUSTMENT', points FROM tx
), ordered AS (
    SELECT l.id, l.member_id, l.remaining,
           sum(l.remaining) OVER (PARTITION BY l.member_id ORDER BY l.expires_on, l.id) AS running
    FROM points_lot l WHERE l.remaining > 0 AND l.member_id IN (SELECT member_id FROM need)
), draws AS (
    SELECT o.id, tx.id AS transaction_id, least(o.remaining, tx.points - (o.running - o.remaining)) AS taken
    FROM ordered o JOIN tx ON tx.member_id = o.member_id
    WHERE o.running - o.remaining < tx.points
), drawn AS (
    UPDATE points_lot l SET remaining = l.remaining - d.taken FROM draws d WHERE l.id = d.id
), moves AS (
    INSERT INTO lot_movement (lot_id, transaction_id, amount) SELECT id, transaction_id, -taken FROM draws
), balances AS (
    UPDATE points_balance b SET posted = b.posted - tx.points, updated_at = now()
    FROM tx WHERE b.member_id = tx.member_id
)
SELECT member_id, points FROM tx
"""


async def _penalise(session: AsyncSession, bills: list[BillFacts], rates: Rates, awarded_on: date) -> dict[int, int]:
    """Penalties for the chunk's late or unpaid bills, set-based; returns the points taken per bill."""
    late = [b for b in bills if is_late(b)]
    if not late or rates.late_penalty_percent <= 0:
        return {}
    members = sorted({b.member_id for b in late})
    available = dict((await session.execute(
        sa.select(PointsBalance.member_id, PointsBalance.posted - PointsBalance.held)
        .where(PointsBalance.member_id.in_(members)))).all())  # fmt: skip
    per_bill: dict[int, int] = {}
    per_member: dict[int, int] = {}
    for bill in late:
        share = int(
            (Decimal(available.get(bill.member_id, 0)) * rates.late_penalty_percent / 100).to_integral_value(ROUND_DOWN)
        )
        room = available.get(bill.member_id, 0) - per_member.get(bill.member_id, 0)
        per_bill[bill.bill_id] = -min(share, room)
        per_member[bill.member_id] = per_member.get(bill.member_id, 0) + min(share, room)
    charged = {m: p for m, p in per_member.items() if p > 0}
    if charged:
        reasons = [", ".join(f"{b.bill_id}" for b in late if b.member_id == m) for m in charged]
        await session.execute(
            sa.text(_PENALTY_SQL),
            {
                "members": list(charged),
                "points": list(charged.values()),
                "reasons": [f"Late or unpaid bills {r}" for r in reasons],
                "awarded_on": awarded_on,
            },  # fmt: skip
        )
    return {bill_id: points for bill_id, points in per_bill.items() if points}


async def _accrue_chunk(
    session: AsyncSession, bills: list[BillFacts], rates: Rates, month_end: date, expires_on: date, run: AccrualRun
) -> None:
    awarded_on = month_end + timedelta(days=1)
    net: dict[int, int] = {}
    entries = []
    for bill in bills:
        for entry_type, points in earnings(bill, rates, month_end).items():
            if points > 0:
                entries.append((bill.member_id, entry_type, points, f"Bill {bill.bill_id}"))
                net[bill.bill_id] = net.get(bill.bill_id, 0) + points
    await _lock_balances(session, sorted({b.member_id for b in bills}))
    if entries:
        await _earn(session, entries, awarded_on, expires_on)
    penalties = await _penalise(session, bills, rates, awarded_on)
    run.penalties += len(penalties)
    for bill_id, points in penalties.items():
        net[bill_id] = net.get(bill_id, 0) + points
    if net:
        await session.execute(
            sa.text(
                """UPDATE accrual SET points = v.points
                   FROM unnest(CAST(:bills AS bigint[]), CAST(:points AS bigint[])) AS v(bill_id, points)
                   WHERE accrual.bill_id = v.bill_id"""
            ),
            {"bills": list(net), "points": list(net.values())},
        )
    run.points += sum(net.values())


async def accrue_month(
    sessions: Any, month: date, *, chunk_bills: int = chunk_bills_default, progress: Callable[[int], None] | None = None
) -> AccrualRun:
    """Accrue every bill of `month` (its first day) not accrued yet; see the module's description."""
    month_end = next_month(month) - timedelta(days=1)
    async with sessions() as session:
        rates = Rates.of(await rules.rules_in_force(session, month_end))
        awarded_on = month_end + timedelta(days=1)
        expires_on = rules.expiry_date(await rules.rules_in_force(session, awarded_on), awarded_on)
    run, after = AccrualRun(), 0
    while True:
        async with sessions.begin() as session:
            bills = await _chunk(session, month, after, chunk_bills)
            claimed = await _claim(session, bills) if bills else set()
            mine = [b for b in bills if b.bill_id in claimed and b.member_id is not None]
            await _accrue_chunk(session, mine, rates, month_end, expires_on, run)
            run.bills += len(claimed)
        if not bills:
            async with sessions() as session:
                run.members = await session.scalar(
                    sa.select(sa.func.count(sa.distinct(Accrual.member_id)))
                    .join(Bill, Bill.id == Accrual.bill_id)
                    .where(Bill.billing_month == month, Accrual.points != 0)
                )
            return run
        after = bills[-1].bill_id
        if progress:
            progress(len(bills))
