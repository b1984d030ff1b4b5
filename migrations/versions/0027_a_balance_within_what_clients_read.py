"""a member's balance stays within what clients read

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06

Clients read a balance as a 32-bit `Int`: a balance above 2,147,483,647 points (reached by adjustments of
ten million at a time) could not be answered, and every read of it failed. A balance now holds at most that
many; a movement beyond it is refused (OUT_OF_RANGE) and writes nothing.
"""

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_check_constraint("posted_max", "points_balance", "posted <= 2147483647")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_points_balance_posted_max"), "points_balance", type_="check")
