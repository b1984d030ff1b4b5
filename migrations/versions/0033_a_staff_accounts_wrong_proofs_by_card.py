"""a staff account's wrong proofs are kept by card, a number that holds no card too

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06

The throttle of 0030 counted an account's wrong PINs: one member mistyping at a terminal, again and again,
shut the terminal's account out, while a card number that holds no card counted nothing (at the limit, the
next answer told whether a number was a card's). It did not guard a counter's proofs either. An account's
last wrong PIN or proof for each card, and the last showing of each number that holds no card, are now
rows of `staff_proof_failure` (forgotten when the card's PIN is then given right), and the throttle counts
those of the last lock period.
"""

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_card_event_staff_failures", table_name="card_event")
    op.create_table(
        "staff_proof_failure",
        sa.Column("staff_id", sa.BigInteger(), nullable=False),
        sa.Column("card_number", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_staff_proof_failure_staff_id_staff")),
        sa.PrimaryKeyConstraint("staff_id", "card_number", name=op.f("pk_staff_proof_failure")),
    )
    op.create_index("ix_staff_proof_failure_staff_time", "staff_proof_failure", ["staff_id", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_staff_proof_failure_staff_time", table_name="staff_proof_failure")
    op.drop_table("staff_proof_failure")
    op.create_index(
        "ix_card_event_staff_failures",
        "card_event",
        ["staff_id", "occurred_at"],
        postgresql_where=sa.text("action = 'PROOF_FAILED'"),
    )
