"""Property: whatever sequence of earning, spending, expiring and reversing happens,
every ledger invariant holds after every step and no balance goes negative."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from domain.errors import DomainError
from domain.points import ledger
from domain.points.tables import EntryType
from loyalty.database import make_sessions

START = date(2026, 1, 1)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(1, 5_000), st.integers(0, 400)),
        st.tuples(st.just("spend"), st.integers(1, 6_000), st.integers(0, 400)),
        st.tuples(st.just("expire"), st.integers(0, 900), st.just(0)),
        st.tuples(st.just("reverse"), st.integers(0, 30), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


async def run_scenario(url: str, member_ids: list[int], steps: list[tuple], pick: list[int]) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    sessions = make_sessions(engine)
    try:
        async with engine.begin() as connection:  # start each example from an empty ledger
            await connection.execute(sa.text("TRUNCATE lot_movement, points_lot, ledger_transaction, points_balance"))
        for index, (kind, amount, day) in enumerate(steps):
            member_id = member_ids[pick[index % len(pick)] % len(member_ids)]
            on = START + timedelta(days=day)
            try:
                async with sessions.begin() as session:
                    if kind == "earn":
                        ends = on + timedelta(days=90)
                        await ledger.record(session, member_id=member_id, entry_type=EntryType.BONUS_PROMOTION,
                                            points=amount, effective_on=on, expires_on=ends)  # fmt: skip
                    elif kind == "spend":
                        await ledger.record(session, member_id=member_id, entry_type=EntryType.ADJUSTMENT,
                                            points=-amount, effective_on=on)  # fmt: skip
                    elif kind == "expire":
                        await ledger.expire_member(session, member_id, START + timedelta(days=amount))
                    else:
                        ids = (await session.scalars(sa.text("SELECT id FROM ledger_transaction ORDER BY id"))).all()
                        if ids:
                            await ledger.reverse(session, ids[amount % len(ids)], reason="p", staff_id=None)
            except DomainError:
                pass  # refused operations (overdraw, spent credit, double reversal) must change nothing
            async with sessions() as session:
                assert await ledger.verify(session) == [], (index, steps)
    finally:
        await engine.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=operations, pick=st.lists(st.integers(0, 1), min_size=1, max_size=12))
def test_ledger_invariants_hold_after_every_step(prepared_ledger, steps, pick):
    url, member_ids = prepared_ledger
    asyncio.run(run_scenario(url, member_ids, steps, pick))
