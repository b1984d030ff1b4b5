"""Moving points: `adjustPoints` over HTTP against `{ __typename }` on the same server and pgbench's
TPC-B-like transaction on the same PostgreSQL, in one run.

Run: `uv run python bench/mutations.py [--seconds 10] [--connections 32] [--members 2000] [--workers 2]`.
Every request adjusts a different member than the one before (the members taken in turn) under a new
idempotency key, as counter staff across a province would. After the run the ledger's invariants are
checked and the entries counted against the requests answered. The ratios are the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from bench.api import seed
from bench.common import ROOT, database, keyed_script, login, pgbench, pgbench_script, served, wrk
from domain.members.states import MemberOperation, rules_for
from domain.points import ledger
from loyalty.database import make_engine, make_sessions

ADJUST = (
    "mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) { errors { code } transaction { id points } } }"
)
# Each request adjusts the next member in turn under a key never used before (`bench.common.keyed_script`).
ADJUST_INPUT = """'{"memberId": "' .. member .. '", "points": 1, "reason": "Goodwill", "idempotencyKey": "'
    .. key .. '"}'"""


# The same call each adjustPoints request makes, sent by pgbench straight to the database (a new key each
# time, the next member at random): what the database alone does with the request's one statement.
DATABASE_ALONE = """\\set member random(:first_member, :last_member)
SELECT * FROM adjust_points(:scope, gen_random_uuid()::text, '\\\\x00'::bytea, :member, :branch_path, 'ADJUSTMENT',
                            'ADJUSTMENT', 1, 'Database alone', :staff_id, current_date, :states);
"""


async def database_alone_variables(url: str) -> dict[str, object]:
    """What the pgbench script needs: the administrator's staff id and branch, the members' id range."""
    engine = make_engine(url, pool_size=1)
    async with engine.connect() as connection:
        admin = (
            await connection.execute(
                sa.text("SELECT s.id, b.path FROM staff s JOIN branch b ON b.id = s.branch_id WHERE username = 'admin'")
            )
        ).one()
        first, last, count = (await connection.execute(sa.text("SELECT min(id), max(id), count(*) FROM member"))).one()
    await engine.dispose()
    assert last - first + 1 == count, "the members' ids have no gaps"
    return {
        "first_member": first,
        "last_member": last,
        "scope": f"AdjustPoints STAFF {admin.id}",
        "branch_path": admin.path,
        "staff_id": admin.id,
        "states": json.dumps(rules_for(MemberOperation.CORRECT)),
    }


def global_id(type_name: str, key: int) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


async def member_ids(url: str) -> list[int]:
    engine = make_engine(url, pool_size=1)
    async with engine.connect() as connection:
        found = (await connection.execute(sa.text("SELECT id FROM member ORDER BY id"))).scalars().all()
    await engine.dispose()
    return list(found)


async def ledger_check(url: str) -> dict:
    """The ledger's invariants after the run, and how many adjustments it holds."""
    engine = make_engine(url, pool_size=1)
    async with make_sessions(engine)() as session:
        violations = await ledger.verify(session)
        entries = await session.scalar(sa.text("SELECT count(*) FROM ledger_transaction WHERE reason = 'Goodwill'"))
    await engine.dispose()
    return {"violations": [v.invariant for v in violations], "adjustments": int(entries)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with database() as url:
        asyncio.run(seed(url, args.members))
        members = [global_id("Member", i) for i in asyncio.run(member_ids(url))]
        script = keyed_script(ADJUST, members, ADJUST_INPUT)
        with served(url, args.workers, args.connections) as endpoint:
            token = login(endpoint, "STAFF", "admin")
            wrk(endpoint, "{ __typename }", None, 2, args.connections)  # warm-up
            wrk(endpoint, None, token, 2, args.connections, script, {"BENCH_RUN": uuid.uuid4().hex})
            trivial = wrk(endpoint, "{ __typename }", None, args.seconds, args.connections)
            adjust = wrk(endpoint, None, token, args.seconds, args.connections, script,
                         {"BENCH_RUN": uuid.uuid4().hex})  # fmt: skip
        load = os.getloadavg()[0]
        alone = pgbench_script(url, DATABASE_ALONE, args.seconds, args.connections,
                               asyncio.run(database_alone_variables(url)))  # fmt: skip
        tpcb = pgbench(url, args.seconds, args.connections)
        checked = asyncio.run(ledger_check(url))
    results = {
        "trivial": trivial,
        "adjustPoints": adjust,
        "pgbench_tpcb": tpcb,
        "database_alone": alone,
        "ledger": checked,
        "ratio_to_trivial": round(adjust["requests_per_second"] / trivial["requests_per_second"], 3),
        "ratio_to_tpcb": round(adjust["requests_per_second"] / tpcb["transactions_per_second"], 3),
        "database_alone_ratio_to_trivial": round(alone["transactions_per_second"] / trivial["requests_per_second"], 3),
        "load_average": round(load, 2),
    }
    print(f"\nworkers {args.workers}, {args.connections} connections, load average {load:.2f}")
    print(f"{'':<16}{'per s':>10}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}")
    for name, r in (("{ __typename }", trivial), ("adjustPoints", adjust)):
        print(
            f"{name:<16}{r['requests_per_second']:>10.0f}{r['latency_p50_ms']:>9.1f}{r['latency_p99_ms']:>9.1f}"
            f"{r.get('failed', 0):>8}"
        )
    print(f"{'pgbench TPC-B':<16}{tpcb['transactions_per_second']:>10.0f}{tpcb['latency_average_ms']:>9.1f} (average)")
    alone_figures = f"{alone['transactions_per_second']:>10.0f}{alone['latency_average_ms']:>9.1f}"
    print(f"{'database alone':<16}{alone_figures} (average; pgbench sending adjust_points itself)")
    print(f"adjustPoints / trivial {results['ratio_to_trivial']:.3f}, / TPC-B {results['ratio_to_tpcb']:.3f}")
    print(f"database alone / trivial {results['database_alone_ratio_to_trivial']:.3f}: the most any server could reach")
    print(f"ledger: {checked['adjustments']} adjustments, invariants broken: {checked['violations'] or 'none'}")
    record = {"when": datetime.now(UTC).isoformat(), "machine": platform.machine(), "args": vars(args)} | results
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "mutations.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
