"""Card stock at scale: receive 1,000,000 card numbers and count the stock, against COPY of the same rows.

Run: `uv run python bench/cards.py [--cards 1000000]`. Both sides write into a table with the
same columns, constraints and indexes as `card`, on the same server in the same run; the
figure is the ratio of the two.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import time
from datetime import UTC, date, datetime

import asyncpg
import sqlalchemy as sa

from bench.common import ROOT, database
from domain import passwords
from domain.access import StaffPrincipal
from domain.cards import queries, stock
from domain.organisation.tables import Branch, StaffRole
from loyalty.database import make_engine, make_sessions
from loyalty.demo import load_demo

FIRST_NUMBER = 7_000_000_000_000_001


async def copy_baseline(url: str, cards: int, batch_id: int, branch_id: int) -> float:
    """Seconds to COPY the same card rows into an empty table with card's columns, checks, indexes and keys."""
    rows = io.BytesIO(
        "".join(
            f"{FIRST_NUMBER + i}\tDIAMOND\tINITIAL\t2035-12-31\t{batch_id}\t{branch_id}\n" for i in range(cards)
        ).encode()
    )
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            """CREATE TABLE card_copy (LIKE card INCLUDING ALL,
                   FOREIGN KEY (batch_id) REFERENCES card_batch (id),
                   FOREIGN KEY (branch_id) REFERENCES branch (id),
                   FOREIGN KEY (member_id) REFERENCES member (id),
                   FOREIGN KEY (holder_club_id) REFERENCES club (id),
                   FOREIGN KEY (holder_staff_id) REFERENCES staff (id))"""
        )
        started = time.perf_counter()
        await connection.copy_to_table(
            "card_copy",
            source=rows,
            columns=["number", "card_type", "state", "valid_until", "batch_id", "branch_id"],
        )
        return time.perf_counter() - started
    finally:
        await connection.close()


async def run(url: str, cards: int) -> dict:
    passwords.configure(time_cost=1, memory_cost_kib=1024)
    engine = make_engine(url, pool_size=2)
    sessions = make_sessions(engine)
    async with sessions.begin() as session:
        demo = await load_demo(session)
        branch = await session.get(Branch, demo.branches["GD"])
        operator = StaffPrincipal(demo.staff["gd.operator"], StaffRole.CLUB_OPERATOR, branch.id, branch.path, 0)
        batch_id = await session.scalar(sa.text("SELECT min(id) FROM card_batch"))
    copy_seconds = await copy_baseline(url, cards, batch_id, branch.id)

    started = time.perf_counter()
    async with sessions.begin() as session:
        await stock.receive_batch(
            session,
            operator,
            card_type="DIAMOND",
            valid_until=date(2035, 12, 31),
            number_from=str(FIRST_NUMBER),
            number_to=str(FIRST_NUMBER + cards - 1),
        )
    receive_seconds = time.perf_counter() - started

    async with engine.connect() as connection:
        await connection.execute(sa.text("ANALYZE card"))
        started = time.perf_counter()
        await connection.scalar(sa.text("SELECT count(*) FROM card"))
        plain_count_seconds = time.perf_counter() - started
    today = datetime.now(UTC).date()
    async with sessions() as session:
        started = time.perf_counter()
        counts = await queries.stock_count(session, operator, branch_id=branch.id, start=today, end=today)
        stock_count_seconds = time.perf_counter() - started
    await engine.dispose()
    assert sum(c.received for c in counts) == cards + 150, counts
    return {
        "cards": cards,
        "copy_seconds": round(copy_seconds, 3),
        "receive_seconds": round(receive_seconds, 3),
        "receive_rate_vs_copy": round(copy_seconds / receive_seconds, 3),
        "plain_count_seconds": round(plain_count_seconds, 4),
        "stock_count_seconds": round(stock_count_seconds, 4),
        "stock_count_vs_plain_count": round(stock_count_seconds / plain_count_seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cards", type=int, default=1_000_000)
    args = parser.parse_args()
    with database() as url:
        result = asyncio.run(run(url, args.cards))
    for key, value in result.items():
        print(f"{key:<28}{value}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "cards.json").write_text(json.dumps(result | {"when": datetime.now(UTC).isoformat()}, indent=2))


if __name__ == "__main__":
    main()
