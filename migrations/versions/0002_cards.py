"""cards

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Card stock down the branch hierarchy, member cards, their history and bookings; and the
idempotency records that replayed requests are answered from.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_record",
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("request_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_record")),
    )
    op.create_table(
        "card_batch",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("branch_id", sa.BigInteger(), nullable=False),
        sa.Column("card_type", sa.String(length=32), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("card_count", sa.Integer(), nullable=False),
        sa.Column("first_number", sa.BigInteger(), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=True),
        sa.Column("staff_id", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branch.id"], name=op.f("fk_card_batch_branch_id_branch")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_card_batch_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_batch")),
    )
    op.create_index(op.f("ix_card_batch_branch_id"), "card_batch", ["branch_id"], unique=False)
    op.create_table(
        "card",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("card_type", sa.String(length=32), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "INITIAL",
                "ISSUED",
                "RETURNED",
                "VOID",
                "ACTIVE",
                "LOST",
                "RETIRED",
                "CANCELLED",
                name="state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("branch_id", sa.BigInteger(), nullable=False),
        sa.Column("holder_club_id", sa.BigInteger(), nullable=True),
        sa.Column("holder_staff_id", sa.BigInteger(), nullable=True),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("pin_hash", sa.String(length=200), nullable=True),
        sa.Column("failed_attempt_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaces_number", sa.BigInteger(), nullable=True),
        sa.Column("replaced_by_number", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("failed_attempt_count >= 0", name=op.f("ck_card_failed_attempts_nonnegative")),
        sa.ForeignKeyConstraint(["batch_id"], ["card_batch.id"], name=op.f("fk_card_batch_id_card_batch")),
        sa.ForeignKeyConstraint(["branch_id"], ["branch.id"], name=op.f("fk_card_branch_id_branch")),
        sa.ForeignKeyConstraint(["holder_club_id"], ["club.id"], name=op.f("fk_card_holder_club_id_club")),
        sa.ForeignKeyConstraint(["holder_staff_id"], ["staff.id"], name=op.f("fk_card_holder_staff_id_staff")),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_card_member_id_member")),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_card")),
    )
    op.create_index(
        "ix_card_member", "card", ["member_id"], unique=False, postgresql_where=sa.text("member_id IS NOT NULL")
    )
    op.create_index("ix_card_stock", "card", ["branch_id", "state", "card_type"], unique=False)
    op.create_index(
        "uq_card_usable_per_member",
        "card",
        ["member_id"],
        unique=True,
        postgresql_where=sa.text("state IN ('ACTIVE', 'LOST')"),
    )
    op.create_table(
        "card_application",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "REQUESTED",
                "APPROVED",
                "FULFILLED",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("pickup_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pickup_place", sa.String(length=200), nullable=True),
        sa.Column("requested_by_staff_id", sa.BigInteger(), nullable=True),
        sa.Column("approved_by_staff_id", sa.BigInteger(), nullable=True),
        sa.Column("card_number", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["approved_by_staff_id"], ["staff.id"], name=op.f("fk_card_application_approved_by_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_card_application_member_id_member")),
        sa.ForeignKeyConstraint(
            ["requested_by_staff_id"], ["staff.id"], name=op.f("fk_card_application_requested_by_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_application")),
    )
    op.create_index(
        "uq_card_application_open",
        "card_application",
        ["member_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'FULFILLED'"),
    )
    op.create_table(
        "card_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("card_number", sa.BigInteger(), nullable=False),
        sa.Column("card_type", sa.String(length=32), nullable=False),
        sa.Column(
            "action",
            sa.Enum(
                "ISSUE",
                "TRANSFER",
                "RETURN",
                "VOID",
                "SET_STATE",
                "HAND_OVER",
                "REPORT_LOST",
                "UNFREEZE",
                "REISSUE",
                "REPLACE",
                "CANCEL",
                "CHANGE_PIN",
                "RESET_PIN",
                "PROOF_FAILED",
                name="action",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "state_before",
            sa.Enum(
                "INITIAL",
                "ISSUED",
                "RETURNED",
                "VOID",
                "ACTIVE",
                "LOST",
                "RETIRED",
                "CANCELLED",
                name="state_before",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "state_after",
            sa.Enum(
                "INITIAL",
                "ISSUED",
                "RETURNED",
                "VOID",
                "ACTIVE",
                "LOST",
                "RETIRED",
                "CANCELLED",
                name="state_after",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("branch_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "channel",
            sa.Enum(
                "COUNTER",
                "HOTLINE",
                "SELF_SERVICE",
                "WAP",
                "SYSTEM",
                name="channel",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column(
            "detail", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branch.id"], name=op.f("fk_card_event_branch_id_branch")),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_card_event_member_id_member")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_card_event_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_event")),
    )
    op.create_index("ix_card_event_branch_time", "card_event", ["branch_id", "occurred_at"], unique=False)
    op.create_index(op.f("ix_card_event_card_number"), "card_event", ["card_number"], unique=False)
    op.create_index(op.f("ix_card_event_member_id"), "card_event", ["member_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_card_event_member_id"), table_name="card_event")
    op.drop_index(op.f("ix_card_event_card_number"), table_name="card_event")
    op.drop_index("ix_card_event_branch_time", table_name="card_event")
    op.drop_table("card_event")
    op.drop_index(
        "uq_card_application_open", table_name="card_application", postgresql_where=sa.text("status <> 'FULFILLED'")
    )
    op.drop_table("card_application")
    op.drop_index(
        "uq_card_usable_per_member", table_name="card", postgresql_where=sa.text("state IN ('ACTIVE', 'LOST')")
    )
    op.drop_index("ix_card_stock", table_name="card")
    op.drop_index("ix_card_member", table_name="card", postgresql_where=sa.text("member_id IS NOT NULL"))
    op.drop_table("card")
    op.drop_index(op.f("ix_card_batch_branch_id"), table_name="card_batch")
    op.drop_table("card_batch")
    op.drop_table("idempotency_record")
