"""a booked redemption is held to what a redemption may be, and ends with its membership

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-07

A redemption is refused `OUT_OF_RANGE` above 1,000,000,000 points, or a line above 1,000,000,000 fen or minutes
(figures read as an `Int`); a booking's monthly run checked neither, and wrote fulfilments no query could read.
Its run now skips such a booking `OUT_OF_RANGE`. A booking of a membership that has ended was skipped every month
for good: its run cancels it (`MEMBERSHIP_ENDED`), and so does this migration for those ended before. A chunk of the run
locks its open bookings first, in id order (as whoever ends bookings locks them), and works on those only, read
after the lock: it never redeems a booking its member was told is cancelled, and never waits in a cycle with a
retirement or an ending.
"""

from alembic import op

from loyalty.migrate import rewrite_functions

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None

FIGURES_MAX = 1_000_000_000
KIND = (
    "                    WHEN f.kind NOT IN ('BILL_CREDIT', 'CALL_MINUTES', 'CONTENT') THEN 'ITEM_KIND_NOT_OFFERED'\n"
)
SIZED = KIND + (
    f"                    WHEN f.benefit_amount * f.quantity > {FIGURES_MAX} OR f.cost > {FIGURES_MAX}\n"
    "                        THEN 'OUT_OF_RANGE'  -- as a redemption: its figures are read as an Int\n"
)
LOOP = "            ) ON COMMIT DROP;\n            LOOP\n"
LOCKED = (
    "            ) ON COMMIT DROP;\n"
    "            -- the chunk's open bookings of the month, locked at once in id order (as everyone who ends bookings\n"
    "            -- locks them), and only those: one cancelled, paused or retired meanwhile is read as it is now and\n"
    "            -- not redeemed; one resumed or made meanwhile waits for the next run\n"
    "            CREATE TEMP TABLE IF NOT EXISTS auto_locked (id bigint PRIMARY KEY) ON COMMIT DROP;\n"
    "            TRUNCATE auto_locked;\n"
    "            INSERT INTO auto_locked SELECT id FROM (\n"
    "                SELECT b.id FROM auto_redemption b\n"
    "                WHERE b.id >= p_first AND b.id < p_before AND b.status = 'ACTIVE' AND b.start_month <= p_month\n"
    "                  AND coalesce(b.end_month, DATE '9999-12-01') >= p_month\n"
    "                ORDER BY b.id FOR UPDATE) l;\n"
    "            LOOP\n"
)
PASS = (
    "                    WHERE b.id >= p_first AND b.id < p_before AND b.status = 'ACTIVE'"
    " AND b.start_month <= p_month\n"
)
PASS_LOCKED = PASS + "                      AND b.id IN (SELECT id FROM auto_locked)\n"
SKIPS = "                skipped := skipped + taken;\n"
ENDED = SKIPS + (
    "                UPDATE auto_redemption SET status = 'CANCELLED', cancel_reason = 'MEMBERSHIP_ENDED',\n"
    "                                           updated_at = now()\n"
    "                WHERE id IN (SELECT booking_id FROM auto_pass WHERE reason = 'MEMBERSHIP_ENDED');\n"
)
ENDED_BEFORE = """UPDATE auto_redemption b SET status = 'CANCELLED', cancel_reason = 'MEMBERSHIP_ENDED',
                                     updated_at = now()
                  FROM member m
                  WHERE m.id = b.member_id AND m.status = 'ENDED' AND b.status IN ('ACTIVE', 'PAUSED')"""


def upgrade() -> None:
    rewrite_functions([(KIND, SIZED)], ("auto_redeem_check",), each_once=True)
    rewrite_functions([(PASS, PASS_LOCKED), (LOOP, LOCKED), (SKIPS, ENDED)], ("auto_redeem_chunk",), each_once=True)
    op.execute(ENDED_BEFORE)


def downgrade() -> None:
    rewrite_functions([(SIZED, KIND)], ("auto_redeem_check",), each_once=True)
    rewrite_functions([(LOCKED, LOOP), (PASS_LOCKED, PASS), (ENDED, SKIPS)], ("auto_redeem_chunk",), each_once=True)
