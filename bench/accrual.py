"""Monthly accrual against COPY: earn a month's points for N bills of N members.

Run: `uv run python bench/accrual.py [--bills 1000000]`. Prints the COPY time of the same bill
rows (into a table shaped like `bill`), the accrual time, their ratio (the target is ≥ 0.25),
and the process's memory: before the run, and its peak during the run (sampled).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import psutil
import sqlalchemy as sa

from bench.common import ROOT, database
from domain import passwords
from domain.points import accrual
from loyalty.database import make_engine, make_sessions
from loyalty.demo import load_demo

MONTH = date(2026, 9, 1)


async def seed(url: str, bills: int) -> None:
    """N members in Guangdong (with their points accounts) with an account each, and their September bills
    (1 in 20 paid late)."""
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
                       SELECT id, '7' || lpad(id::text, 9, '0'), date '2020-01-01' + CAST(id % 2000 AS int)
                       FROM c RETURNING id),
                   m AS (INSERT INTO member
                           (member_number, customer_id, club_id, branch_id, grade_code, joined_on, valid_until)
                       SELECT '5' || lpad(id::text, 11, '0'), id, :club, :branch,
                              (ARRAY['DIAMOND', 'EMERALD', 'SAPPHIRE'])[1 + id % 3], '2024-01-01', '2030-01-01'
                       FROM c RETURNING id),
                   p AS (INSERT INTO points_balance (member_id) SELECT id FROM m)
                   INSERT INTO bill (account_id, billing_month, amount_billed_fen, amount_paid_fen, due_date, paid_date)
                   SELECT id, :month, 5000 + id % 20000, 5000 + id % 20000, date '2026-09-15',
                          CASE WHEN id % 20 = 0 THEN date '2026-09-25' ELSE date '2026-09-10' END
                   FROM a"""
            ),
            {"branch": demo.branches["GD"], "club": demo.clubs["GD-CLUB"], "n": bills, "month": MONTH},
        )
    async with engine.begin() as connection:
        await connection.execute(sa.text("ANALYZE"))
    await engine.dispose()


async def checkpoint(url: str) -> None:
    """Write out what earlier steps dirtied, so that each timed step pays only for its own writes."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


async def copy_baseline(url: str) -> float:
    """Seconds to COPY the same bill rows into an empty table with bill's columns, keys and indexes."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        with tempfile.TemporaryDirectory() as folder:
            rows = Path(folder) / "bills.copy"  # a file, as a billing system delivers it; not held in memory
            await connection.copy_from_query(
                "SELECT account_id, billing_month, amount_billed_fen, amount_paid_fen, due_date, paid_date FROM bill",
                output=rows,
            )
            await connection.execute(
                "CREATE TABLE bill_copy (LIKE bill INCLUDING ALL, FOREIGN KEY (account_id) REFERENCES account (id))"
            )
            await connection.execute("CHECKPOINT")
            started = time.perf_counter()
            await connection.copy_to_table(
                "bill_copy",
                source=rows,
                columns=[
                    "account_id",
                    "billing_month",
                    "amount_billed_fen",
                    "amount_paid_fen",
                    "due_date",
                    "paid_date",
                ],
            )
            return time.perf_counter() - started
    finally:
        await connection.close()


async def sample_rss(peak: list[int], every_seconds: float = 0.05) -> None:
    """Keep `peak[0]` at the largest resident set size of this process seen, until cancelled."""
    process = psutil.Process()
    while True:
        peak[0] = max(peak[0], process.memory_info().rss)
        await asyncio.sleep(every_seconds)


async def run(url: str, bills: int, chunk: int) -> dict:
    await seed(url, bills)
    copy_seconds = await copy_baseline(url)
    await checkpoint(url)
    engine = make_engine(url, pool_size=2)
    rss_before = psutil.Process().memory_info().rss
    peak = [rss_before]
    sampler = asyncio.create_task(sample_rss(peak))
    started = time.perf_counter()
    result = await accrual.accrue_month(make_sessions(engine), MONTH, chunk_bills=chunk)
    accrue_seconds = time.perf_counter() - started
    sampler.cancel()
    await engine.dispose()
    assert result.bills == bills, result
    return {
        "bills": bills,
        "copy_seconds": round(copy_seconds, 3),
        "accrue_seconds": round(accrue_seconds, 3),
        "accrual_rate_vs_copy": round(copy_seconds / accrue_seconds, 4),
        "bills_per_second": round(bills / accrue_seconds),
        "rss_before_run_mib": round(rss_before / 2**20),
        "rss_peak_in_run_mib": round(peak[0] / 2**20),
        "rss_peak_process_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "points": result.points,
        "penalties": result.penalties,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bills", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=accrual.chunk_bills_default)
    args = parser.parse_args()
    with database() as url:
        result = asyncio.run(run(url, args.bills, args.chunk))
    for key, value in result.items():
        print(f"{key:<24}{value}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "accrual.json").write_text(json.dumps(result | {"when": datetime.now(UTC).isoformat()}, indent=2))


if __name__ == "__main__":
    main()
