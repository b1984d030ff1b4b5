"""a member's own card moved in one statement

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

A member reporting their own card lost (or unfreezing it) proves nothing more than their login,
so the whole request is one call of `move_own_card`, which is its own transaction: the
idempotency key's claim, the card's lock and ownership check, the state change, the card's
event and the stored result. The refusal code for each state the card may be found in comes
from the caller, so the rule that names it is written once, in the domain. Staff acting for
a caller check an identity proof first (a PIN or password hash, verified by the service), so
their requests stay one transaction of several statements.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

FUNCTIONS = {
    "move_own_card(text, text, bytea, bigint, bigint, text, text, text, text, jsonb, timestamptz)": """
        CREATE FUNCTION move_own_card(
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
        END $$""",
}


def upgrade() -> None:
    for definition in FUNCTIONS.values():
        op.execute(definition)


def downgrade() -> None:
    for signature in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION {signature}")
