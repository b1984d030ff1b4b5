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

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

OLD_ADJUST = "adjust_points(text, text, bytea, bigint, text, text, text, bigint, text, bigint, date)"
NEW_ADJUST = "adjust_points(text, text, bytea, bigint, text, text, text, bigint, text, bigint, date, jsonb)"
OLD_REVERSE = "reverse_points_transaction(text, text, bytea, bigint, text, text, bigint, date)"
NEW_REVERSE = "reverse_points_transaction(text, text, bytea, bigint, text, text, bigint, date, jsonb)"
MEMBER_STATE = "member_state_reason(bigint, jsonb, text)"
MEMBER_STATE_FUNCTION = """
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
        END $$"""
ADJUST_BODY = """
        DECLARE
            replay jsonb := idempotency_claim(p_scope, p_key, p_digest);
            entry ledger_transaction;
        BEGIN
            IF replay IS NOT NULL THEN
                RETURN QUERY SELECT * FROM ledger_transaction WHERE id = (replay ->> 'id')::bigint;
                RETURN;
            END IF;
            PERFORM member_in_scope(p_member_id, p_branch_path, 'member_id');
            p_reason := member_state_reason(p_member_id, p_states, p_reason);
            entry := points_move(p_member_id, p_entry_type, p_account, p_points, p_today, p_reason, p_staff_id);
            PERFORM idempotency_store(p_scope, p_key, entry.id);
            RETURN NEXT entry;
        END $$"""
OLD_ADJUST_BODY = """
        DECLARE
            replay jsonb := idempotency_claim(p_scope, p_key, p_digest);
            entry ledger_transaction;
        BEGIN
            IF replay IS NOT NULL THEN
                RETURN QUERY SELECT * FROM ledger_transaction WHERE id = (replay ->> 'id')::bigint;
                RETURN;
            END IF;
            PERFORM member_in_scope(p_member_id, p_branch_path, 'member_id');
            entry := points_move(p_member_id, p_entry_type, p_account, p_points, p_today, p_reason, p_staff_id);
            PERFORM idempotency_store(p_scope, p_key, entry.id);
            RETURN NEXT entry;
        END $$"""
REVERSE = """
        -- The reversePointsTransaction request, once per idempotency key: the reversal it made (or made before).
        CREATE FUNCTION reverse_points_transaction(
            p_scope text, p_key text, p_digest bytea, p_transaction_id bigint, p_branch_path text,
            p_reason text, p_staff_id bigint, p_today date, p_states jsonb
        ) RETURNS SETOF ledger_transaction
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            replay jsonb := idempotency_claim(p_scope, p_key, p_digest);
            owner bigint := (SELECT member_id FROM ledger_transaction WHERE id = p_transaction_id);
            entry ledger_transaction;
        BEGIN
            IF replay IS NOT NULL THEN
                RETURN QUERY SELECT * FROM ledger_transaction WHERE id = (replay ->> 'id')::bigint;
                RETURN;
            END IF;
            IF owner IS NULL THEN
                PERFORM refuse('NOT_FOUND', 'No such ledger transaction in your scope.', 'transaction_id');
            END IF;
            IF NOT coalesce((SELECT pg_catalog.starts_with(b.path::text, p_branch_path)
                             FROM member m JOIN branch b ON b.id = m.branch_id WHERE m.id = owner), false) THEN
                -- another branch's entry reads exactly as a missing one
                PERFORM refuse('NOT_FOUND', 'No such ledger transaction in your scope.', 'transaction_id');
            END IF;
            PERFORM member_in_scope(owner, p_branch_path, 'transaction_id');  -- and locks the member
            p_reason := member_state_reason(owner, p_states, p_reason);
            entry := points_reverse(p_transaction_id, p_reason, p_staff_id, p_today);
            PERFORM idempotency_store(p_scope, p_key, entry.id);
            RETURN NEXT entry;
        END $$"""
OLD_REVERSE_FUNCTION = """
        -- The reversePointsTransaction request, once per idempotency key: the reversal it made (or made before).
        CREATE FUNCTION reverse_points_transaction(
            p_scope text, p_key text, p_digest bytea, p_transaction_id bigint, p_branch_path text,
            p_reason text, p_staff_id bigint, p_today date
        ) RETURNS SETOF ledger_transaction
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            replay jsonb := idempotency_claim(p_scope, p_key, p_digest);
            owner bigint := (SELECT member_id FROM ledger_transaction WHERE id = p_transaction_id);
            entry ledger_transaction;
        BEGIN
            IF replay IS NOT NULL THEN
                RETURN QUERY SELECT * FROM ledger_transaction WHERE id = (replay ->> 'id')::bigint;
                RETURN;
            END IF;
            IF owner IS NULL THEN
                PERFORM refuse('NOT_FOUND', 'No such ledger transaction in your scope.', 'transaction_id');
            END IF;
            PERFORM member_in_scope(owner, p_branch_path, 'transaction_id');
            entry := points_reverse(p_transaction_id, p_reason, p_staff_id, p_today);
            PERFORM idempotency_store(p_scope, p_key, entry.id);
            RETURN NEXT entry;
        END $$"""
CLAIM = """
        -- NULL when the key is new (now claimed, in the caller's transaction) or not given; the stored
        -- result when the same request ran already. A concurrent request with the same key waits on the
        -- claim, then sees the result; a different request under the key is refused.
        CREATE OR REPLACE FUNCTION idempotency_claim(p_scope text, p_key text, p_digest bytea) RETURNS jsonb
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            stored record;
        BEGIN
            PERFORM set_config('loyalty.replayed', 'false', true);
            IF p_key IS NULL THEN
                RETURN NULL;
            END IF;
            LOOP  -- a claim rolled back between the two statements is claimed again
                INSERT INTO idempotency_record (scope, key, request_sha256, result)
                VALUES (p_scope, p_key, p_digest, '{}') ON CONFLICT DO NOTHING;
                IF FOUND THEN
                    RETURN NULL;
                END IF;
                SELECT request_sha256, result INTO stored FROM idempotency_record
                WHERE scope = p_scope AND key = p_key;
                IF FOUND THEN
                    IF stored.request_sha256 <> p_digest THEN
                        PERFORM refuse('IDEMPOTENCY_CONFLICT', 'This idempotency key was used for another request.',
                                       'idempotency_key');
                    END IF;
                    PERFORM set_config('loyalty.replayed', 'true', true);
                    RETURN stored.result;
                END IF;
            END LOOP;
        END $$"""
OLD_CLAIM = """
        -- NULL when the key is new (now claimed, in the caller's transaction) or not given; the stored
        -- result when the same request ran already. A concurrent request with the same key waits on the
        -- claim, then sees the result; a different request under the key is refused.
        CREATE OR REPLACE FUNCTION idempotency_claim(p_scope text, p_key text, p_digest bytea) RETURNS jsonb
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            stored record;
        BEGIN
            IF p_key IS NULL THEN
                RETURN NULL;
            END IF;
            LOOP  -- a claim rolled back between the two statements is claimed again
                INSERT INTO idempotency_record (scope, key, request_sha256, result)
                VALUES (p_scope, p_key, p_digest, '{}') ON CONFLICT DO NOTHING;
                IF FOUND THEN
                    RETURN NULL;
                END IF;
                SELECT request_sha256, result INTO stored FROM idempotency_record
                WHERE scope = p_scope AND key = p_key;
                IF FOUND THEN
                    IF stored.request_sha256 <> p_digest THEN
                        PERFORM refuse('IDEMPOTENCY_CONFLICT', 'This idempotency key was used for another request.',
                                       'idempotency_key');
                    END IF;
                    RETURN stored.result;
                END IF;
            END LOOP;
        END $$"""
MOVE_OWN_CARD = """
        CREATE OR REPLACE FUNCTION move_own_card(
            p_scope text, p_key text, p_digest bytea, p_card_number bigint, p_member_id bigint,
            p_state text, p_to text, p_action text, p_channel text, p_refusals jsonb, p_now timestamptz
        ) RETURNS SETOF card
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            replay jsonb := idempotency_claim(p_scope, p_key, p_digest);
            held card;
        BEGIN
            IF replay ? 'row' THEN  -- the card as it was after the first request, not as it is now
                RETURN QUERY SELECT * FROM jsonb_populate_record(NULL::card, replay -> 'row');
                RETURN;
            ELSIF replay IS NOT NULL THEN  -- stored before the card was kept with its result
                RETURN QUERY SELECT * FROM card WHERE number = (replay ->> 'id')::bigint;
                RETURN;
            END IF;
            SELECT * INTO held FROM card WHERE number = p_card_number FOR UPDATE;
            IF NOT FOUND OR held.member_id IS DISTINCT FROM p_member_id THEN
                PERFORM refuse('NOT_FOUND', 'No such card in your scope.', 'card_number');
            END IF;
            IF held.state <> p_state THEN
                PERFORM refuse(coalesce(p_refusals ->> held.state, 'INVALID'),
                               format('The card is %s; it must be %s.', held.state, p_state), 'card_number');
            END IF;
            UPDATE card SET state = p_to, updated_at = p_now WHERE number = p_card_number RETURNING * INTO held;
            INSERT INTO card_event (card_number, card_type, action, state_before, state_after, branch_id, member_id,
                                    channel)
            VALUES (held.number, held.card_type, p_action, p_state, p_to, held.branch_id, held.member_id,
                    p_channel);
            UPDATE idempotency_record SET result = jsonb_build_object('id', held.number,
                                                                      'row', to_jsonb(held) - 'pin_hash')
            WHERE p_key IS NOT NULL AND scope = p_scope AND key = p_key;
            RETURN NEXT held;
        END $$"""
OLD_MOVE_OWN_CARD = """
        CREATE OR REPLACE FUNCTION move_own_card(
            p_scope text, p_key text, p_digest bytea, p_card_number bigint, p_member_id bigint,
            p_state text, p_to text, p_action text, p_channel text, p_refusals jsonb, p_now timestamptz
        ) RETURNS SETOF card
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            replay jsonb := idempotency_claim(p_scope, p_key, p_digest);
            held card;
        BEGIN
            IF replay IS NOT NULL THEN
                RETURN QUERY SELECT * FROM card WHERE number = (replay ->> 'id')::bigint;
                RETURN;
            END IF;
            SELECT * INTO held FROM card WHERE number = p_card_number FOR UPDATE;
            IF NOT FOUND OR held.member_id IS DISTINCT FROM p_member_id THEN
                PERFORM refuse('NOT_FOUND', 'No such card in your scope.', 'card_number');
            END IF;
            IF held.state <> p_state THEN
                PERFORM refuse(coalesce(p_refusals ->> held.state, 'INVALID'),
                               format('The card is %s; it must be %s.', held.state, p_state), 'card_number');
            END IF;
            UPDATE card SET state = p_to, updated_at = p_now WHERE number = p_card_number RETURNING * INTO held;
            INSERT INTO card_event (card_number, card_type, action, state_before, state_after, branch_id, member_id,
                                    channel)
            VALUES (held.number, held.card_type, p_action, p_state, p_to, held.branch_id, held.member_id,
                    p_channel);
            PERFORM idempotency_store(p_scope, p_key, held.number);
            RETURN NEXT held;
        END $$"""
HEAD = """
        CREATE FUNCTION adjust_points(
            p_scope text, p_key text, p_digest bytea, p_member_id bigint, p_branch_path text,
            p_entry_type text, p_account text, p_points bigint, p_reason text, p_staff_id bigint, p_today date{more}
        ) RETURNS SETOF ledger_transaction
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$"""


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
    op.execute(f"DROP FUNCTION {OLD_ADJUST}")
    op.execute(MEMBER_STATE_FUNCTION)
    op.execute(HEAD.format(more=", p_states jsonb") + ADJUST_BODY)
    op.execute(f"DROP FUNCTION {OLD_REVERSE}")
    op.execute(REVERSE)
    op.execute(CLAIM)
    op.execute(MOVE_OWN_CARD)


def downgrade() -> None:
    op.execute(OLD_MOVE_OWN_CARD)
    op.execute(OLD_CLAIM)
    op.execute(f"DROP FUNCTION {NEW_REVERSE}")
    op.execute(OLD_REVERSE_FUNCTION)
    op.execute(f"DROP FUNCTION {NEW_ADJUST}")
    op.execute(HEAD.format(more="") + OLD_ADJUST_BODY)
    op.execute(f"DROP FUNCTION {MEMBER_STATE}")
    op.alter_column("ledger_transaction", "reason", type_=sa.String(500), existing_nullable=True)
    op.create_index(op.f("ix_ledger_transaction_member_id"), "ledger_transaction", ["member_id"], unique=False)
    op.drop_index("ix_ledger_transaction_member_effective", table_name="ledger_transaction")
    op.drop_index(op.f("ix_identity_change_staff_id"), table_name="identity_change")
    op.drop_index(op.f("ix_identity_change_customer_id"), table_name="identity_change")
    op.drop_table("identity_change")
