"""Alembic owns the schema: upgrade from empty matches the models, and downgrade undoes it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from domain.columns import metadata
from loyalty import migrate
from loyalty.database import make_engine
from tests.conftest import recreate_database

ROOT = Path(__file__).resolve().parent.parent


@contextlib.asynccontextmanager
async def fresh_database(server_url: str, name: str) -> AsyncIterator[Any]:
    """The engine of an empty database of its own, disposed of after the block."""
    engine = make_engine(await recreate_database(server_url, name), pool_size=1)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_upgrade_from_empty_matches_the_models_and_downgrade_empties(server_url):
    # given an empty database
    async with fresh_database(server_url, "loyalty_migrations_test") as engine:
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

    async with fresh_database(server_url, "loyalty_ledger_migration_test") as engine:
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


async def test_monthly_runs_and_idempotency_keys_survive_going_to_job_runs_and_back(server_url):
    # given a database at 0007 (the demo and a reversed bonus made at head, where the ledger's functions are) with
    # a finished and a failed monthly run, and idempotency keys under the old scopes
    from domain.access import MemberPrincipal, StaffPrincipal
    from domain.organisation.tables import StaffRole
    from domain.points import ledger
    from domain.points.accrual import MonthlyAccrualRun
    from domain.points.service import AdjustPoints, ReversePointsTransaction
    from domain.points.tables import EntryType
    from domain.work.idempotency import _caller, _digest
    from domain.work.tables import IdempotencyRecord, JobRun
    from loyalty.database import make_sessions
    from loyalty.demo import load_demo

    async with fresh_database(server_url, "loyalty_job_run_migration_test") as engine:
        await migrate.upgrade(engine)
        sessions = make_sessions(engine)
        async with sessions.begin() as session:
            demo = await load_demo(session)
            admin, operator, member = demo.staff["admin"], demo.staff["gd.operator"], demo.members["Li Wei"]
            bonus = await ledger.record(
                session, member_id=member, entry_type=EntryType.BONUS_PROMOTION, points=250, reason="Goodwill",
                staff_id=admin,
            )  # fmt: skip
            reversal = await ledger.reverse(session, bonus.id, reason="Given twice", staff_id=admin)
        await migrate.downgrade(engine, "0007")
        card_lost_by_staff, card_lost_by_member = "6211000000000011", demo.cards["Li Wei"]
        async with engine.begin() as connection:
            await connection.execute(
                sa.text(
                    """INSERT INTO monthly_accrual_run (id, month, status, staff_id, bills_total, bills, members,
                                                       points, penalties, error, started_at, finished_at)
                       VALUES (:id, :month, :status, :staff_id, :bills_total, :bills, :members,
                               :points, :penalties, :error, :started_at, :finished_at)"""
                ),
                [
                    {"id": 7, "month": date(2026, 9, 1), "status": "DONE", "staff_id": admin, "bills_total": 120,
                     "bills": 120, "members": 41, "points": 9_310, "penalties": 150, "error": None,
                     "started_at": datetime(2026, 10, 2, 1, 0, 5, 123456, tzinfo=UTC),
                     "finished_at": datetime(2026, 10, 2, 1, 4, 30, tzinfo=UTC)},
                    {"id": 12, "month": date(2026, 10, 1), "status": "FAILED", "staff_id": None, "bills_total": 95,
                     "bills": 40, "members": 17, "points": 3_020, "penalties": 0, "error": "deadlock detected",
                     "started_at": datetime(2026, 11, 2, 1, 0, tzinfo=UTC),
                     "finished_at": datetime(2026, 11, 2, 1, 2, tzinfo=UTC)},
                ],
            )  # fmt: skip
            await connection.execute(
                sa.insert(IdempotencyRecord),
                [  # as the services wrote them at 0007
                    {"scope": f"adjustPoints:{admin}", "key": "adjust",
                     "request_sha256": _digest({"member": member, "points": 250, "reason": "Goodwill",
                                                "type": "BONUS_PROMOTION"}),
                     "result": {"transaction": bonus.id}},
                    {"scope": f"reversePointsTransaction:{admin}", "key": "reverse",
                     "request_sha256": _digest({"transaction": bonus.id}), "result": {"transaction": reversal.id}},
                    {"scope": f"reportCardLost:StaffPrincipal:{operator}", "key": "lost by staff",
                     "request_sha256": _digest({"card": card_lost_by_staff}), "result": {"card": card_lost_by_staff}},
                    {"scope": f"reportCardLost:MemberPrincipal:{member}", "key": "lost by member",
                     "request_sha256": _digest({"card": card_lost_by_member}),
                     "result": {"card": card_lost_by_member}},
                    {"scope": f"redeemPoints:{admin}", "key": "other", "request_sha256": _digest({"other": 1}),
                     "result": {"transaction": bonus.id}},
                ],
            )  # fmt: skip
        runs_before = await _rows(engine, "monthly_accrual_run")
        keys_before = await _rows(engine, "idempotency_record")
        created = {key: created_at for _, key, _, _, created_at in keys_before}

        # when migrated to job runs
        await migrate.upgrade(engine, "0008")

        # then each run is a job run under its own id, with the same figures, and reads as the run it was
        assert await _rows(engine, "job_run") == [
            (7, "MONTHLY_ACCRUAL", "2026-09", "DONE", admin, 120,
             {"bills": 120, "members": 41, "points": 9_310, "penalties": 150}, None,
             datetime(2026, 10, 2, 1, 0, 5, 123456, tzinfo=UTC), datetime(2026, 10, 2, 1, 4, 30, tzinfo=UTC)),
            (12, "MONTHLY_ACCRUAL", "2026-10", "FAILED", None, 95,
             {"bills": 40, "members": 17, "points": 3_020, "penalties": 0}, "deadlock detected",
             datetime(2026, 11, 2, 1, 0, tzinfo=UTC), datetime(2026, 11, 2, 1, 2, tzinfo=UTC)),
        ]  # fmt: skip
        async with sessions() as session:
            read = [MonthlyAccrualRun.of(await session.get(JobRun, run[0])) for run in runs_before]
        assert [dataclasses.astuple(run) for run in read] == runs_before
        # and the next run gets the id after the highest
        async with engine.connect() as connection:
            next_id = await connection.scalar(
                sa.text("INSERT INTO job_run (kind, subject) VALUES ('MONTHLY_ACCRUAL', '2026-11') RETURNING id")
            )
            await connection.rollback()
        assert next_id == 13
        # and each key is under the scope its command now has, answering a retry of the same request as before
        staff = StaffPrincipal(admin, StaffRole.ADMINISTRATOR, 0, "/", session_id=0)
        gd_staff = StaffPrincipal(operator, StaffRole.CLUB_OPERATOR, 0, "/", session_id=0)
        adjust = AdjustPoints(member_id=member, points=250, reason="Goodwill", entry_type=EntryType.BONUS_PROMOTION)
        reverse = ReversePointsTransaction(transaction_id=bonus.id, reason="Given twice")
        assert await _rows(engine, "idempotency_record") == sorted([
            (f"AdjustPoints:{_caller(staff)}", "adjust", _digest(adjust.request()), {"id": bonus.id},
             created["adjust"]),
            (f"ReversePointsTransaction:{_caller(staff)}", "reverse", _digest(reverse.request()),
             {"id": reversal.id}, created["reverse"]),
            (f"ReportCardLost:{_caller(gd_staff)}", "lost by staff", _digest({"card": card_lost_by_staff}),
             {"id": int(card_lost_by_staff)}, created["lost by staff"]),
            (f"ReportCardLost:{_caller(MemberPrincipal(member, '/', session_id=0))}", "lost by member",
             _digest({"card": card_lost_by_member}), {"id": int(card_lost_by_member)}, created["lost by member"]),
            *(row for row in keys_before if row[1] == "other"),  # a scope the migration leaves alone
        ], key=lambda row: row[:2])  # fmt: skip
        assert _caller(staff) == f"STAFF:{admin}" and _caller(gd_staff) == f"STAFF:{operator}"

        # when migrated back
        await migrate.downgrade(engine, "0007")

        # then the runs and the keys are exactly as they were, and the next run gets the id after the highest
        assert await _rows(engine, "monthly_accrual_run") == runs_before
        assert await _rows(engine, "idempotency_record") == keys_before
        async with engine.connect() as connection:
            next_id = await connection.scalar(
                sa.text("INSERT INTO monthly_accrual_run (month, bills_total) VALUES ('2026-11-01', 0) RETURNING id")
            )
            await connection.rollback()
        assert next_id == 13


async def _rows(engine, table: str) -> list[tuple]:
    """Every row of `table` as a tuple, in the order of its first two columns (its key)."""
    async with engine.connect() as connection:
        rows = await connection.execute(sa.text(f"SELECT * FROM {table}"))
        return sorted((tuple(row) for row in rows), key=lambda row: row[:2])


_WRITES = ("adjust_points", "reverse_points_transaction", "move_own_card", "redeem_points", "cancel_redemption")


async def _definitions(engine, names: tuple[str, ...] = _WRITES) -> dict[str, str]:
    async with engine.connect() as connection:
        found = await connection.execute(
            sa.text("SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p WHERE p.proname = ANY(:names)"),
            {"names": list(names)},
        )
        return dict(found.all())


async def test_the_customer_of_a_member_moved_to_another_province_before_goes_along(server_url):
    from loyalty.database import make_sessions
    from loyalty.demo import load_demo

    # given the demo at 0037, Li Wei moved to Beijing's club (his customer left in Guangdong), Zhang Min of
    # Beijing moved to Shenzhen and then ended, and Wang Fang of Shenzhen
    async with fresh_database(server_url, "loyalty_customer_along_test") as engine:
        await migrate.upgrade(engine, "0037")
        async with make_sessions(engine).begin() as session:
            demo = await load_demo(session)
        branch = "SELECT b.code FROM customer c JOIN branch b ON b.id = c.branch_id WHERE c.id = :c"
        async with engine.begin() as connection:
            moved = sa.text("UPDATE member SET club_id = :club, branch_id = :branch, status = :status WHERE id = :m")
            await connection.execute(moved, {"club": demo.clubs["BJ-CLUB"], "branch": demo.branches["BJ"],
                                             "status": "ACTIVE", "m": demo.members["Li Wei"]})  # fmt: skip
            await connection.execute(moved, {"club": demo.clubs["SZ-CLUB"], "branch": demo.branches["SZ"],
                                             "status": "ENDED", "m": demo.members["Zhang Min"]})  # fmt: skip
        # when 0038 is applied
        await migrate.upgrade(engine)
        # then Li Wei's customer is Beijing's; an ended membership's, and Wang Fang's, stay where they were
        async with engine.connect() as connection:
            found = [
                await connection.scalar(sa.text(branch), {"c": demo.customers[n]})
                for n in ("Li Wei", "Zhang Min", "Wang Fang")
            ]
        assert found == ["BJ", "BJ", "SZ"]


async def _numbers_migrated(server_url, name: str, before: str, kept: dict[str, tuple[str, str]]) -> list[str]:
    """The demo at `before` with its customers' ID documents kept as `kept` says, then migrated to the head: each
    customer's number after."""
    from loyalty.database import make_sessions
    from loyalty.demo import load_demo

    async with fresh_database(server_url, name) as engine:
        await migrate.upgrade(engine, before)
        async with make_sessions(engine).begin() as session:
            demo = await load_demo(session)
        async with engine.begin() as connection:
            for customer, (kind, typed) in kept.items():
                await connection.execute(
                    sa.text("UPDATE customer SET id_document_type = :t, id_document_number = :n WHERE id = :c"),
                    {"t": kind, "n": typed, "c": demo.customers[customer]},
                )
        await migrate.upgrade(engine)
        number = "SELECT id_document_number FROM customer WHERE id = :c"
        async with engine.connect() as connection:
            return [await connection.scalar(sa.text(number), {"c": demo.customers[n]}) for n in kept]


async def test_id_document_numbers_kept_before_take_one_form_unless_two_meet_in_it(server_url):
    # given the demo at 0043, Li Wei's number kept spaced with a zero-width space, Wang Fang's in lower case and full
    # width, and Zhang Min's and the enterprise's passports, typed apart, the same number in one form
    kept = {
        "Li Wei": ("ID_CARD", "4401 0119 8001 0100 11\u200b"),
        "Wang Fang": ("ID_CARD", "４４０３０１19850202002x"),
        "Zhang Min": ("PASSPORT", "e1234567"),
        "Pearl River Trading Co.": ("PASSPORT", "E 1234567"),
    }
    # when 0044 is applied (and those after it)
    found = await _numbers_migrated(server_url, "loyalty_document_form_test", "0043", kept)
    # then each number alone in its form takes it; the two that meet stay as typed, for the operator to merge
    assert found == ["440101198001010011", "44030119850202002X", "e1234567", "E 1234567"]


async def test_id_document_numbers_kept_with_digits_of_another_script_take_ascii_ones_unless_taken(server_url):
    # given the demo at 0053, Li Wei's number kept in Arabic-Indic digits, the enterprise's passport in Devanagari
    # ones, and Wang Fang's in Arabic-Indic digits that Zhang Min's number takes in ASCII ones
    kept = {
        "Li Wei": ("ID_CARD", "٤٤٠١٠١١٩٨٠٠١٠١٠٠١١"),
        "Pearl River Trading Co.": ("PASSPORT", "E१२३४५६७"),
        "Wang Fang": ("ID_CARD", "٤٤٠٣٠١١٩٨٥٠٢٠٢٠٠٢X"),
        "Zhang Min": ("ID_CARD", "44030119850202002X"),
    }
    # when 0054 is applied
    found = await _numbers_migrated(server_url, "loyalty_document_digits_test", "0053", kept)
    # then each number takes ASCII digits but Wang Fang's, which would meet Zhang Min's: left for the operator
    assert found == ["440101198001010011", "E1234567", "٤٤٠٣٠١١٩٨٥٠٢٠٢٠٠٢X", "44030119850202002X"]


async def test_deliveries_in_doubt_by_their_last_error_are_marked_and_back(server_url):
    # given a database at 0052 with deliveries PENDING and FAILED after an error, PENDING untried, DELIVERED after one
    async with fresh_database(server_url, "loyalty_fulfilment_doubt_test") as engine:
        await migrate.upgrade(engine, "0052")
        async with engine.begin() as connection:
            await connection.execute(
                sa.text(
                    "INSERT INTO fulfilment (redemption_id, line_id, member_id, item_id, kind, quantity, state,"
                    " last_error, updated_at) SELECT n, n, 1, 1, 'CALL_MINUTES', 1, s, e,"
                    " '2026-12-01T00:00Z'::timestamptz + n * interval '1 hour' FROM (VALUES (1, 'PENDING', 'Timeout'),"
                    " (2, 'FAILED', 'Timeout'), (3, 'PENDING', NULL), (4, 'DELIVERED', 'Timeout')) AS f(n, s, e)"
                )
            )
        # when 0053 is applied
        await migrate.upgrade(engine)
        # then the two whose delivery failed are in doubt, since their last change
        async with engine.connect() as connection:
            found = (await connection.execute(sa.text("SELECT fulfilment_id, since FROM fulfilment_doubt"))).all()
        assert [(f, since.isoformat()) for f, since in sorted(found)] == [
            (1, "2026-12-01T01:00:00+00:00"),
            (2, "2026-12-01T02:00:00+00:00"),
        ]
        # and going back, the untried one marked since (its sender killed while it sent) keeps an error, so that
        # 0052 still refuses to cancel it
        async with engine.begin() as connection:
            await connection.execute(sa.text("INSERT INTO fulfilment_doubt (fulfilment_id) VALUES (3)"))
        await migrate.downgrade(engine, "0052")
        async with engine.connect() as connection:
            errors = (await connection.execute(sa.text("SELECT id, last_error FROM fulfilment ORDER BY id"))).all()
        assert [tuple(e) for e in errors] == [
            (1, "Timeout"), (2, "Timeout"), (3, "Sent unanswered: in doubt."), (4, "Timeout")
        ]  # fmt: skip


async def test_the_writes_store_their_results_by_the_keys_index_and_back(server_url):
    # given a database at 0018, where the one-statement writes store their results with an UPDATE by key
    async with fresh_database(server_url, "loyalty_idempotency_keep_test") as engine:
        await migrate.upgrade(engine, "0018")
        before = await _definitions(engine)
        assert all("UPDATE idempotency_record" in d or "idempotency_store" in d for d in before.values())
        # when 0019 is applied, then each stores it through the key's index (INSERT … ON CONFLICT), planned or not
        await migrate.upgrade(engine)
        now = await _definitions(engine)
        assert sorted(now) == sorted(_WRITES)
        assert all("idempotency_keep(p_scope, p_key, p_digest, " in d for d in now.values())
        assert not any("UPDATE idempotency_record" in d or "idempotency_store" in d for d in now.values())
        # and going back restores the very definitions of before
        await migrate.downgrade(engine, "0018")
        assert await _definitions(engine) == before


def test_an_enumerated_columns_check_takes_plain_names_only():
    # given names an array literal would quote, split, trim or read as NULL, then none makes a check
    assert migrate.one_of("kind", ["GIFT", "CALL_MINUTES"]) == "\"kind\"::text = ANY ('{GIFT,CALL_MINUTES}'::text[])"
    for names in ([], ["A", "NULL"], ["A,B"], [" C "], ['"'], ["O'NE"], ["gift"], ["E-SHOP"]):
        with pytest.raises(ValueError):
            migrate.one_of("kind", names)


async def test_the_schema_at_head_costs_no_statement_more_than_it_must(server_url):
    found_by = {
        # a function that sets a search path of its own: each call would set and restore it (migration 0017)
        "pinned functions": "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'public' AND p.proconfig IS NOT NULL",
        # a check that builds an array on every write: write it with loyalty.migrate.one_of (migration 0036)
        "built checks": "SELECT c.conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
        " WHERE n.nspname = 'public' AND pg_get_constraintdef(c.oid) LIKE '%ARRAY[%'",
        # a check a migration added NOT VALID, and the migration step left so
        "unvalidated checks": "SELECT conname FROM pg_constraint WHERE NOT convalidated",
    }
    # given a database at head, when its functions and checks are read, then none of these is found
    async with fresh_database(server_url, "loyalty_head_test") as engine:
        await migrate.upgrade(engine)
        async with engine.connect() as connection:
            found = {what: list(await connection.scalars(sa.text(sql))) for what, sql in found_by.items()}
    assert found == dict.fromkeys(found_by, [])


async def test_alembic_run_by_hand_validates_the_checks_it_added(server_url):
    unvalidated = "SELECT count(*) FROM pg_constraint WHERE NOT convalidated"
    # given a database at head
    async with fresh_database(server_url, "loyalty_by_hand_test") as engine:
        await migrate.upgrade(engine)
        url = engine.url.render_as_string(hide_password=False)
        environment = {**os.environ, "DATABASE_URL": url}
        for step in (["downgrade", "0035"], ["upgrade", "head"]):
            # when an operator runs alembic by hand (0036's checks, and its downgrade's, are added NOT VALID)
            alembic = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "alembic", *step, cwd=ROOT, env=environment, stderr=asyncio.subprocess.PIPE
            )
            _, said = await alembic.communicate()
            assert alembic.returncode == 0, said.decode()
            # then the command has validated them before it returns
            async with engine.connect() as connection:
                assert await connection.scalar(sa.text(unvalidated)) == 0, step


@pytest.mark.parametrize(
    ("before", "functions", "now"),
    [
        # the bookings' run reads the consumption rules once per grade and reward of a pass
        ("0019", ("auto_redeem_check",), "minima AS MATERIALIZED ("),
        # a cancellation locks the redemption's pick-ups and deliveries before it reads their state
        ("0020", ("cancel_redemption",), "FROM fulfilment WHERE redemption_id = r.id ORDER BY id FOR UPDATE;"),
        # a redemption's checks find only the rewards the caller sees, and refuse figures too large to answer
        ("0021", ("redemption_check",), "IF NOT FOUND OR NOT coalesce(reward_seen(item, p_staff_branch_path,"),
        # a points movement locks, checks and moves the balance in one statement
        ("0023", ("points_move",), "WHERE member_id = p_member_id AND (p_points >= 0 OR posted - held - expired >= "),
        ("0023", ("redemption_make",), "nextval('redemption_id_seq'::regclass)"),
        # the branch where a redemption was made cancels it too
        ("0026", ("cancel_redemption",), "FROM branch b WHERE b.id = r.branch_id"),
        # points whose last day has passed are never spent
        ("0027", ("points_move", "redemption_check", "auto_redeem_check"), "points_expired("),
        ("0027", ("auto_redeem_write",), "AND l.expires_on >= p_today"),
        # points, an admitted membership and a year's extension end the day before their anniversary
        ("0028", ("points_expiry_date", "grade_apply", "annual_review_chunk"), "validity_end("),
        # fewer statements and tables opened by every redemption and ledger entry
        ("0034", ("redemption_make",), """IF p_checked -> 'lines' @> '[{"kind": "GIFT"}]' THEN"""),
        ("0034", ("ledger_references_exist",), "RETURN NULL;\n               END IF;"),
        # a member in grace uses the club until the grace ends, and a review after it keeps one who qualifies
        ("0036", ("redemption_check", "auto_redeem_check"), "grace_ends_on <= p_today"),
        ("0036", ("annual_review_chunk",), "THEN 'KEPT'\n                    WHEN grace_ends_on <= p_as_of"),
        # points earned and reversed do not count as earned in a grade review
        ("0038", ("grade_figures",), "WHERE r.reverses_id = t.id"),
        # an expiry is not reversed: its points would go back to lots that have ended
        ("0039", ("points_reverse",), "EXPIRY_NOT_REVERSIBLE"),
        # a booking's month dearer than the price it was made at is skipped
        ("0054", ("auto_redeem_check",), "WHEN f.points_price > f.booked THEN 'PRICE_CHANGED'"),
        # a delivery is in doubt by the mark its sender wrote before sending, not by an error written after
        ("0052", ("cancel_redemption",), "FROM fulfilment_doubt d WHERE d.fulfilment_id = f.id"),
    ],
)
async def test_a_function_rewritten_and_back(server_url, before, functions, now):
    # given a database at the revision before the rewrite
    async with fresh_database(server_url, f"loyalty_rewrite_{before}_test") as engine:
        await migrate.upgrade(engine, before)
        earlier = await _definitions(engine, functions)
        # when the rewrite is applied, then each function says what it does now; going back restores it exactly
        await migrate.upgrade(engine)
        assert all(now in definition for definition in (await _definitions(engine, functions)).values())
        await migrate.downgrade(engine, before)
        assert await _definitions(engine, functions) == earlier
