"""a resumed booking runs from the month it was resumed in, never for a month it was paused through

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-07

A paused booking leaves no execution in the months it skips. A month's run made late (after the month, or resumed
after it stopped) found a booking resumed since due for that month, and charged it: a member who paused in January
and resumed on 3 February paid for January and February that day. A booking remembers the month it was last
resumed in, and is due from that month or its start month, whichever is later.
"""

import sqlalchemy as sa
from alembic import op

from loyalty.migrate import rewrite_functions

revision = "0047"
down_revision = "0046"
branch_labels = None
depends_on = None

DUE = "b.start_month <= p_month"
DUE_NOW = "greatest(b.start_month, b.resumed_month) <= p_month"


def upgrade() -> None:
    op.add_column("auto_redemption", sa.Column("resumed_month", sa.Date, nullable=True))
    rewrite_functions([(DUE, DUE_NOW)], ("auto_redeem_chunk",))


def downgrade() -> None:
    rewrite_functions([(DUE_NOW, DUE)], ("auto_redeem_chunk",))
    op.drop_column("auto_redemption", "resumed_month")
