"""The points ledger [P1]–[P6]: double entry, append-only, with lots for expiry.

Every movement is a transfer between the member's points account and one system account,
stored as one row: the member's side is `points`, the system account's `-points`, so each
transaction sums to zero by construction. The member's balance row changes in the same
database transaction, under a row lock, so concurrent movements of one member are serialised
and a balance can never go negative (a CHECK constraint backs this up). Credits fill a lot;
debits draw on the soonest-expiring lots first and record which, so a reversal restores
exactly those lots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain import clock
from domain.errors import DomainError, ErrorCode
from domain.points import rules
from domain.points.errors import PointsErrorCode
from domain.points.tables import EntryType, LedgerTransaction, LotMovement, PointsBalance, PointsLot, SystemAccount

points_per_movement_max = 100_000_000

# The system account on the other side of each kind of movement.
COUNTER_ACCOUNT = {
    EntryType.CONSUMPTION: SystemAccount.ISSUANCE,
    EntryType.BONUS_TENURE: SystemAccount.ISSUANCE,
    EntryType.BONUS_ON_TIME: SystemAccount.ISSUANCE,
    EntryType.BONUS_PROMOTION: SystemAccount.ISSUANCE,
    EntryType.BONUS_ACTIVITY: SystemAccount.ISSUANCE,
    EntryType.SURVEY: SystemAccount.ISSUANCE,
    EntryType.REFERRAL: SystemAccount.ISSUANCE,
    EntryType.PARTNER_EXCHANGE_IN: SystemAccount.PARTNER_CLEARING,
    EntryType.PENALTY: SystemAccount.ADJUSTMENT,
    EntryType.ADJUSTMENT: SystemAccount.ADJUSTMENT,
    EntryType.REDEMPTION: SystemAccount.REDEMPTION,
    EntryType.EXPIRY: SystemAccount.BREAKAGE,
}


async def lock_balance(session: AsyncSession, member_id: int) -> PointsBalance:
    """The member's balance row, created on first use, locked until the transaction ends."""
    await session.execute(insert(PointsBalance).values(member_id=member_id).on_conflict_do_nothing())
    balance = await session.get(PointsBalance, member_id, with_for_update=True, populate_existing=True)
    assert balance is not None
    return balance


async def record(
    session: AsyncSession,
    *,
    member_id: int,
    entry_type: EntryType,
    points: int,
    effective_on: date | None = None,
    reason: str | None = None,
    staff_id: int | None = None,
    expires_on: date | None = None,
) -> LedgerTransaction:
    """Move `points` (signed, the member's side) between the member and the matching system account."""
    assert points != 0 and abs(points) <= points_per_movement_max, "callers check amounts"
    effective_on = effective_on or clock.today()
    balance = await lock_balance(session, member_id)
    if points < 0 and balance.posted - balance.held < -points:
        raise DomainError(
            ErrorCode.INSUFFICIENT_POINTS,
            f"The member has {balance.posted - balance.held} points available; {-points} are needed.",
            "points",
        )
    lot_id = None
    if points > 0:
        if expires_on is None:
            expires_on = rules.expiry_date(await rules.rules_in_force(session, effective_on), effective_on)
        lot_id = await _new_lot(session, member_id, points, effective_on, expires_on)
    transaction = await _journal(session, member_id, entry_type, points, effective_on, reason, staff_id, lot_id=lot_id)
    if points < 0:
        await _draw_lots(session, transaction, -points)
    await _post(session, balance, points)
    return transaction


async def _post(session: AsyncSession, balance: PointsBalance, points: int) -> None:
    """Apply a transaction's member side to the locked balance row (the CHECK forbids going below zero)."""
    balance.posted += points
    balance.updated_at = clock.now()
    await session.flush()


async def _journal(
    session: AsyncSession,
    member_id: int,
    entry_type: EntryType,
    points: int,
    effective_on: date,
    reason: str | None,
    staff_id: int | None,
    *,
    account: SystemAccount | None = None,
    lot_id: int | None = None,
    reverses_id: int | None = None,
) -> LedgerTransaction:
    transaction = LedgerTransaction(
        member_id=member_id,
        entry_type=entry_type,
        account=account or COUNTER_ACCOUNT[entry_type],
        points=points,
        effective_on=effective_on,
        reason=reason,
        staff_id=staff_id,
        lot_id=lot_id,
        reverses_id=reverses_id,
    )
    session.add(transaction)
    await session.flush()
    return transaction


async def _new_lot(session: AsyncSession, member_id: int, points: int, earned_on: date, expires_on: date) -> int:
    lot = PointsLot(member_id=member_id, amount=points, remaining=points, earned_on=earned_on, expires_on=expires_on)
    session.add(lot)
    await session.flush()
    assert lot.id is not None
    return lot.id


async def _draw_lots(
    session: AsyncSession, transaction: LedgerTransaction, points: int, lots: list | None = None
) -> None:
    """Take `points` from the soonest-expiring lots (or from `lots`, in order), recording each draw."""
    if lots is None:
        query = (
            sa.select(PointsLot)
            .where(PointsLot.member_id == transaction.member_id, PointsLot.remaining > 0)
            .order_by(PointsLot.expires_on, PointsLot.id)
            .with_for_update()
        )
        lots = list((await session.scalars(query)).all())
    needed = points
    for lot in lots:
        if needed == 0:
            break
        taken = min(lot.remaining, needed)
        lot.remaining -= taken
        needed -= taken
        session.add(LotMovement(lot_id=lot.id, transaction_id=transaction.id, amount=-taken))
    assert needed == 0, "lot remainders add up to the posted balance"


# --- reversal and expiry ---------------------------------------------------------------------


async def reverse(
    session: AsyncSession, transaction_id: int, *, reason: str, staff_id: int | None
) -> LedgerTransaction:
    """Undo a transaction with a new one that references it; lots it filled or drew on are restored."""
    original = await session.get(LedgerTransaction, transaction_id)
    if original is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such ledger transaction.", "transaction_id")
    if original.reverses_id is not None:
        raise DomainError(
            PointsErrorCode.REVERSAL_NOT_REVERSIBLE,
            "A reversal cannot be reversed; record a new entry.",
            "transaction_id",
        )
    balance = await lock_balance(session, original.member_id)
    if await session.scalar(sa.select(LedgerTransaction.id).where(LedgerTransaction.reverses_id == original.id)):
        raise DomainError(
            PointsErrorCode.TRANSACTION_ALREADY_REVERSED, "This transaction is reversed already.", "transaction_id"
        )
    if original.lot_id is not None:  # a credit: take its points back out of the lot it filled
        lot = await session.get(PointsLot, original.lot_id, with_for_update=True, populate_existing=True)
        assert lot is not None
        moves = [(lot, original.points)]
    else:  # a debit: put back what it drew, lot by lot
        query = sa.select(PointsLot, LotMovement.amount).join(LotMovement)
        drawn = await session.execute(
            query.where(LotMovement.transaction_id == original.id).order_by(PointsLot.id).with_for_update(of=PointsLot)
        )
        moves = [(lot, amount) for lot, amount in drawn.all()]
    if any(lot.remaining < amount for lot, amount in moves if amount > 0):
        raise DomainError(
            PointsErrorCode.POINTS_SPENT_OR_EXPIRED,
            "Some of these points are spent or expired already.",
            "transaction_id",
        )
    reversal = await _journal(session, original.member_id, EntryType.REVERSAL, -original.points, clock.today(),
                              reason, staff_id, account=original.account, reverses_id=original.id)  # fmt: skip
    for lot, amount in moves:
        lot.remaining -= amount
        session.add(LotMovement(lot_id=lot.id, transaction_id=reversal.id, amount=-amount))
    await _post(session, balance, -original.points)
    return reversal


async def expire_member(session: AsyncSession, member_id: int, as_of: date) -> LedgerTransaction | None:
    """Move what remains of the member's lots that expired before `as_of` to breakage."""
    balance = await lock_balance(session, member_id)
    query = (
        sa.select(PointsLot)
        .where(PointsLot.member_id == member_id, PointsLot.remaining > 0, PointsLot.expires_on < as_of)
        .order_by(PointsLot.expires_on, PointsLot.id)
        .with_for_update()
    )
    lots = list((await session.scalars(query)).all())
    points = sum(lot.remaining for lot in lots)
    if points == 0:
        return None
    transaction = await _journal(session, member_id, EntryType.EXPIRY, -points, as_of, f"Expired before {as_of}", None)
    await _draw_lots(session, transaction, points, lots)
    await _post(session, balance, -points)
    return transaction


async def members_with_expired_lots(session: AsyncSession, as_of: date, after_member_id: int, limit: int) -> list[int]:
    query = (
        sa.select(PointsLot.member_id)
        .where(PointsLot.remaining > 0, PointsLot.expires_on < as_of, PointsLot.member_id > after_member_id)
        .group_by(PointsLot.member_id)
        .order_by(PointsLot.member_id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


# --- invariants ------------------------------------------------------------------------------------

INVARIANTS: dict[str, str] = {
    "each balance equals the sum of its entries": """
        SELECT b.member_id, b.posted, coalesce(t.total, 0) FROM points_balance b
        FULL JOIN (SELECT member_id, sum(points) AS total FROM ledger_transaction GROUP BY member_id) t
            ON t.member_id = b.member_id
        WHERE coalesce(b.posted, 0) <> coalesce(t.total, 0)""",
    "each member's lot remainders equal the posted balance": """
        SELECT b.member_id, b.posted, coalesce(l.total, 0) FROM points_balance b
        FULL JOIN (SELECT member_id, sum(remaining) AS total FROM points_lot GROUP BY member_id) l
            ON l.member_id = b.member_id
        WHERE coalesce(b.posted, 0) <> coalesce(l.total, 0)""",
    "each lot holds what its credits put in": """
        SELECT l.id, l.member_id, l.amount, t.total FROM points_lot l
        LEFT JOIN (SELECT lot_id, member_id, sum(points) AS total FROM ledger_transaction WHERE lot_id IS NOT NULL
                   GROUP BY lot_id, member_id) t ON t.lot_id = l.id AND t.member_id = l.member_id
        WHERE t.total IS DISTINCT FROM l.amount""",
    "each lot's remainder equals its amount plus its movements": """
        SELECT l.id, l.amount, l.remaining, m.total FROM points_lot l
        JOIN (SELECT lot_id, sum(amount) AS total FROM lot_movement GROUP BY lot_id) m ON m.lot_id = l.id
        WHERE l.remaining <> l.amount + m.total""",
    "every credit filled a lot and only credits did": """
        SELECT id, points, lot_id FROM ledger_transaction
        WHERE (lot_id IS NOT NULL) <> (points > 0 AND entry_type <> 'REVERSAL')""",
    "every reference names an existing row": """
        SELECT 'entry', t.id FROM ledger_transaction t
        WHERE NOT EXISTS (SELECT 1 FROM member m WHERE m.id = t.member_id)
           OR t.bill_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM bill b WHERE b.id = t.bill_id)
        UNION ALL SELECT 'lot', l.id FROM points_lot l
        WHERE NOT EXISTS (SELECT 1 FROM member m WHERE m.id = l.member_id)
        UNION ALL SELECT 'accrual', a.bill_id FROM accrual a
        WHERE NOT EXISTS (SELECT 1 FROM bill b WHERE b.id = a.bill_id)
           OR a.member_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM member m WHERE m.id = a.member_id)""",
    "no balance is negative": "SELECT member_id FROM points_balance WHERE posted - held < 0 OR held < 0",
}


@dataclass(frozen=True)
class Violation:
    invariant: str
    examples: list[tuple[Any, ...]]


async def verify(session: AsyncSession, examples_max: int = 10) -> list[Violation]:
    """Every ledger invariant checked against the whole database; an empty list means all hold."""
    violations = []
    for name, query in INVARIANTS.items():
        rows = (await session.execute(sa.text(f"{query} LIMIT {examples_max}"))).all()
        if rows:
            violations.append(Violation(name, [tuple(r) for r in rows]))
    return violations
