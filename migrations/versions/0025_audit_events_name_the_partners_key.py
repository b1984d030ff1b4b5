"""an audit event of a partner's call names the key it came with

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06

A partner's calls were recorded under the partner alone: with several keys (one per system, one being
rotated out), what a key did could not be told apart. The event now keeps the key (`api_client_id`),
NULL for members and staff and for the events before it. The table is append-only; adding a column
changes no row.
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_event", sa.Column("api_client_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_event", "api_client_id")
