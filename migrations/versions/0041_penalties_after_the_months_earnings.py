"""a late bill's penalty is taken once every bill of the month has earned, from one balance

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-07

Each chunk of the monthly run took the penalties of its own late bills, each a percentage of the balance at that
moment: a member's penalty depended on how the month was cut into chunks (three late bills cost 87 points in chunks
of one bill, 1,590 in one chunk of 10,000), and on whether their other bills had earned yet. A claimed late bill
now waits with `penalty_due` until every bill of the run has earned; then each costs the percentage of one balance
(`penalised_at`: when, so that a run resumed to take them counts their members).
"""

import sqlalchemy as sa
from alembic import op

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accrual", sa.Column("penalty_due", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("accrual", sa.Column("penalised_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_accrual_penalty_due", "accrual", ["member_id"], postgresql_where=sa.text("penalty_due"))


def downgrade() -> None:
    op.drop_index("ix_accrual_penalty_due", "accrual")
    op.drop_column("accrual", "penalised_at")
    op.drop_column("accrual", "penalty_due")
