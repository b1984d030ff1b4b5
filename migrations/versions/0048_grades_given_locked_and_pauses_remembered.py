"""an approval waits for the grade it gives; a booking is skipped for the months it was paused at the end of

Revision ID: 0048
Revises: 0047
Create Date: 2026-12-07

An approved proposal (`grade_apply`) read its grade unlocked: approved while headquarters retired the grade, it
gave the retired grade. It now holds the grades it gives FOR KEY SHARE, as every other assignment does, before
it looks at them: a retirement under way is waited for, and the proposal lapses.

A resumed booking was due from the month it was resumed in (0047): paused and resumed early in a month, before
the last month's run was made late, it lost a month it had been active through. A booking now remembers the
month it was last paused in too, and a month is skipped when the booking was paused at its end: paused in it or
before, resumed after it.
"""

import sqlalchemy as sa
from alembic import op

from domain import clock
from loyalty.migrate import rewrite_functions

revision = "0048"
down_revision = "0047"
branch_labels = None
depends_on = None

GRADES = "            UPDATE grade_proposal p SET state = 'LAPSED', decided_by = p_staff_id, decided_at = p_now,\n"
GRADES_NOW = (
    "            -- The grades given, as every assignment holds them: a retirement under way is waited for, and seen.\n"
    "            PERFORM 1 FROM grade WHERE code IN (SELECT grade_to FROM grade_proposal WHERE id = ANY(open))\n"
    "                ORDER BY code FOR KEY SHARE;\n" + GRADES
)
DUE = "greatest(b.start_month, b.resumed_month) <= p_month"
DUE_NOW = "b.start_month <= p_month AND NOT coalesce(b.paused_month <= p_month AND p_month < b.resumed_month, false)"


def upgrade() -> None:
    op.add_column("auto_redemption", sa.Column("paused_month", sa.Date, nullable=True))
    # A booking paused now was paused by its last change; of one resumed before, the pause is not known: none of
    # its months is skipped.
    op.execute(
        sa.text(
            """UPDATE auto_redemption SET paused_month = CASE WHEN status = 'PAUSED'
                   THEN date_trunc('month', updated_at AT TIME ZONE :zone)::date ELSE resumed_month END
               WHERE status = 'PAUSED' OR resumed_month IS NOT NULL"""
        ).bindparams(zone=clock.zone.key)
    )
    rewrite_functions([(GRADES, GRADES_NOW)], ("grade_apply",), each_once=True)
    rewrite_functions([(DUE, DUE_NOW)], ("auto_redeem_chunk",))


def downgrade() -> None:
    rewrite_functions([(DUE_NOW, DUE)], ("auto_redeem_chunk",))
    rewrite_functions([(GRADES_NOW, GRADES)], ("grade_apply",), each_once=True)
    op.drop_column("auto_redemption", "paused_month")
