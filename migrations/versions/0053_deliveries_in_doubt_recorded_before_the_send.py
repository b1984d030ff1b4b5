"""a delivery is in doubt from before it is sent until it is answered or settled, and an operator settles it

Revision ID: 0053
Revises: 0052
Create Date: 2026-12-07

0052 judged a delivery in doubt by its last error, written after the gateway raised. A sender stopped or killed
while the gateway held a delivery wrote nothing: the delivery stayed PENDING without an error, and a
cancellation before the next run gave the points back beside minutes the billing system may have applied.
The sender now writes `fulfilment_doubt` before each send, committed on a connection of its own (the sender's
transaction holds the fulfilment's row until the answer, so the mark is a row of another table, and it has no
foreign key: the key's check would wait for that lock). The answer deletes it with the delivery's DELIVERED;
a failure keeps it; an operator who asked the billing system deletes it with `settleFulfilment`, kept in
`fulfilment_settlement` (outcome, the billing system's reference, who, when): APPLIED makes the delivery
DELIVERED, NOT_APPLIED (of a FAILED delivery, which no run sends again) FAILED without doubt, to retry or to
cancel. `cancel_redemption` refuses a line whose fulfilment has the mark, and says so. Deliveries in doubt
under 0052 (PENDING or FAILED with an error) have it from their last change. Going back, the marked ones keep
an error, so that 0052 still refuses them; the settlements are dropped, and a delivery settled NOT_APPLIED is in
doubt again by its error under 0052 (its cancellation refused until it is delivered).
"""

import sqlalchemy as sa
from alembic import op

from loyalty.migrate import one_of, rewrite_functions

revision = "0053"
down_revision = "0052"
branch_labels = None
depends_on = None

OUTCOMES = ["APPLIED", "NOT_APPLIED"]

CHANGES = [
    (
        "(SELECT CASE WHEN state <> 'DELIVERED' AND last_error IS NOT NULL THEN 'IN_DOUBT' ELSE state END"
        " FROM fulfilment WHERE line_id = l.id) AS delivery",
        "(SELECT CASE WHEN EXISTS (SELECT 1 FROM fulfilment_doubt d WHERE d.fulfilment_id = f.id) THEN 'IN_DOUBT'"
        " ELSE f.state END FROM fulfilment f WHERE f.line_id = l.id) AS delivery",
    ),
    ("'Its delivery was tried and failed: the'", "'Its delivery was sent unanswered: the'"),
    (
        "' billing system may have applied it. An operator retries or settles'",
        "' billing system may have applied it. It is delivered, or an operator settles'",
    ),
]


def upgrade() -> None:
    op.create_table(
        "fulfilment_doubt",
        sa.Column("fulfilment_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("fulfilment_id", name=op.f("pk_fulfilment_doubt")),
    )
    op.create_table(
        "fulfilment_settlement",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("fulfilment_id", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("reference", sa.String(100), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fulfilment_settlement")),
        sa.CheckConstraint(
            one_of("outcome", ["APPLIED", "NOT_APPLIED"]), name=op.f("ck_fulfilment_settlement_outcome")
        ),
    )
    op.create_index(op.f("ix_fulfilment_settlement_fulfilment_id"), "fulfilment_settlement", ["fulfilment_id"])
    op.execute(
        "INSERT INTO fulfilment_doubt (fulfilment_id, since) SELECT id, updated_at FROM fulfilment"
        " WHERE state IN ('PENDING', 'FAILED') AND last_error IS NOT NULL"
    )
    rewrite_functions(CHANGES, ("cancel_redemption",), each_once=True)


def downgrade() -> None:
    rewrite_functions([(new, old) for old, new in CHANGES], ("cancel_redemption",), each_once=True)
    op.execute(
        "UPDATE fulfilment SET last_error = 'Sent unanswered: in doubt.' WHERE last_error IS NULL"
        " AND id IN (SELECT fulfilment_id FROM fulfilment_doubt)"
    )
    op.drop_table("fulfilment_settlement")
    op.drop_table("fulfilment_doubt")
