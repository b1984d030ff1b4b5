"""the annual review's endings end their bookings at once, as every other ending does

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-07

A membership the annual review ended kept its open bookings until the next run of the bookings cancelled them
(skipping each once), and its lots were shortened without their balances locked first. A chunk of the review now
answers the members it ended, and what an ending leaves behind is done by the one code every ending uses
(`domain/members/ending.py`) in the chunk's transaction: bookings, then balances, then lots, in the order the
bookings' run and every movement of points lock them. The chunk no longer takes how long ended points last.
"""

from loyalty.migrate import rewrite_functions

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None

PARAMETERS = "p_grace_months integer, p_kept_days integer, "
PARAMETERS_NOW = "p_grace_months integer, "
LOTS = (
    "                PERFORM membership_end(ended, NULL, p_now);\n"
    "                UPDATE points_lot SET expires_on = least(expires_on, p_as_of + p_kept_days)\n"
    "                WHERE member_id = ANY(ended) AND expires_on > p_as_of + p_kept_days;\n"
)
LOTS_NOW = "                PERFORM membership_end(ended, NULL, p_now);  -- its bookings and points: the caller's\n"
FIGURES = "                        'ended', count(*) FILTER (WHERE x ->> 'outcome' = 'ENDED'))\n"
FIGURES_NOW = (
    "                        'ended', count(*) FILTER (WHERE x ->> 'outcome' = 'ENDED'),\n"
    "                        'ended_members', coalesce(to_jsonb(ended), '[]'))\n"
)
CHANGES = [(PARAMETERS, PARAMETERS_NOW), (LOTS, LOTS_NOW), (FIGURES, FIGURES_NOW)]


def upgrade() -> None:
    rewrite_functions(CHANGES, ("annual_review_chunk",), each_once=True, dropped=True)


def downgrade() -> None:
    rewrite_functions([(new, old) for old, new in CHANGES], ("annual_review_chunk",), each_once=True, dropped=True)
