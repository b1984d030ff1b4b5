"""monthly accrual runs

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24

A record of each monthly run: an administrator starts one through the API and it works in
the background, so the API answers at once and the run's progress and outcome are read here.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

STATUSES = ("RUNNING", "DONE", "FAILED", "INTERRUPTED")


def upgrade() -> None:
    op.create_table(
        "monthly_accrual_run",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(*STATUSES, name="status", native_enum=False, create_constraint=True, length=32),
            server_default="RUNNING",
            nullable=False,
        ),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("bills_total", sa.BigInteger(), nullable=False),
        sa.Column("bills", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("members", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("points", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("penalties", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_monthly_accrual_run_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monthly_accrual_run")),
    )
    op.create_index("ix_monthly_accrual_run_month", "monthly_accrual_run", ["month", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_monthly_accrual_run_month", table_name="monthly_accrual_run")
    op.drop_table("monthly_accrual_run")
