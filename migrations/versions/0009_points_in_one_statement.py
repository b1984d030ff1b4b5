"""points moved in one statement

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

A points-moving request is one round trip to the database: one call of a function below,
which is its own transaction. The function claims the idempotency key (or answers the
stored result of a replay), checks the caller's scope, locks and checks the balance, fills
or draws the lots, writes the journal entry and the balance, and stores the result; a
refusal raises SQLSTATE `LR001` with the error code as its message, the client's message as
its detail and the field at fault as its hint, and undoes everything the call did.

The building blocks (`idempotency_claim`, `idempotency_store`, `member_in_scope`,
`points_move`, `points_reverse`) are what the redemption and partner-hold paths compose
next. The validity rule in force is read inside the statement (`points_expiry_date`), so no
process keeps a copy that a rule change could leave stale.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

REFUSAL = "LR001"  # the SQLSTATE of a business refusal; the edge maps it to the error code in its message

FUNCTIONS = {
    "refuse(text, text, text)": f"""
        CREATE FUNCTION refuse(p_code text, p_message text, p_field text) RETURNS void
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        BEGIN
            RAISE EXCEPTION USING ERRCODE = '{REFUSAL}', MESSAGE = coalesce(p_code, 'INVALID'),
                DETAIL = coalesce(p_message, ''), HINT = coalesce(p_field, '');
        END $$""",
    "idempotency_claim(text, text, bytea)": """
        -- NULL when the key is new (now claimed, in the caller's transaction) or not given; the stored
        -- result when the same request ran already. A concurrent request with the same key waits on the
        -- claim, then sees the result; a different request under the key is refused.
        CREATE FUNCTION idempotency_claim(p_scope text, p_key text, p_digest bytea) RETURNS jsonb
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
        END $$""",
    "idempotency_store(text, text, bigint)": """
        CREATE FUNCTION idempotency_store(p_scope text, p_key text, p_id bigint) RETURNS void
        LANGUAGE sql SET search_path = pg_catalog, public AS $$
            UPDATE idempotency_record SET result = jsonb_build_object('id', p_id)
            WHERE p_key IS NOT NULL AND scope = p_scope AND key = p_key
        $$""",
    "member_in_scope(bigint, text, text)": """
        -- The member, locked FOR NO KEY UPDATE on its own (a join would be re-checked against the old
        -- branch row after a wait), when its branch lies in the subtree at `p_branch_path`.
        CREATE FUNCTION member_in_scope(p_member_id bigint, p_branch_path text, p_field text) RETURNS void
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            found_branch bigint;
        BEGIN
            SELECT branch_id INTO found_branch FROM member WHERE id = p_member_id FOR NO KEY UPDATE;
            IF NOT coalesce((SELECT pg_catalog.starts_with(path::text, p_branch_path)
                             FROM branch WHERE id = found_branch), false) THEN
                PERFORM refuse('NOT_FOUND', 'No such member in your scope.', p_field);
            END IF;
        END $$""",
    "points_expiry_date(date)": """
        -- The last day points earned on `p_earned_on` may be used, under the validity rule in force then.
        CREATE FUNCTION points_expiry_date(p_earned_on date) RETURNS date
        LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
            SELECT coalesce((
                SELECT CASE kind
                    WHEN 'EXPIRY_YEAR_END_AFTER_YEARS'
                        THEN make_date(extract(year FROM p_earned_on)::int + value::int, 12, 31)
                    ELSE (p_earned_on + make_interval(months => value::int))::date - 1
                END
                FROM points_rule
                WHERE kind IN ('EXPIRY_YEAR_END_AFTER_YEARS', 'EXPIRY_AFTER_MONTHS')
                  AND effective_from <= p_earned_on AND coalesce(effective_to, DATE '9999-12-31') >= p_earned_on
                ORDER BY id LIMIT 1
            ), DATE '9999-12-31')
        $$""",
    "points_move(bigint, text, text, bigint, date, text, bigint, date, date)": """
        -- Move `p_points` (signed, the member's side) between the member and the system account
        -- `p_account`, under the balance row's lock: a credit fills a new lot, a debit draws on the
        -- soonest-expiring lots (only those that expired before `p_expired_before`, when given).
        CREATE FUNCTION points_move(
            p_member_id bigint, p_entry_type text, p_account text, p_points bigint, p_effective_on date,
            p_reason text, p_staff_id bigint, p_expires_on date DEFAULT NULL, p_expired_before date DEFAULT NULL
        ) RETURNS ledger_transaction
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            available bigint;
            filled bigint;
            entry ledger_transaction;
            needed bigint := -p_points;
            lot record;
            taken bigint;
        BEGIN
            INSERT INTO points_balance (member_id) VALUES (p_member_id) ON CONFLICT DO NOTHING;
            SELECT posted - held INTO available FROM points_balance WHERE member_id = p_member_id FOR UPDATE;
            IF p_points < 0 AND available < -p_points THEN
                PERFORM refuse('INSUFFICIENT_POINTS',
                               format('The member has %s points available; %s are needed.', available, -p_points),
                               'points');
            END IF;
            IF p_points > 0 THEN
                INSERT INTO points_lot (member_id, amount, remaining, earned_on, expires_on)
                VALUES (p_member_id, p_points, p_points, p_effective_on,
                        coalesce(p_expires_on, points_expiry_date(p_effective_on)))
                RETURNING id INTO filled;
            END IF;
            INSERT INTO ledger_transaction (member_id, entry_type, account, points, effective_on, reason, staff_id,
                                            lot_id)
            VALUES (p_member_id, p_entry_type, p_account, p_points, p_effective_on, p_reason, p_staff_id, filled)
            RETURNING * INTO entry;
            IF p_points < 0 THEN
                FOR lot IN
                    SELECT id, remaining FROM points_lot
                    WHERE member_id = p_member_id AND remaining > 0
                      AND (p_expired_before IS NULL OR expires_on < p_expired_before)
                    ORDER BY expires_on, id FOR UPDATE
                LOOP
                    EXIT WHEN needed = 0;
                    taken := least(lot.remaining, needed);
                    UPDATE points_lot SET remaining = remaining - taken WHERE id = lot.id;
                    INSERT INTO lot_movement (lot_id, transaction_id, amount) VALUES (lot.id, entry.id, -taken);
                    needed := needed - taken;
                END LOOP;
                IF needed <> 0 THEN
                    RAISE EXCEPTION 'member %: lot remainders do not add up to the posted balance', p_member_id
                        USING ERRCODE = 'data_corrupted';
                END IF;
            END IF;
            UPDATE points_balance SET posted = posted + p_points, updated_at = now() WHERE member_id = p_member_id;
            RETURN entry;
        END $$""",
    "points_expire(bigint, date, text)": """
        -- Move what remains of the member's lots that expired before `p_as_of` to `p_account`; NULL when none.
        CREATE FUNCTION points_expire(p_member_id bigint, p_as_of date, p_account text) RETURNS ledger_transaction
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            expired bigint;
        BEGIN
            INSERT INTO points_balance (member_id) VALUES (p_member_id) ON CONFLICT DO NOTHING;
            PERFORM 1 FROM points_balance WHERE member_id = p_member_id FOR UPDATE;
            SELECT sum(remaining) INTO expired FROM points_lot
            WHERE member_id = p_member_id AND remaining > 0 AND expires_on < p_as_of;
            IF expired IS NULL THEN
                RETURN NULL;
            END IF;
            RETURN points_move(p_member_id, 'EXPIRY', p_account, -expired, p_as_of,
                               'Expired before ' || to_char(p_as_of, 'YYYY-MM-DD'), NULL, NULL, p_as_of);
        END $$""",
    "points_reverse(bigint, text, bigint, date)": """
        -- Undo a transaction with a new one that references it; the lots it filled or drew on are restored.
        CREATE FUNCTION points_reverse(p_transaction_id bigint, p_reason text, p_staff_id bigint, p_today date)
        RETURNS ledger_transaction
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            original ledger_transaction;
            entry ledger_transaction;
            left_in_lot bigint;
        BEGIN
            SELECT * INTO original FROM ledger_transaction WHERE id = p_transaction_id;
            IF NOT FOUND THEN
                PERFORM refuse('NOT_FOUND', 'No such ledger transaction.', 'transaction_id');
            END IF;
            IF original.reverses_id IS NOT NULL THEN
                PERFORM refuse('REVERSAL_NOT_REVERSIBLE', 'A reversal cannot be reversed; record a new entry.',
                               'transaction_id');
            END IF;
            INSERT INTO points_balance (member_id) VALUES (original.member_id) ON CONFLICT DO NOTHING;
            PERFORM 1 FROM points_balance WHERE member_id = original.member_id FOR UPDATE;
            IF EXISTS (SELECT FROM ledger_transaction WHERE reverses_id = original.id) THEN
                PERFORM refuse('TRANSACTION_ALREADY_REVERSED', 'This transaction is reversed already.',
                               'transaction_id');
            END IF;
            IF original.lot_id IS NOT NULL THEN  -- a credit: take its points back out of the lot it filled
                SELECT remaining INTO left_in_lot FROM points_lot WHERE id = original.lot_id FOR UPDATE;
                IF NOT FOUND THEN
                    RAISE EXCEPTION 'transaction %: the lot it filled is missing', original.id
                        USING ERRCODE = 'data_corrupted';
                END IF;
                IF left_in_lot < original.points THEN
                    PERFORM refuse('POINTS_SPENT_OR_EXPIRED', 'Some of these points are spent or expired already.',
                                   'transaction_id');
                END IF;
            ELSE  -- a debit: lock the lots it drew on, to put back what it took
                PERFORM 1 FROM points_lot l JOIN lot_movement m ON m.lot_id = l.id
                WHERE m.transaction_id = original.id ORDER BY l.id FOR UPDATE OF l;
            END IF;
            INSERT INTO ledger_transaction (member_id, entry_type, account, points, effective_on, reason, staff_id,
                                            reverses_id)
            VALUES (original.member_id, 'REVERSAL', original.account, -original.points, p_today, p_reason, p_staff_id,
                    original.id)
            RETURNING * INTO entry;
            INSERT INTO lot_movement (lot_id, transaction_id, amount)
            SELECT original.lot_id, entry.id, -original.points WHERE original.lot_id IS NOT NULL
            UNION ALL
            SELECT lot_id, entry.id, -amount FROM lot_movement WHERE transaction_id = original.id;
            UPDATE points_lot l SET remaining = l.remaining + m.amount
            FROM (SELECT lot_id, sum(amount) AS amount FROM lot_movement WHERE transaction_id = entry.id
                  GROUP BY lot_id) m
            WHERE m.lot_id = l.id;
            UPDATE points_balance SET posted = posted - original.points, updated_at = now()
            WHERE member_id = original.member_id;
            RETURN entry;
        END $$""",
    "adjust_points(text, text, bytea, bigint, text, text, text, bigint, text, bigint, date)": """
        -- The adjustPoints request [P4], once per idempotency key: the entry it made (or made before).
        CREATE FUNCTION adjust_points(
            p_scope text, p_key text, p_digest bytea, p_member_id bigint, p_branch_path text,
            p_entry_type text, p_account text, p_points bigint, p_reason text, p_staff_id bigint, p_today date
        ) RETURNS SETOF ledger_transaction
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
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
        END $$""",
    "reverse_points_transaction(text, text, bytea, bigint, text, text, bigint, date)": """
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
        END $$""",
}


def upgrade() -> None:
    for definition in FUNCTIONS.values():
        op.execute(definition)


def downgrade() -> None:
    for signature in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION {signature}")
