"""the wrong PINs of the cards one staff account shows are found by an index

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06

A card shown at a POS or terminal may be any member's in the country (grades that roam redeem anywhere), and
five wrong PINs lock it: a staff account could lock any card it liked. A card is now shown by an account only
while that account's wrong PINs and proofs of the last lock period are fewer than the limit, which this
index counts without reading the account's other card events.
"""

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_card_event_staff_failures",
        "card_event",
        ["staff_id", "occurred_at"],
        postgresql_where=sa.text("action = 'PROOF_FAILED'"),
    )


def downgrade() -> None:
    op.drop_index("ix_card_event_staff_failures", table_name="card_event")
