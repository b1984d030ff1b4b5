"""time and state: identity changes, member states in adjustments, history in effective order

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

- `identity_change`: who changed a customer's name or ID document, when, before and after.
- `adjust_points` and `reverse_points_transaction` take what each member state allows of the
  operation (`domain/members/states.py` decides) and check the member's state under a share lock
  (`member_state_reason`), so that an ended membership cannot earn, and a correction of one is
  marked in its reason (which grows to 600 characters for the mark).
- A replay says it is one: `idempotency_claim` notes it for the transaction (`loyalty.replayed`), and
  a member's own card report answers the card as it was after the first request, kept with its result.
- A member's history is read in the order entries take effect: one index on (member, date, id)
  serves it and every lookup by member, in place of the index on the member alone.
"""

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _earlier(file_name: str) -> dict[str, str]:
    """The function definitions of an earlier revision (what this one changes, and what a downgrade restores)."""
    path = Path(__file__).with_name(file_name)
    spec = importlib.util.spec_from_file_location(f"revision_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FUNCTIONS


def _changed(definition: str, *replacements: tuple[str, str]) -> str:
    for old, new in replacements:
        assert old in definition, old
        definition = definition.replace(old, new)
    return definition


POINTS = _earlier("0009_points_in_one_statement.py")
CARDS = _earlier("0010_own_card_in_one_statement.py")
OLD_ADJUST = "adjust_points(text, text, bytea, bigint, text, text, text, bigint, text, bigint, date)"
OLD_REVERSE = "reverse_points_transaction(text, text, bytea, bigint, text, text, bigint, date)"
CLAIM = "idempotency_claim(text, text, bytea)"
MOVE_OWN_CARD = "move_own_card(text, text, bytea, bigint, bigint, text, text, text, text, jsonb, timestamptz)"
REPLACED = {CLAIM: POINTS[CLAIM], MOVE_OWN_CARD: CARDS[MOVE_OWN_CARD]}
# Signatures that change: the earlier function is dropped, the new one created (and back on a downgrade).
RESIGNED = {
    OLD_ADJUST: (f"{OLD_ADJUST[:-1]}, jsonb)", POINTS[OLD_ADJUST]),
    OLD_REVERSE: (f"{OLD_REVERSE[:-1]}, jsonb)", POINTS[OLD_REVERSE]),
}
STATE_CHECK = (
    "p_today date\n        ) RETURNS SETOF ledger_transaction",
    "p_today date, p_states jsonb\n        ) RETURNS SETOF ledger_transaction",
)

MEMBER_STATE = "member_state_reason(bigint, jsonb, text)"
NEW = {
    MEMBER_STATE: """
        -- The member's state, under a share lock (ending a membership waits, and waits for it), against
        -- what the caller's operation allows in each state (`domain/members/states.py`): {"ENDED":
        -- {"refuse": [code, message]}} refuses, {"ENDED": {"mark": text}} marks the reason, which it returns.
        CREATE FUNCTION member_state_reason(p_member_id bigint, p_states jsonb, p_reason text) RETURNS text
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            rule jsonb := p_states -> (SELECT status::text FROM member WHERE id = p_member_id FOR SHARE);
        BEGIN
            IF rule ? 'refuse' THEN
                PERFORM refuse(rule -> 'refuse' ->> 0, rule -> 'refuse' ->> 1, 'member_id');
            END IF;
            RETURN coalesce(rule ->> 'mark', '') || p_reason;
        END $$""",
    RESIGNED[OLD_ADJUST][0]: _changed(
        POINTS[OLD_ADJUST],
        STATE_CHECK,
        (
            "PERFORM member_in_scope(p_member_id, p_branch_path, 'member_id');\n",
            "PERFORM member_in_scope(p_member_id, p_branch_path, 'member_id');\n"
            "            p_reason := member_state_reason(p_member_id, p_states, p_reason);\n",
        ),
    ),
    RESIGNED[OLD_REVERSE][0]: _changed(
        POINTS[OLD_REVERSE],
        STATE_CHECK,
        (
            "PERFORM member_in_scope(owner, p_branch_path, 'transaction_id');\n",
            """IF NOT coalesce((SELECT pg_catalog.starts_with(b.path::text, p_branch_path)
                             FROM member m JOIN branch b ON b.id = m.branch_id WHERE m.id = owner), false) THEN
                -- another branch's entry reads exactly as a missing one
                PERFORM refuse('NOT_FOUND', 'No such ledger transaction in your scope.', 'transaction_id');
            END IF;
            PERFORM member_in_scope(owner, p_branch_path, 'transaction_id');  -- and locks the member
            p_reason := member_state_reason(owner, p_states, p_reason);\n""",
        ),
    ),
    CLAIM: _changed(
        REPLACED[CLAIM],
        ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"),
        (
            "            IF p_key IS NULL THEN\n",
            "            PERFORM set_config('loyalty.replayed', 'false', true);\n            IF p_key IS NULL THEN\n",
        ),
        (
            "                    RETURN stored.result;",
            "                    PERFORM set_config('loyalty.replayed', 'true', true);\n"
            "                    RETURN stored.result;",
        ),
    ),
    MOVE_OWN_CARD: _changed(
        REPLACED[MOVE_OWN_CARD],
        ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"),
        (
            """            IF replay IS NOT NULL THEN
                RETURN QUERY SELECT * FROM card WHERE number = (replay ->> 'id')::bigint;""",
            """            IF replay ? 'row' THEN  -- the card as it was after the first request, not as it is now
                RETURN QUERY SELECT * FROM jsonb_populate_record(NULL::card, replay -> 'row');
                RETURN;
            ELSIF replay IS NOT NULL THEN  -- stored before the card was kept with its result
                RETURN QUERY SELECT * FROM card WHERE number = (replay ->> 'id')::bigint;""",
        ),
        (
            "            PERFORM idempotency_store(p_scope, p_key, held.number);",
            """            UPDATE idempotency_record SET result = jsonb_build_object('id', held.number,
                                                                      'row', to_jsonb(held) - 'pin_hash')
            WHERE p_key IS NOT NULL AND scope = p_scope AND key = p_key;""",
        ),
    ),
}


def upgrade() -> None:
    op.create_table(
        "identity_change",
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], name=op.f("fk_identity_change_customer_id_customer")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_identity_change_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_change")),
    )
    op.create_index(op.f("ix_identity_change_customer_id"), "identity_change", ["customer_id"], unique=False)
    op.create_index(op.f("ix_identity_change_staff_id"), "identity_change", ["staff_id"], unique=False)
    op.create_index("ix_ledger_transaction_member_effective", "ledger_transaction", ["member_id", "effective_on", "id"])
    op.drop_index(op.f("ix_ledger_transaction_member_id"), table_name="ledger_transaction")
    op.alter_column("ledger_transaction", "reason", type_=sa.String(600), existing_nullable=True)
    for old in RESIGNED:
        op.execute(f"DROP FUNCTION {old}")
    for definition in NEW.values():
        op.execute(definition)


def downgrade() -> None:
    for definition in REPLACED.values():
        op.execute(_changed(definition, ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")))
    for new, definition in RESIGNED.values():
        op.execute(f"DROP FUNCTION {new}")
        op.execute(definition)
    op.execute(f"DROP FUNCTION {MEMBER_STATE}")
    op.alter_column("ledger_transaction", "reason", type_=sa.String(500), existing_nullable=True)
    op.create_index(op.f("ix_ledger_transaction_member_id"), "ledger_transaction", ["member_id"], unique=False)
    op.drop_index("ix_ledger_transaction_member_effective", table_name="ledger_transaction")
    op.drop_index(op.f("ix_identity_change_staff_id"), table_name="identity_change")
    op.drop_index(op.f("ix_identity_change_customer_id"), table_name="identity_change")
    op.drop_table("identity_change")
