"""ledger transactions as transfers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

Every ledger transaction moves points between one member and one system account, so it is
now stored as one row that balances by construction: the member's side is `points`, the
system account's side (`account`) is `-points`. This is how TigerBeetle stores transfers.
The postings table and its per-row balance trigger go; nothing can write an unbalanced
transaction any more.

A lot no longer points at the one transaction that filled it: the credits that filled a lot
point at it (`lot_id`), so one lot holds all of a member's earnings of a monthly run. Lot
movements now record only what happened to a lot after it was filled (draws, restores), so
`remaining = amount + sum(movements)`.

Foreign keys from the high-volume rows (entries, lots, accruals) to members, lots and bills
are replaced: a foreign-key check locks the referenced row for every inserted row, which cost
about a third of the monthly run. The journal's member, staff and reversed transaction are
still checked by the database, once per statement; lots, bills and accruals are checked by
`loyalty verify`. Members, bills and
lots can no longer be deleted (a trigger refuses), so no reference can be left dangling.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ACCOUNTS = ("ISSUANCE", "BREAKAGE", "REDEMPTION", "PARTNER_CLEARING", "ADJUSTMENT")
ENTRY_TYPES = (
    "CONSUMPTION", "BONUS_TENURE", "BONUS_ON_TIME", "BONUS_PROMOTION", "BONUS_ACTIVITY", "PENALTY",
    "PARTNER_EXCHANGE_IN", "SURVEY", "REFERRAL", "ADJUSTMENT", "REDEMPTION", "EXPIRY", "REVERSAL",
)  # fmt: skip
NEVER_DELETED = ("member", "bill", "points_lot")


def _enum(name: str, values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _with_journal_writable(statements: list[str]) -> None:
    """Run data conversions on the append-only tables (only a migration ever does this)."""
    for table in ("ledger_transaction", "lot_movement"):
        op.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
    for statement in statements:
        op.execute(statement)
    for table in ("ledger_transaction", "lot_movement"):
        op.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")


def upgrade() -> None:
    op.add_column("ledger_transaction", sa.Column("account", _enum("account", ACCOUNTS), nullable=True))
    op.add_column("ledger_transaction", sa.Column("lot_id", sa.BigInteger(), nullable=True))
    op.add_column("ledger_transaction", sa.Column("bill_id", sa.BigInteger(), nullable=True))
    _with_journal_writable(
        [
            """UPDATE ledger_transaction t SET account = p.account FROM ledger_posting p
               WHERE p.transaction_id = t.id AND p.account IS NOT NULL""",
            "UPDATE ledger_transaction t SET lot_id = l.id FROM points_lot l WHERE l.transaction_id = t.id",
            r"""UPDATE ledger_transaction SET bill_id = CAST(substring(reason FROM '^Bill (\d+)$') AS bigint)
                WHERE reason ~ '^Bill \d+$'""",
            """DELETE FROM lot_movement m USING points_lot l
               WHERE m.lot_id = l.id AND m.transaction_id = l.transaction_id AND m.amount > 0""",
        ]
    )
    op.alter_column("ledger_transaction", "account", nullable=False)
    op.create_check_constraint("points_nonzero", "ledger_transaction", "points <> 0")
    op.drop_constraint("uq_ledger_transaction_reverses_id", "ledger_transaction", type_="unique")
    op.create_index(
        "uq_ledger_transaction_reverses_id",
        "ledger_transaction",
        ["reverses_id"],
        unique=True,
        postgresql_where=sa.text("reverses_id IS NOT NULL"),
    )
    op.drop_constraint("fk_ledger_transaction_member_id_member", "ledger_transaction", type_="foreignkey")

    op.execute("DROP TRIGGER ledger_posting_balanced ON ledger_posting")
    op.execute("DROP FUNCTION ledger_transaction_balanced()")
    op.drop_table("ledger_posting")

    op.drop_index("ix_points_lot_transaction_id", table_name="points_lot")
    op.drop_index("ix_points_lot_expires_on", table_name="points_lot")
    op.drop_constraint("fk_points_lot_transaction_id_ledger_transaction", "points_lot", type_="foreignkey")
    op.drop_constraint("fk_points_lot_member_id_member", "points_lot", type_="foreignkey")
    op.drop_column("points_lot", "transaction_id")
    op.drop_column("points_lot", "source")

    # every member has a points account from joining on
    op.execute("INSERT INTO points_balance (member_id) SELECT id FROM member ON CONFLICT DO NOTHING")

    op.drop_index("ix_accrual_member_id", table_name="accrual")
    op.drop_constraint("fk_accrual_bill_id_bill", "accrual", type_="foreignkey")
    op.drop_constraint("fk_accrual_member_id_member", "accrual", type_="foreignkey")

    op.drop_constraint("fk_ledger_transaction_staff_id_staff", "ledger_transaction", type_="foreignkey")
    op.drop_constraint("fk_ledger_transaction_reverses_id_ledger_transaction", "ledger_transaction", type_="foreignkey")
    op.execute(
        """CREATE FUNCTION ledger_references_exist() RETURNS trigger LANGUAGE plpgsql AS $$
           DECLARE
               missing text;
           BEGIN
               SELECT coalesce(m, s, r) INTO missing FROM (
                   SELECT (SELECT 'member ' || member_id FROM (SELECT DISTINCT member_id FROM new_rows) n
                           WHERE NOT EXISTS (SELECT 1 FROM member x WHERE x.id = n.member_id) LIMIT 1) AS m,
                          (SELECT 'staff ' || staff_id FROM new_rows n WHERE staff_id IS NOT NULL
                           AND NOT EXISTS (SELECT 1 FROM staff x WHERE x.id = n.staff_id) LIMIT 1) AS s,
                          (SELECT 'transaction ' || reverses_id FROM new_rows n WHERE reverses_id IS NOT NULL
                           AND NOT EXISTS (SELECT 1 FROM ledger_transaction x WHERE x.id = n.reverses_id) LIMIT 1) AS r
               ) AS checks;
               IF missing IS NOT NULL THEN
                   RAISE EXCEPTION 'ledger entry refused: no such %', missing USING ERRCODE = 'foreign_key_violation';
               END IF;
               RETURN NULL;
           END $$"""
    )
    op.execute(
        "CREATE TRIGGER ledger_transaction_references_exist AFTER INSERT ON ledger_transaction "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_references_exist()"
    )
    op.execute(
        """CREATE FUNCTION never_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               RAISE EXCEPTION '% rows are never deleted or renumbered (the points ledger refers to them)',
                   TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
           END $$"""
    )
    for table in NEVER_DELETED:
        op.execute(
            f"CREATE TRIGGER {table}_never_deleted BEFORE DELETE OR UPDATE OF id ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION never_deleted()"
        )


def downgrade() -> None:
    for table in NEVER_DELETED:
        op.execute(f"DROP TRIGGER {table}_never_deleted ON {table}")
    op.execute("DROP FUNCTION never_deleted()")
    op.execute("DROP TRIGGER ledger_transaction_references_exist ON ledger_transaction")
    op.execute("DROP FUNCTION ledger_references_exist()")

    op.create_foreign_key("fk_accrual_member_id_member", "accrual", "member", ["member_id"], ["id"])
    op.create_foreign_key("fk_accrual_bill_id_bill", "accrual", "bill", ["bill_id"], ["id"])
    op.create_index("ix_accrual_member_id", "accrual", ["member_id"], unique=False)

    op.add_column("points_lot", sa.Column("source", _enum("source", ENTRY_TYPES), nullable=True))
    op.add_column("points_lot", sa.Column("transaction_id", sa.BigInteger(), nullable=True))
    op.create_table(
        "ledger_posting",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("account", _enum("account", ACCOUNTS), nullable=True),
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
    op.execute(
        """INSERT INTO ledger_posting (transaction_id, member_id, account, amount)
           SELECT id, member_id, NULL, points FROM ledger_transaction
           UNION ALL SELECT id, NULL, account, -points FROM ledger_transaction ORDER BY 1"""
    )
    op.execute(
        "CREATE TRIGGER ledger_posting_append_only BEFORE UPDATE OR DELETE ON ledger_posting "
        "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
    )
    _with_journal_writable(
        [
            """UPDATE points_lot l SET transaction_id = t.first, source = t.entry_type
               FROM (SELECT DISTINCT ON (lot_id) lot_id, id AS first, entry_type FROM ledger_transaction
                     WHERE lot_id IS NOT NULL ORDER BY lot_id, id) t
               WHERE t.lot_id = l.id""",
            """INSERT INTO lot_movement (lot_id, transaction_id, amount)
               SELECT lot_id, id, points FROM ledger_transaction WHERE lot_id IS NOT NULL""",
        ]
    )
    op.alter_column("points_lot", "transaction_id", nullable=False)
    op.alter_column("points_lot", "source", nullable=False)
    op.create_foreign_key("fk_points_lot_member_id_member", "points_lot", "member", ["member_id"], ["id"])
    op.create_foreign_key(
        "fk_points_lot_transaction_id_ledger_transaction",
        "points_lot",
        "ledger_transaction",
        ["transaction_id"],
        ["id"],
    )
    op.create_index("ix_points_lot_expires_on", "points_lot", ["expires_on"], unique=False)
    op.create_index("ix_points_lot_transaction_id", "points_lot", ["transaction_id"], unique=False)
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

    op.create_foreign_key(
        "fk_ledger_transaction_member_id_member", "ledger_transaction", "member", ["member_id"], ["id"]
    )
    op.create_foreign_key("fk_ledger_transaction_staff_id_staff", "ledger_transaction", "staff", ["staff_id"], ["id"])
    op.create_foreign_key(
        "fk_ledger_transaction_reverses_id_ledger_transaction",
        "ledger_transaction",
        "ledger_transaction",
        ["reverses_id"],
        ["id"],
    )
    op.drop_index("uq_ledger_transaction_reverses_id", table_name="ledger_transaction")
    op.create_unique_constraint("uq_ledger_transaction_reverses_id", "ledger_transaction", ["reverses_id"])
    op.drop_constraint("points_nonzero", "ledger_transaction", type_="check")
    op.drop_column("ledger_transaction", "bill_id")
    op.drop_column("ledger_transaction", "lot_id")
    op.drop_column("ledger_transaction", "account")
