"""Alembic owns the schema: upgrade from empty matches the models, and downgrade undoes it."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from domain.columns import metadata
from loyalty import migrate
from loyalty.database import make_engine
from tests.conftest import recreate_database


async def test_upgrade_from_empty_matches_the_models_and_downgrade_empties(server_url):
    # given an empty database
    engine = make_engine(await recreate_database(server_url, "loyalty_migrations_test"), pool_size=1)
    try:
        # when every migration is applied
        await migrate.upgrade(engine)
        # then the tables are exactly what the models say
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata())
            )
            grades = (await connection.execute(sa.text("SELECT code FROM grade ORDER BY rank"))).scalars().all()
        assert diff == []
        assert grades == ["DIAMOND", "EMERALD", "SAPPHIRE"]
        assert await migrate.current_revision(engine) == migrate.head_revision()

        # when every migration is undone, nothing of ours is left
        await migrate.downgrade(engine, "base")
        async with engine.connect() as connection:
            tables = (
                await connection.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            ).scalars()
            sequences = (
                await connection.execute(sa.text("SELECT relname FROM pg_class WHERE relkind = 'S'"))
            ).scalars()
            assert set(tables) <= {"alembic_version"}
            assert list(sequences) == []

        # and upgrading again works
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def test_hosts_starting_together_migrate_one_after_another(server_url):
    # given an empty database and three hosts starting at once
    url = await recreate_database(server_url, "loyalty_concurrent_migrations_test")
    engines = [make_engine(url, pool_size=1) for _ in range(3)]
    try:
        # when each applies the migrations
        await asyncio.gather(*(migrate.upgrade(engine) for engine in engines))
        # then all succeed and the database is at head
        assert await migrate.current_revision(engines[0]) == migrate.head_revision()
    finally:
        for engine in engines:
            await engine.dispose()


async def test_the_ledger_survives_going_back_to_postings_and_forth_to_transfers(server_url):
    # given a database at head with the demo's ledger, a draw and a reversal on it
    from domain.points import ledger
    from loyalty.database import make_sessions
    from loyalty.demo import load_demo

    engine = make_engine(await recreate_database(server_url, "loyalty_ledger_migration_test"), pool_size=1)
    try:
        await migrate.upgrade(engine)
        sessions = make_sessions(engine)
        async with sessions.begin() as session:
            demo = await load_demo(session)
            member = demo.members["Li Wei"]
            draw = await ledger.record(session, member_id=member, entry_type=ledger.EntryType.REDEMPTION, points=-1300)
            await ledger.reverse(session, draw.id, reason="test", staff_id=None)
        before = await _ledger_figures(engine)
        # when the migration to transfers is undone and done again
        await migrate.downgrade(engine, "0005")
        await migrate.upgrade(engine)
        # then balances, lots and entries are as they were, and every invariant holds
        assert await _ledger_figures(engine) == before
        async with sessions() as session:
            assert await ledger.verify(session) == []
    finally:
        await engine.dispose()


async def _ledger_figures(engine) -> list:
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.text(
                """SELECT (SELECT array_agg(ARRAY[member_id, posted] ORDER BY member_id) FROM points_balance),
                          (SELECT array_agg(ARRAY[id, amount, remaining] ORDER BY id) FROM points_lot),
                          (SELECT array_agg(ARRAY[id, points] ORDER BY id) FROM ledger_transaction),
                          (SELECT array_agg(account ORDER BY id) FROM ledger_transaction)"""
            )
        )
        return list(rows.one())
