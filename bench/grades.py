"""The qualification review against one aggregate scan of the same figures.

Run: `uv run python bench/grades.py [--customers 1000000] [--chunk 10000]`. Seeds N customers in Guangdong with
an account each and a year of bills (12 per customer, set-based SQL), two in three of them members (EMERALD
and SAPPHIRE) paying what their grade asks but for 1 in 20, the others prospects of whom 1 in 10 qualifies;
times one plain aggregate statement computing what the review looks at (months in network, ARPU and spend
over the window, for every customer), then the review itself (proposals written, upgrades applied), and
prints their ratio (the target: the review within 3× of the scan) and the process's memory before and at its
peak during the review.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, date, datetime

import asyncpg
import psutil
import sqlalchemy as sa

from bench.accrual import checkpoint, sample_rss
from bench.common import ROOT, database
from domain import clock, passwords
from domain.grades import review
from loyalty.database import make_engine, make_sessions
from loyalty.demo import load_demo

# What the review computes, as one statement over every customer: the baseline.
PLAIN_SCAN = """
SELECT count(*), sum(months), sum(arpu) FROM (
    SELECT c.id, (extract(year FROM age(:as_of, min(a.opened_on))) * 12
                  + extract(month FROM age(:as_of, min(a.opened_on)))) AS months,
           sum(b.amount_paid_fen) / 12 AS arpu, c.importance
    FROM customer c JOIN account a ON a.customer_id = c.id
    JOIN bill b ON b.account_id = a.id AND b.billing_month >= :since AND b.billing_month < :first_day
    GROUP BY c.id, c.importance) AS figures
"""


def month_start(day: date, back: int) -> date:
    month = day.month - 1 - back
    return date(day.year + month // 12, month % 12 + 1, 1)


async def seed(url: str, customers: int, as_of: date) -> None:
    passwords.configure(time_cost=1, memory_cost_kib=1024)
    engine = make_engine(url, pool_size=1)
    async with make_sessions(engine).begin() as session:
        demo = await load_demo(session)
        await session.execute(
            sa.text(
                """WITH c AS (INSERT INTO customer (branch_id, kind, name, id_document_type, id_document_number)
                       SELECT :branch, 'INDIVIDUAL', 'Customer ' || g, 'ID_CARD', 'G' || g
                       FROM generate_series(1, :n) g RETURNING id),
                   a AS (INSERT INTO account (customer_id, account_number, opened_on)
                       SELECT id, '7' || lpad(id::text, 9, '0'), date '2015-01-01' + CAST(id % 3000 AS int)
                       FROM c RETURNING id, customer_id),
                   m AS (INSERT INTO member
                           (member_number, customer_id, club_id, branch_id, grade_code, joined_on, valid_until)
                       SELECT '5' || lpad(id::text, 11, '0'), id, :club, :branch,
                              (ARRAY['DIAMOND', 'EMERALD', 'SAPPHIRE'])[1 + id % 3], '2024-01-01', '2030-01-01'
                       FROM c WHERE id % 3 <> 0 RETURNING id)
                   INSERT INTO points_balance (member_id) SELECT id FROM m"""
            ),
            {"branch": demo.branches["GD"], "club": demo.clubs["GD-CLUB"], "n": customers},
        )
    async with engine.begin() as connection:  # a year of bills: from 20 to 520 yuan a month, by customer
        await connection.execute(
            sa.text(
                """INSERT INTO bill (account_id, billing_month, amount_billed_fen, amount_paid_fen, due_date,
                                     paid_date)
                   SELECT a.id, m.month, p.fen, p.fen, m.month + 14, m.month + 10
                   FROM account a
                   CROSS JOIN LATERAL (SELECT CASE
                       WHEN a.customer_id % 3 = 0 AND a.customer_id % 10 = 0 THEN 6_000  -- a prospect who qualifies
                       WHEN a.customer_id % 3 = 0 THEN 2_000 + a.customer_id % 2_900      -- prospects below 50 yuan
                       WHEN a.customer_id % 20 = 1 THEN 2_000 + a.customer_id % 50_000    -- 1 in 20 members moves
                       WHEN a.customer_id % 3 = 1 THEN 15_000 + a.customer_id % 14_900    -- EMERALD: 150 to 299 yuan
                       ELSE 5_000 + a.customer_id % 9_900 END AS fen) AS p             -- SAPPHIRE: 50 to 148 yuan
                   CROSS JOIN (SELECT (CAST(:first_day AS date) - make_interval(months => g))::date AS month
                               FROM generate_series(1, 12) g) AS m"""
            ),
            {"first_day": month_start(as_of, 0)},
        )
        await connection.execute(sa.text("ANALYZE"))
    await engine.dispose()


async def plain_scan(url: str, as_of: date) -> tuple[float, int]:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        query = PLAIN_SCAN.replace(":as_of", "$1::date").replace(":since", "$2").replace(":first_day", "$3")
        started = time.perf_counter()
        found = await connection.fetchrow(query, as_of, month_start(as_of, 12), month_start(as_of, 0))
        return time.perf_counter() - started, found[0]
    finally:
        await connection.close()


async def run(url: str, customers: int, chunk: int) -> dict:
    as_of = clock.today()
    await seed(url, customers, as_of)
    await checkpoint(url)
    scan_seconds, scanned = await plain_scan(url, as_of)
    await checkpoint(url)
    engine = make_engine(url, pool_size=3)
    rss_before = psutil.Process().memory_info().rss
    peak = [rss_before]
    sampler = asyncio.create_task(sample_rss(peak))
    started = time.perf_counter()
    result = await review.review_grades(make_sessions(engine), as_of, review.GradePolicy(), chunk_customers=chunk)
    review_seconds = time.perf_counter() - started
    sampler.cancel()
    await engine.dispose()
    assert result.status == "DONE", result
    return {
        "customers": customers,
        "bills": customers * 12,
        "scanned": scanned,
        "scan_seconds": round(scan_seconds, 3),
        "review_seconds": round(review_seconds, 3),
        "review_to_scan": round(review_seconds / scan_seconds, 2),
        "customers_per_second": round(customers / review_seconds),
        "proposals": result.proposals,
        "by_kind": {k: getattr(result, k) for k in ("admit", "upgrade", "downgrade", "revoke", "applied")},
        "rss_before_run_mib": round(rss_before / 2**20),
        "rss_peak_in_run_mib": round(peak[0] / 2**20),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=review.chunk_customers_default)
    args = parser.parse_args()
    with database() as url:
        result = asyncio.run(run(url, args.customers, args.chunk))
    for key, value in result.items():
        print(f"{key:<24}{value}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "grades.json").write_text(json.dumps(result | {"when": datetime.now(UTC).isoformat()}, indent=2))


if __name__ == "__main__":
    main()
