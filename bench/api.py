"""API throughput: `members` (page of 50) and `me`, as ratios to `{ __typename }` on the same server.

Run: `uv run python bench/api.py [--seconds 10] [--connections 16] [--members 1000] [--workers 1 2] [--rounds 1]`.
Absolute numbers on a shared machine are noise; the ratios are the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
from datetime import UTC, datetime

import sqlalchemy as sa

from bench.common import ROOT, database, login, served, wrk
from loyalty.database import make_engine, make_sessions
from loyalty.demo import load_demo

QUERIES = {
    "trivial": ("{ __typename }", None),
    "me": (
        "{ me { memberNumber status grade { name } club { name } customer { name phone }"
        " accounts { accountNumber } } }",
        "member",
    ),
    "members_page_50": (
        "{ members(first: 50) { edges { cursor node { memberNumber grade { name } club { name branch { code } } "
        "customer { name } accounts { accountNumber subscriberNumbers } } } pageInfo { hasNextPage } } }",
        "staff",
    ),
}


async def seed(url: str, members: int) -> None:
    """The demo data set plus `members` more members in Guangdong, each with an account."""
    from domain import passwords

    passwords.configure(time_cost=1, memory_cost_kib=1024)
    engine = make_engine(url, pool_size=1)
    async with make_sessions(engine).begin() as session:
        demo = await load_demo(session)
        await session.execute(
            sa.text(
                """WITH c AS (INSERT INTO customer (branch_id, kind, name, id_document_type, id_document_number)
                       SELECT :branch, 'INDIVIDUAL', 'Member ' || g, 'ID_CARD', 'B' || g FROM generate_series(1, :n) g
                       RETURNING id),
                   a AS (INSERT INTO account (customer_id, account_number, opened_on)
                       SELECT id, '7' || lpad(id::text, 9, '0'), '2020-01-01' FROM c)
                   INSERT INTO member
                       (member_number, customer_id, club_id, branch_id, grade_code, joined_on, valid_until)
                   SELECT '5' || lpad(id::text, 11, '0'), id, :club, :branch, 'EMERALD', '2024-01-01', '2030-01-01'
                   FROM c"""
            ),
            {"branch": demo.branches["GD"], "club": demo.clubs["GD-CLUB"], "n": members},
        )
    # Vacuumed, so that the first reads do not set the new rows' hint bits and write their pages out while
    # they are measured; analysed, so that the plans are the ones of a running service.
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(sa.text("VACUUM ANALYZE"))
    await engine.dispose()


def sessions_opened(url: str) -> int:
    """How many PostgreSQL sessions the database has seen opened so far (this one included)."""

    async def count() -> int:
        engine = make_engine(url, pool_size=1)
        async with engine.connect() as connection:
            query = "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
            opened = await connection.scalar(sa.text(query))
        await engine.dispose()
        return int(opened)

    return asyncio.run(count())


def measure(url: str, workers: int, seconds: int, connections: int, rounds: int = 1) -> dict[str, dict]:
    """Every query against one server of `workers` processes: a warm-up, then `rounds` turns of the measured
    runs, each query once a turn, so that the machine's drift in a shared host falls on every query alike; each
    figure is the median of its turns (and its ratio the median of the turns' ratios); and how many new database
    sessions the server opened during the runs (a pool that churns reconnects)."""
    with served(url, workers, connections) as endpoint:
        tokens = {"member": login(endpoint, "MEMBER", "13800000001"), "staff": login(endpoint, "STAFF", "admin")}
        for query, who in QUERIES.values():
            wrk(endpoint, query, tokens.get(who), 2, connections)  # warm-up
        turns: dict[str, list[dict]] = {name: [] for name in QUERIES}
        for _ in range(rounds):
            for name, (query, who) in QUERIES.items():
                before = sessions_opened(url)
                found = wrk(endpoint, query, tokens.get(who), seconds, connections)
                found["new_sessions"] = sessions_opened(url) - before - 1
                turns[name].append(found)
    for found in turns.values():
        for turn, figures in zip(found, turns["trivial"], strict=True):
            turn["ratio_to_trivial"] = turn["requests_per_second"] / figures["requests_per_second"]
    results = {}
    for name, found in turns.items():
        results[name] = {key: statistics.median(t[key] for t in found) for key in found[0] if key != "failed"}
        results[name]["ratio_to_trivial"] = round(results[name]["ratio_to_trivial"], 3)
        results[name]["new_sessions"] = sum(t["new_sessions"] for t in found)
        results[name]["turns"] = [round(t["ratio_to_trivial"], 3) for t in found]
    print(f"\nworkers {workers}, {rounds} turn(s) of {seconds} s, load average {os.getloadavg()[0]:.2f}")
    print(f"{'query':<18}{'req/s':>10}{'ratio':>9}{'p50 ms':>9}{'p99 ms':>9}{'new sessions':>14}  ratio by turn")
    for name, r in results.items():
        print(
            f"{name:<18}{r['requests_per_second']:>10.0f}{r['ratio_to_trivial']:>9.3f}"
            f"{r['latency_p50_ms']:>9.1f}{r['latency_p99_ms']:>9.1f}{r['new_sessions']:>14}  "
            + " ".join(f"{t:.3f}" for t in r["turns"])
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--members", type=int, default=1_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="worker counts to measure, e.g. 1 2")
    parser.add_argument("--rounds", type=int, default=1, help="turns of the measured runs; the medians are printed")
    args = parser.parse_args()
    with database() as url:
        asyncio.run(seed(url, args.members))
        by_workers = {n: measure(url, n, args.seconds, args.connections, args.rounds) for n in args.workers}
    if len(by_workers) > 1:
        fewest, most = min(by_workers), max(by_workers)
        print(f"\nworkers {most} / workers {fewest}:")
        for name in QUERIES:
            scale = by_workers[most][name]["requests_per_second"] / by_workers[fewest][name]["requests_per_second"]
            print(f"{name:<18}{scale:>9.2f}x")
    record = {
        "when": datetime.now(UTC).isoformat(),
        "machine": platform.machine(),
        "args": vars(args),
        "results": {str(n): r for n, r in by_workers.items()},
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "api.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
