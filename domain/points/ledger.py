"""The points ledger [P1]–[P6]: double entry, append-only, with lots for expiry.

Every movement is a transfer between the member's points account and one system account,
stored as one row: the member's side is `points`, the system account's `-points`, so each
transaction sums to zero by construction. The member's balance row changes in the same
database transaction, under a row lock, so concurrent movements of one member are serialised
and a balance can never go negative (a CHECK constraint backs this up). Credits fill a lot;
debits draw on the soonest-expiring lots first and record which, so a reversal restores
exactly those lots.

The movements themselves are database functions (migration 0009), so that a request moves
points in one round trip: `points_move`, `points_reverse` and `points_expire` here, composed
with the idempotency claim and the scope check by each request's own function.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import clock
from domain.columns import record_type, returned_by
from domain.points.tables import EntryType, LedgerTransaction, PointsBalance, PointsLot, SystemAccount
from domain.work.unit import refusals_raised

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
    EntryType.CANCELLATION: SystemAccount.REDEMPTION,
    EntryType.EXPIRY: SystemAccount.BREAKAGE,
}


def entries_of(call: str, *, replayed: bool = False, **parameter_types: Any) -> sa.TextualSelect:
    """The ledger entries a database function returns."""
    return returned_by(LedgerTransaction, call, replayed=replayed, **parameter_types)


MOVE = entries_of(
    "points_move(:member_id, :entry_type, :account, :points, :effective_on, :reason, :staff_id, :expires_on)"
)
REVERSE = entries_of("points_reverse(:transaction_id, :reason, :staff_id, :today)")
EXPIRE = entries_of("points_expire(:member_id, :as_of, :account)")


def entry(row: Sequence[Any]) -> LedgerTransaction:
    """The entry a ledger function returned, as a record of its columns (no entity is built for it)."""
    return record_type(LedgerTransaction)._make(row)


async def _one(session: AsyncSession, statement: sa.TextualSelect, **params: Any) -> LedgerTransaction | None:
    """The entry a ledger function made inside the caller's transaction (None: it had nothing to do)."""
    with refusals_raised():
        row = (await session.execute(statement, params)).one()
    return entry(row) if row.id is not None else None


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
    """Move `points` (signed, the member's side) between the member and the matching system account.

    In the database (`points_move`, migration 0009): under the balance row's lock, a credit fills
    a lot expiring under the validity rule in force, a debit draws on the soonest-expiring lots
    and cannot overdraw.
    """
    assert points != 0 and abs(points) <= points_per_movement_max, "callers check amounts"
    moved = await _one(session, MOVE, member_id=member_id, entry_type=entry_type.value,
                       account=COUNTER_ACCOUNT[entry_type].value, points=points,
                       effective_on=effective_on or clock.today(), reason=reason, staff_id=staff_id,
                       expires_on=expires_on)  # fmt: skip
    assert moved is not None
    return moved


async def reverse(
    session: AsyncSession, transaction_id: int, *, reason: str, staff_id: int | None
) -> LedgerTransaction:
    """Undo a transaction with a new one that references it; lots it filled or drew on are restored."""
    reversal = await _one(
        session, REVERSE, transaction_id=transaction_id, reason=reason, staff_id=staff_id, today=clock.today()
    )
    assert reversal is not None
    return reversal


# An ended membership's points: each lot of the members ends on a day at the latest (the policy's days after
# the membership ended), whichever way it ended: a reviewer's revocation, the review's own, staff's, the annual
# review's (all through `domain/members/ending.py`).
async def end_points_of_ended(session: AsyncSession, members: list[int] | sa.Select, until: date) -> None:
    """Every lot of `members` (ids, or a query of them; their memberships ended) ends on `until` at the latest,
    in one statement: emptied lots too, so that points given back to them later end with the rest, and a lot
    credited later (a correction) too: the day is kept on their balances (`points_move` reads it)."""
    if isinstance(members, list) and not members:
        return
    kept = sa.update(PointsBalance).where(PointsBalance.member_id.in_(members)).values(points_end_on=until)
    await session.execute(
        sa.update(PointsLot)
        .where(PointsLot.member_id.in_(members), PointsLot.expires_on > until)
        .values(expires_on=until)
        .add_cte(kept.cte("kept"))
        .execution_options(synchronize_session=False)  # no lot is held in the session: one statement
    )


async def expire_member(session: AsyncSession, member_id: int, as_of: date) -> LedgerTransaction | None:
    """Move what remains of the member's lots that expired before `as_of` to breakage."""
    account = COUNTER_ACCOUNT[EntryType.EXPIRY].value
    return await _one(session, EXPIRE, member_id=member_id, as_of=as_of, account=account)


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
        WHERE (lot_id IS NOT NULL) <> (points > 0 AND entry_type NOT IN ('REVERSAL', 'CANCELLATION'))""",
    "every reference names an existing row": """
        SELECT 'entry', t.id FROM ledger_transaction t
        WHERE NOT EXISTS (SELECT 1 FROM member m WHERE m.id = t.member_id)
           OR t.bill_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM bill b WHERE b.id = t.bill_id)
        UNION ALL SELECT 'lot', l.id FROM points_lot l
        WHERE NOT EXISTS (SELECT 1 FROM member m WHERE m.id = l.member_id)
        UNION ALL SELECT 'lot movement', m.id FROM lot_movement m
        WHERE NOT EXISTS (SELECT 1 FROM points_lot l WHERE l.id = m.lot_id)
           OR NOT EXISTS (SELECT 1 FROM ledger_transaction t WHERE t.id = m.transaction_id)
        UNION ALL SELECT 'accrual', a.bill_id FROM accrual a
        WHERE NOT EXISTS (SELECT 1 FROM bill b WHERE b.id = a.bill_id)
           OR a.member_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM member m WHERE m.id = a.member_id)""",
    "no balance is negative": "SELECT member_id FROM points_balance WHERE posted - held < 0 OR held < 0",
}


@dataclass(frozen=True)
class Violation:
    invariant: str
    examples: list[tuple[Any, ...]]


def every_invariant() -> dict[str, str]:
    """The ledger's invariants, then each area's (`domain/<area>/invariants.py`, found by walking `domain/`)."""
    import domain

    found = dict(INVARIANTS)
    for module in sorted(pkgutil.walk_packages(domain.__path__, "domain."), key=lambda m: m.name):
        if module.name.endswith(".invariants"):
            found |= importlib.import_module(module.name).INVARIANTS
    return found


async def verify(session: AsyncSession, examples_max: int = 10) -> list[Violation]:
    """Every invariant checked against the whole database; an empty list means all hold."""
    violations = []
    for name, query in every_invariant().items():
        rows = (await session.execute(sa.text(f"{query} LIMIT {examples_max}"))).all()
        if rows:
            violations.append(Violation(name, [tuple(r) for r in rows]))
    return violations
