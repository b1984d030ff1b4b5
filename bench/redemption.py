"""Redemption against its baselines, in one run.

`uv run python bench/redemption.py http [--seconds 10] [--connections 32] [--members 2000] [--workers 2]`:
`redeemPoints` over HTTP at a counter (the headquarters administrator serving each next member in turn, a new
key each time), then 32 clients on one hot member; against `{ __typename }` on the same server, pgbench's
TPC-B (scale 10) and its single-branch variant (scale 1, for the hot member), and "database alone": pgbench
sending the request's own `redeem_points` call straight to the database.

`uv run python bench/redemption.py bookings [--bookings 1000000] [--chunk 10000]`: the monthly run of
1,000,000 bookings (one per member, 60 minutes each) against COPY of as many ledger rows into a table shaped
like the ledger, and the process's memory before and at its peak during the run. The ratios are the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import psutil
import sqlalchemy as sa

from bench.accrual import checkpoint, sample_rss
from bench.api import seed
from bench.common import ROOT, database, keyed_script, login, pgbench, pgbench_script, served, wrk
from bench.mutations import global_id, member_ids
from domain import clock, passwords
from domain.members.states import MemberOperation, rules_for
from domain.points import ledger
from domain.redemption import bookings
from loyalty.database import make_engine, make_sessions
from loyalty.demo import load_demo

REDEEM = (
    "mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) { errors { code } redemption { id points } } }"
)
REDEEM_INPUT = """'{"memberId": "' .. member .. '", "channel": "COUNTER", "items": [{"itemId": "' ..
    os.getenv("BENCH_ITEM") .. '", "quantity": 1}], "idempotencyKey": "' .. key .. '"}'"""
# The same call each request makes, sent by pgbench straight to the database: a new key, a member at random.
DATABASE_ALONE = """\\set member random(:first_member, :last_member)
SELECT * FROM redeem_points(:scope, gen_random_uuid()::text, '\\\\x00'::bytea, :member, :staff_id, :staff_branch_id,
                            :branch_path, true, 'COUNTER', NULL, NULL, :lines, current_date, :states);
"""


async def give_points(url: str, points: int) -> None:
    """Every member gets `points` through the ledger itself (a lot and an entry each)."""
    engine = make_engine(url, pool_size=1)
    async with engine.begin() as connection:
        await connection.execute(
            sa.text(
                "SELECT points_move(id, 'BONUS_PROMOTION', 'ISSUANCE', :p, current_date, 'Bench', NULL) FROM member"
            ),
            {"p": points},
        )
        await connection.execute(sa.text("ANALYZE"))
    await engine.dispose()


async def facts(url: str) -> dict:
    engine = make_engine(url, pool_size=1)
    async with engine.connect() as connection:
        admin = (await connection.execute(sa.text(
            "SELECT s.id, s.branch_id, b.path FROM staff s JOIN branch b ON b.id = s.branch_id WHERE username = 'admin'"
        ))).one()  # fmt: skip
        item = await connection.scalar(sa.text("SELECT id FROM reward_item WHERE code = 'MIN-60'"))
        hot = await connection.scalar(sa.text("SELECT min(id) FROM member"))
        first, last = (await connection.execute(sa.text("SELECT min(id), max(id) FROM member"))).one()
    await engine.dispose()
    return {"admin": admin, "item": item, "hot": hot, "first": first, "last": last}


def database_alone(url: str, known: dict, seconds: int, clients: int) -> dict:
    admin = known["admin"]
    variables = {
        "first_member": known["first"], "last_member": known["last"], "scope": f"RedeemPoints STAFF {admin.id}",
        "staff_id": admin.id, "staff_branch_id": admin.branch_id, "branch_path": admin.path,
        "lines": json.dumps([{"item_id": known["item"], "quantity": 1, "position": 0}]),
        "states": json.dumps(rules_for(MemberOperation.SPEND)),
    }  # fmt: skip
    return pgbench_script(url, DATABASE_ALONE, seconds, clients, variables)


def http(args: argparse.Namespace) -> dict:
    with database() as url:
        asyncio.run(seed(url, args.members))
        asyncio.run(give_points(url, 100_000_000))  # the hot member too never runs out
        known = asyncio.run(facts(url))
        members = [global_id("Member", i) for i in asyncio.run(member_ids(url))]
        item = {"BENCH_ITEM": global_id("RewardItem", known["item"])}
        distinct = keyed_script(REDEEM, members, REDEEM_INPUT)
        hot = keyed_script(REDEEM, [global_id("Member", known["hot"])], REDEEM_INPUT)
        with served(url, args.workers, args.connections) as endpoint:
            token = login(endpoint, "STAFF", "admin")

            def drive(script: str, seconds: int) -> dict:
                return wrk(endpoint, None, token, seconds, args.connections, script,
                           item | {"BENCH_RUN": uuid.uuid4().hex})  # fmt: skip

            wrk(endpoint, "{ __typename }", None, 2, args.connections)  # warm-up
            drive(distinct, 2)
            trivial = wrk(endpoint, "{ __typename }", None, args.seconds, args.connections)
            results = {"trivial": trivial, "distinct": drive(distinct, args.seconds), "hot": drive(hot, args.seconds)}
        load = os.getloadavg()[0]
        results["database_alone"] = database_alone(url, known, args.seconds, args.connections)
        results["tpcb"] = pgbench(url, args.seconds, args.connections)
        results["tpcb_one_branch"] = pgbench(url, args.seconds, args.connections, scale=1)
        results["violations"] = asyncio.run(violations(url))
    rate = {name: r.get("requests_per_second") or r["transactions_per_second"] for name, r in results.items()
            if isinstance(r, dict)}  # fmt: skip
    results["ratios"] = {
        "distinct_to_trivial": round(rate["distinct"] / rate["trivial"], 3),
        "distinct_to_tpcb": round(rate["distinct"] / rate["tpcb"], 3),
        "hot_to_tpcb_one_branch": round(rate["hot"] / rate["tpcb_one_branch"], 3),
        "database_alone_to_trivial": round(rate["database_alone"] / rate["trivial"], 3),
    }
    results["load_average"] = round(load, 2)
    print(f"\nworkers {args.workers}, {args.connections} connections, load average {load:.2f}")
    print(f"{'':<28}{'per s':>10}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}")
    for name in ("trivial", "distinct", "hot"):
        r = results[name]
        print(f"{name:<28}{r['requests_per_second']:>10.0f}{r['latency_p50_ms']:>9.1f}{r['latency_p99_ms']:>9.1f}"
              f"{r.get('failed', 0):>8}")  # fmt: skip
    for name in ("database_alone", "tpcb", "tpcb_one_branch"):
        r = results[name]
        print(f"{name:<28}{r['transactions_per_second']:>10.0f}{r['latency_average_ms']:>9.1f} (average)")
    for name, value in results["ratios"].items():
        print(f"{name:<28}{value:>10.3f}")
    print(f"invariants broken: {results['violations'] or 'none'}")
    return results


async def violations(url: str) -> list[str]:
    engine = make_engine(url, pool_size=1)
    async with make_sessions(engine)() as session:
        found = await ledger.verify(session)
    await engine.dispose()
    return [v.invariant for v in found]


async def seed_bookings(url: str, count: int) -> None:
    """`count` members of Guangdong, each with an account, 1,000 points (a lot and its entry) and a booking of
    60 minutes a month from this month: set-based, as an import would write them."""
    passwords.configure(time_cost=1, memory_cost_kib=1024)
    engine = make_engine(url, pool_size=1)
    async with make_sessions(engine).begin() as session:
        demo = await load_demo(session)
        await session.execute(sa.text(SEED_BOOKINGS), {
            "branch": demo.branches["GD"], "club": demo.clubs["GD-CLUB"], "n": count, "item": demo.rewards["MIN-60"],
            "month": clock.today().replace(day=1), "today": clock.today(),
        })  # fmt: skip
    async with engine.begin() as connection:
        await connection.execute(sa.text("ANALYZE"))
    await engine.dispose()


SEED_BOOKINGS = """
WITH c AS (INSERT INTO customer (branch_id, kind, name, id_document_type, id_document_number)
           SELECT :branch, 'INDIVIDUAL', 'Member ' || g, 'ID_CARD', 'B' || g FROM generate_series(1, :n) g
           RETURNING id),
     a AS (INSERT INTO account (customer_id, account_number, opened_on)
           SELECT id, '7' || lpad(id::text, 9, '0'), date '2020-01-01' FROM c),
     m AS (INSERT INTO member (member_number, customer_id, club_id, branch_id, grade_code, joined_on, valid_until)
           SELECT '5' || lpad(id::text, 11, '0'), id, :club, :branch, 'EMERALD', '2024-01-01', '2030-01-01' FROM c
           RETURNING id),
     l AS (INSERT INTO points_lot (member_id, amount, remaining, earned_on, expires_on)
           SELECT id, 1000, 1000, CAST(:today AS date), CAST(:today AS date) + 365 FROM m RETURNING id, member_id),
     t AS (INSERT INTO ledger_transaction (member_id, entry_type, account, points, effective_on, reason, lot_id)
           SELECT member_id, 'BONUS_PROMOTION', 'ISSUANCE', 1000, CAST(:today AS date), 'Bench', id FROM l),
     b AS (INSERT INTO points_balance (member_id, posted) SELECT id, 1000 FROM m)
INSERT INTO auto_redemption (member_id, item_id, quantity, start_month, status) SELECT id, :item, 1, :month, 'ACTIVE'
FROM m
"""


async def copy_ledger_baseline(url: str) -> float:
    """Seconds to COPY as many ledger rows as there are bookings into an empty table shaped like the ledger."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    columns = ["member_id", "entry_type", "account", "points", "effective_on", "reason", "lot_id"]
    try:
        with tempfile.TemporaryDirectory() as folder:
            rows = Path(folder) / "entries.copy"
            await connection.copy_from_query(
                f"SELECT {', '.join(columns)} FROM ledger_transaction WHERE reason = 'Bench'", output=rows
            )
            await connection.execute("CREATE TABLE ledger_copy (LIKE ledger_transaction INCLUDING ALL)")
            await connection.execute("CHECKPOINT")
            started = time.perf_counter()
            await connection.copy_to_table("ledger_copy", source=rows, columns=columns)
            return time.perf_counter() - started
    finally:
        await connection.close()


async def run_bookings(url: str, count: int, chunk: int, verify: bool) -> dict:
    await seed_bookings(url, count)
    copy_seconds = await copy_ledger_baseline(url)
    await checkpoint(url)
    engine = make_engine(url, pool_size=3)
    rss_before = psutil.Process().memory_info().rss
    peak = [rss_before]
    sampler = asyncio.create_task(sample_rss(peak))
    started = time.perf_counter()
    run = await bookings.auto_redeem_month(make_sessions(engine), clock.today().replace(day=1), chunk_bookings=chunk)
    run_seconds = time.perf_counter() - started
    sampler.cancel()
    await engine.dispose()
    assert (run.status, run.redeemed) == ("DONE", count), run
    return {
        "bookings": count,
        "copy_seconds": round(copy_seconds, 3),
        "run_seconds": round(run_seconds, 3),
        "run_rate_vs_copy": round(copy_seconds / run_seconds, 4),
        "bookings_per_second": round(count / run_seconds),
        "rss_before_run_mib": round(rss_before / 2**20),
        "rss_peak_in_run_mib": round(peak[0] / 2**20),
        "points": run.points,
        "violations": await violations(url) if verify else "not checked",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["http", "bookings"])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bookings", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=bookings.chunk_bookings_default)
    parser.add_argument("--verify", action="store_true", help="check every invariant after the bookings' run")
    args = parser.parse_args()
    if args.part == "http":
        results = http(args)
    else:
        with database() as url:
            results = asyncio.run(run_bookings(url, args.bookings, args.chunk, args.verify))
        for key, value in results.items():
            print(f"{key:<24}{value}")
    record = {"when": datetime.now(UTC).isoformat(), "machine": platform.machine(), "args": vars(args)} | results
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"redemption_{args.part}.json").write_text(json.dumps(record, indent=2, default=str))


if __name__ == "__main__":
    main()
