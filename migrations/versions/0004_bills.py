"""bills and accrual

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Monthly bills from the billing system, and the record of which bills have earned points.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bill",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("billing_month", sa.Date(), nullable=False),
        sa.Column("amount_billed_fen", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("paid_date", sa.Date(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("amount_billed_fen >= 0 AND amount_paid_fen >= 0", name=op.f("ck_bill_amounts_nonnegative")),
        sa.CheckConstraint("extract(day FROM billing_month) = 1", name=op.f("ck_bill_month_starts_on_day_one")),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], name=op.f("fk_bill_account_id_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill")),
        sa.UniqueConstraint("account_id", "billing_month", name=op.f("uq_bill_account_id")),
    )
    op.create_index("ix_bill_month", "bill", ["billing_month", "id"], unique=False)
    op.create_table(
        "accrual",
        sa.Column("bill_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("accrued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["bill_id"], ["bill.id"], name=op.f("fk_accrual_bill_id_bill")),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_accrual_member_id_member")),
        sa.PrimaryKeyConstraint("bill_id", name=op.f("pk_accrual")),
    )
    op.create_index(op.f("ix_accrual_member_id"), "accrual", ["member_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_accrual_member_id"), table_name="accrual")
    op.drop_table("accrual")
    op.drop_index("ix_bill_month", table_name="bill")
    op.drop_table("bill")
