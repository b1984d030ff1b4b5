"""points given to an ended membership end with its other points

Revision ID: 0050
Revises: 0049
Create Date: 2026-12-07

An ended membership's points end on one day (the grade policy's), however it ended; a correction credited to it
afterwards got a lot of the usual validity, lasting past that day. The day is kept on the membership's points
account when it ends, and every credit's lot ends on it at the latest. Memberships ended before this revision
keep no day: their corrections last as before.
"""

import sqlalchemy as sa
from alembic import op

from loyalty.migrate import rewrite_functions

revision = "0050"
down_revision = "0049"
branch_labels = None
depends_on = None

LOT_ENDS = "coalesce(p_expires_on, points_expiry_date(p_effective_on)))"
LOT_ENDS_NOW = (
    "least(coalesce(p_expires_on, points_expiry_date(p_effective_on)),\n"
    "                              (SELECT points_end_on FROM points_balance WHERE member_id = p_member_id)))"
)


def upgrade() -> None:
    op.add_column("points_balance", sa.Column("points_end_on", sa.Date, nullable=True))
    rewrite_functions([(LOT_ENDS, LOT_ENDS_NOW)], ("points_move",), each_once=True)


def downgrade() -> None:
    rewrite_functions([(LOT_ENDS_NOW, LOT_ENDS)], ("points_move",), each_once=True)
    op.drop_column("points_balance", "points_end_on")
