"""a retired reward's bookings end, and say why

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06

A booking of a reward that was retired stayed ACTIVE and was skipped every month for good (ITEM_NOT_ACTIVE):
the member saw a booking that would never run again. Retiring a reward now cancels its active and paused
bookings with the reason ITEM_RETIRED (`cancel_reason`; null when the member or staff cancelled it). Bookings
of rewards retired before this revision end here too.
"""

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("auto_redemption", sa.Column("cancel_reason", sa.String(32), nullable=True))
    op.create_index(
        "ix_auto_redemption_open_item",
        "auto_redemption",
        ["item_id"],
        postgresql_where=sa.text("status IN ('ACTIVE', 'PAUSED')"),
    )
    op.execute(
        """UPDATE auto_redemption b SET status = 'CANCELLED', cancel_reason = 'ITEM_RETIRED', updated_at = now()
           FROM reward_item i
           WHERE i.id = b.item_id AND i.status = 'RETIRED' AND b.status IN ('ACTIVE', 'PAUSED')"""
    )


def downgrade() -> None:
    op.drop_index("ix_auto_redemption_open_item", table_name="auto_redemption")
    op.drop_column("auto_redemption", "cancel_reason")
