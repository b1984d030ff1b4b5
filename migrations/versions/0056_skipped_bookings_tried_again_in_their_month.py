"""a booking skipped in its month is tried again by the month's later runs

Revision ID: 0056
Revises: 0055
Create Date: 2026-12-07

A month's run skipped a booking it could not carry out (short of points, the day's limit reached, no billing
account yet, a dearer price) and no later run of that month looked at it again: a member skipped on the 1st,
before the month's accrual reached them, lost the month though their points came the next day and the month is
run daily. A later run of the month now tries again a booking skipped for a reason that may pass within the
month (those of `RETRIED`), while the month lasts (a month run after it has ended carries out only the bookings
it has not seen, on the day it runs): the execution keeps the last try (its reason, run and time), and a
redeemed month is never tried again. A run tries each booking once.
"""

from loyalty.migrate import rewrite_functions

revision = "0056"
down_revision = "0055"
branch_labels = None
depends_on = None

RETRIED = ("INSUFFICIENT_POINTS", "BELOW_MINIMUM_BALANCE", "DAILY_LIMIT_REACHED", "NO_BILLING_ACCOUNT", "PRICE_CHANGED")
DECLARED = "            spent bigint := 0;\n"
DONE = "                                      WHERE x.booking_id = b.id AND x.month = p_month)) due\n"
SKIPPED = (
    "                SELECT booking_id, p_month, member_id, 'SKIPPED', reason, p_run_id FROM auto_pass\n"
    "                WHERE reason IS NOT NULL;\n"
)
CHUNK = [
    (
        DECLARED,
        DECLARED + "            retrying boolean := p_today < (p_month + interval '1 month')::date;  -- it lasts\n",
    ),
    (
        DONE,
        "                                      WHERE x.booking_id = b.id AND x.month = p_month\n"
        "                                        AND (x.outcome = 'REDEEMED' OR NOT retrying\n"
        f"                                             OR x.reason NOT IN ({', '.join(map(repr, RETRIED))})\n"
        "                                             OR x.run_id IS NOT DISTINCT FROM p_run_id))) due\n",
    ),
    (
        SKIPPED,
        SKIPPED.removesuffix(";\n") + "\n"
        "                ON CONFLICT (booking_id, month) DO UPDATE\n"
        "                SET reason = excluded.reason, run_id = excluded.run_id, executed_at = now()\n"
        "                WHERE auto_redemption_execution.outcome = 'SKIPPED';\n",
    ),
]
REDEEMED = (
    "            SELECT booking_id, p_month, member_id, 'REDEEMED', redemption_id, p_run_id FROM auto_pass\n"
    "            WHERE reason IS NULL;\n"
)
WRITE = [
    (
        REDEEMED,
        REDEEMED.removesuffix(";\n") + "\n"
        "            ON CONFLICT (booking_id, month) DO UPDATE\n"  # a skip tried again: the chunk reads no other
        "            SET outcome = 'REDEEMED', reason = NULL, redemption_id = excluded.redemption_id,\n"
        "                run_id = excluded.run_id, executed_at = now();\n",
    ),
]


def upgrade() -> None:
    rewrite_functions(CHUNK, ("auto_redeem_chunk",), each_once=True)
    rewrite_functions(WRITE, ("auto_redeem_write",), each_once=True)


def downgrade() -> None:
    rewrite_functions([(new, old) for old, new in CHUNK], ("auto_redeem_chunk",), each_once=True)
    rewrite_functions([(new, old) for old, new in WRITE], ("auto_redeem_write",), each_once=True)
