"""points ledger

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

The points ledger. The database itself keeps it honest: journal rows (transactions,
postings, lot movements) can never be updated or deleted, and every transaction's postings
must sum to zero when it commits.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


JOURNAL_TABLES = ("ledger_transaction", "ledger_posting", "lot_movement")
ACCOUNTS = {
    "ISSUANCE": "Points issued to members",
    "BREAKAGE": "Points expired",
    "REDEMPTION": "Points redeemed",
    "PARTNER_CLEARING": "Points exchanged with partners",
    "ADJUSTMENT": "Manual adjustments and penalties",
}


def upgrade() -> None:
    op.create_table(
        "ledger_account",
        sa.Column(
            "code",
            sa.Enum(
                "ISSUANCE",
                "BREAKAGE",
                "REDEMPTION",
                "PARTNER_CLEARING",
                "ADJUSTMENT",
                name="code",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_ledger_account")),
    )
    op.create_table(
        "points_rule",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "POINTS_PER_YUAN",
                "GRADE_MULTIPLIER",
                "TENURE_BONUS_PER_YEAR",
                "ON_TIME_BONUS",
                "LATE_PENALTY_PERCENT",
                "EXPIRY_YEAR_END_AFTER_YEARS",
                "EXPIRY_AFTER_MONTHS",
                name="kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("grade_code", sa.String(length=32), nullable=True),
        sa.Column("value", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["grade_code"], ["grade.code"], name=op.f("fk_points_rule_grade_code_grade")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_rule")),
    )
    op.create_table(
        "points_rule_change",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["points_rule.id"], name=op.f("fk_points_rule_change_rule_id_points_rule")
        ),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_points_rule_change_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_rule_change")),
    )
    op.create_index(op.f("ix_points_rule_change_rule_id"), "points_rule_change", ["rule_id"], unique=False)
    op.create_table(
        "ledger_transaction",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "entry_type",
            sa.Enum(
                "CONSUMPTION",
                "BONUS_TENURE",
                "BONUS_ON_TIME",
                "BONUS_PROMOTION",
                "BONUS_ACTIVITY",
                "PENALTY",
                "PARTNER_EXCHANGE_IN",
                "SURVEY",
                "REFERRAL",
                "ADJUSTMENT",
                "REDEMPTION",
                "EXPIRY",
                "REVERSAL",
                name="entry_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("reverses_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_ledger_transaction_member_id_member")),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["ledger_transaction.id"],
            name=op.f("fk_ledger_transaction_reverses_id_ledger_transaction"),
        ),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_ledger_transaction_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transaction")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_ledger_transaction_reverses_id")),
    )
    op.create_index(op.f("ix_ledger_transaction_member_id"), "ledger_transaction", ["member_id"], unique=False)
    op.create_table(
        "points_balance",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("posted", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("held", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("held >= 0", name=op.f("ck_points_balance_held_nonnegative")),
        sa.CheckConstraint("posted - held >= 0", name=op.f("ck_points_balance_available_nonnegative")),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_points_balance_member_id_member")),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_points_balance")),
    )
    op.create_table(
        "ledger_posting",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "account",
            sa.Enum(
                "ISSUANCE",
                "BREAKAGE",
                "REDEMPTION",
                "PARTNER_CLEARING",
                "ADJUSTMENT",
                name="account",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("(member_id IS NULL) <> (account IS NULL)", name=op.f("ck_ledger_posting_one_account")),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_posting_amount_nonzero")),
        sa.ForeignKeyConstraint(
            ["account"], ["ledger_account.code"], name=op.f("fk_ledger_posting_account_ledger_account")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_ledger_posting_member_id_member")),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transaction.id"],
            name=op.f("fk_ledger_posting_transaction_id_ledger_transaction"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_posting")),
    )
    op.create_index(op.f("ix_ledger_posting_member_id"), "ledger_posting", ["member_id"], unique=False)
    op.create_index(op.f("ix_ledger_posting_transaction_id"), "ledger_posting", ["transaction_id"], unique=False)
    op.create_table(
        "points_lot",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "source",
            sa.Enum(
                "CONSUMPTION",
                "BONUS_TENURE",
                "BONUS_ON_TIME",
                "BONUS_PROMOTION",
                "BONUS_ACTIVITY",
                "PENALTY",
                "PARTNER_EXCHANGE_IN",
                "SURVEY",
                "REFERRAL",
                "ADJUSTMENT",
                "REDEMPTION",
                "EXPIRY",
                "REVERSAL",
                name="source",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("earned_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= amount", name=op.f("ck_points_lot_remaining_within_amount")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_points_lot_member_id_member")),
        sa.ForeignKeyConstraint(
            ["transaction_id"], ["ledger_transaction.id"], name=op.f("fk_points_lot_transaction_id_ledger_transaction")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_lot")),
    )
    op.create_index(op.f("ix_points_lot_expires_on"), "points_lot", ["expires_on"], unique=False)
    op.create_index(
        "ix_points_lot_spendable",
        "points_lot",
        ["member_id", "expires_on", "id"],
        unique=False,
        postgresql_where=sa.text("remaining > 0"),
    )
    op.create_index(op.f("ix_points_lot_transaction_id"), "points_lot", ["transaction_id"], unique=False)
    op.create_table(
        "lot_movement",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("lot_id", sa.BigInteger(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["lot_id"], ["points_lot.id"], name=op.f("fk_lot_movement_lot_id_points_lot")),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transaction.id"],
            name=op.f("fk_lot_movement_transaction_id_ledger_transaction"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lot_movement")),
    )
    op.create_index(op.f("ix_lot_movement_lot_id"), "lot_movement", ["lot_id"], unique=False)
    op.create_index(op.f("ix_lot_movement_transaction_id"), "lot_movement", ["transaction_id"], unique=False)

    op.bulk_insert(
        sa.table("ledger_account", sa.column("code", sa.String), sa.column("name", sa.String)),
        [{"code": code, "name": name} for code, name in ACCOUNTS.items()],
    )
    op.execute(
        """CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               RAISE EXCEPTION 'the points journal is append-only: % on % refused', TG_OP, TG_TABLE_NAME
                   USING ERRCODE = 'restrict_violation';
           END $$"""
    )
    for table in JOURNAL_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
        )
    op.execute(
        """CREATE FUNCTION ledger_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               IF (SELECT sum(amount) FROM ledger_posting WHERE transaction_id = NEW.transaction_id) <> 0 THEN
                   RAISE EXCEPTION 'ledger transaction % does not balance', NEW.transaction_id
                       USING ERRCODE = 'check_violation';
               END IF;
               RETURN NULL;
           END $$"""
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER ledger_posting_balanced AFTER INSERT ON ledger_posting "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balanced()"
    )


def downgrade() -> None:
    for table in JOURNAL_TABLES:
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    op.execute("DROP TRIGGER ledger_posting_balanced ON ledger_posting")
    op.execute("DROP FUNCTION ledger_append_only()")
    op.execute("DROP FUNCTION ledger_transaction_balanced()")
    op.drop_index(op.f("ix_lot_movement_transaction_id"), table_name="lot_movement")
    op.drop_index(op.f("ix_lot_movement_lot_id"), table_name="lot_movement")
    op.drop_table("lot_movement")
    op.drop_index(op.f("ix_points_lot_transaction_id"), table_name="points_lot")
    op.drop_index("ix_points_lot_spendable", table_name="points_lot", postgresql_where=sa.text("remaining > 0"))
    op.drop_index(op.f("ix_points_lot_expires_on"), table_name="points_lot")
    op.drop_table("points_lot")
    op.drop_index(op.f("ix_ledger_posting_transaction_id"), table_name="ledger_posting")
    op.drop_index(op.f("ix_ledger_posting_member_id"), table_name="ledger_posting")
    op.drop_table("ledger_posting")
    op.drop_table("points_balance")
    op.drop_index(op.f("ix_ledger_transaction_member_id"), table_name="ledger_transaction")
    op.drop_table("ledger_transaction")
    op.drop_index(op.f("ix_points_rule_change_rule_id"), table_name="points_rule_change")
    op.drop_table("points_rule_change")
    op.drop_table("points_rule")
    op.drop_table("ledger_account")
