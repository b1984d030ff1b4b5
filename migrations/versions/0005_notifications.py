"""notification outbox

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

The notification outbox (expiry warnings first).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum("SMS", "EMAIL", "CALLBACK", name="channel", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("address", sa.String(length=254), nullable=True),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("dedupe_key", sa.String(length=100), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum("PENDING", "SENT", "FAILED", name="status", native_enum=False, create_constraint=True, length=32),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_notification_member_id_member")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notification_dedupe_key")),
    )
    op.create_index(op.f("ix_notification_member_id"), "notification", ["member_id"], unique=False)
    op.create_index(
        "ix_notification_pending",
        "notification",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("status = 'PENDING'"),
    )


def downgrade() -> None:
    op.drop_index("ix_notification_pending", table_name="notification", postgresql_where=sa.text("status = 'PENDING'"))
    op.drop_index(op.f("ix_notification_member_id"), table_name="notification")
    op.drop_table("notification")
