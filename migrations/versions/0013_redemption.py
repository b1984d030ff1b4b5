"""redemption: the reward catalogue, consumption rules, outlets, gift stock, redemptions in one statement,
cancellation, fulfilment and pick-up, pre-booked automatic redemption

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

A redemption is one call of `redeem_points` (its own transaction, as `adjust_points`): the key's claim,
the member's scope, the balance's lock, every check of `redemption_check` (all problems refused together,
`refuse_all`), the points drawn from the soonest-expiring lots (`points_move`), the lines, the gifts' stock,
the pick-ups and the billing system's outbox. `quote_redemption` runs the same checks and writes nothing;
`cancel_redemption` gives points back to exactly the lots they came from (`redemption_give_back`).
The ledger gains CANCELLATION entries (credits that restore lots instead of filling one), and a ledger
entry of a redemption is no longer reversed by hand: its redemption is cancelled instead.
"""

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

REFUSAL = "LR001"
ENTRY_TYPES = (
    "CONSUMPTION", "BONUS_TENURE", "BONUS_ON_TIME", "BONUS_PROMOTION", "BONUS_ACTIVITY", "PENALTY",
    "PARTNER_EXCHANGE_IN", "SURVEY", "REFERRAL", "ADJUSTMENT", "REDEMPTION", "EXPIRY", "REVERSAL",
)  # fmt: skip


def _earlier(file_name: str, name: str) -> dict[str, str]:
    """The function definitions an earlier revision made (what this one changes, and a downgrade restores)."""
    path = Path(__file__).with_name(file_name)
    spec = importlib.util.spec_from_file_location(f"revision_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


REVERSE = "reverse_points_transaction(text, text, bytea, bigint, text, text, bigint, date, jsonb)"
OLD_REVERSE = _earlier("0011_time_and_state.py", "NEW")[REVERSE].replace(
    "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"
)
SCOPED = "PERFORM member_in_scope(owner, p_branch_path, 'transaction_id');  -- and locks the member\n"
assert SCOPED in OLD_REVERSE
NEW_REVERSE = OLD_REVERSE.replace(
    SCOPED,
    SCOPED
    + """            IF EXISTS (SELECT 1 FROM redemption WHERE transaction_id = p_transaction_id)
               OR EXISTS (SELECT 1 FROM redemption_cancellation
                          WHERE p_transaction_id IN (transaction_id, expiry_transaction_id)) THEN
                PERFORM refuse('ENTRY_OF_A_REDEMPTION', 'This entry belongs to a redemption: cancel the redemption.',
                               'transaction_id');
            END IF;
""",
)


LOT_MOVEMENT_KEYS = {
    "fk_lot_movement_lot_id_points_lot": ("lot_id", "points_lot"),
    "fk_lot_movement_transaction_id_ledger_transaction": ("transaction_id", "ledger_transaction"),
}


def _entry_types(values: tuple[str, ...]) -> None:
    listed = ", ".join(f"'{v}'" for v in values)
    op.execute("ALTER TABLE ledger_transaction DROP CONSTRAINT ck_ledger_transaction_entry_type")
    op.execute(
        "ALTER TABLE ledger_transaction ADD CONSTRAINT ck_ledger_transaction_entry_type"
        f" CHECK (entry_type IN ({listed}))"
    )


FUNCTIONS = {
    "problem(text, text, text)": """
        -- One business refusal, as the edge answers it: [{code, message, field}].
        CREATE FUNCTION problem(p_code text, p_message text, p_field text) RETURNS jsonb
        LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, public AS $$
            SELECT jsonb_build_array(jsonb_build_object('code', p_code, 'message', p_message, 'field', p_field))
        $$""",
    "refuse_all(jsonb)": f"""
        -- Refuse with every problem found (an array of `problem`s): SQLSTATE {REFUSAL}, the array in DETAIL.
        CREATE FUNCTION refuse_all(p_problems jsonb) RETURNS void
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        BEGIN
            RAISE EXCEPTION USING ERRCODE = '{REFUSAL}', MESSAGE = 'PROBLEMS', DETAIL = p_problems::text, HINT = '';
        END $$""",
    "branch_province(bigint)": """
        -- The province a branch lies in (itself, or a city's parent); NULL for headquarters [O1].
        CREATE FUNCTION branch_province(p_branch_id bigint) RETURNS bigint
        LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
            SELECT CASE WHEN level = 'HQ' THEN NULL ELSE split_part(path, '/', 3)::bigint END
            FROM branch WHERE id = p_branch_id
        $$""",
    "reward_line_problems(reward_item, integer, text, text, bigint, bigint, bigint, bigint, date, boolean)": """
        -- What stops `p_quantity` of `p_item` for this member today: the item's state, window, scope and grades,
        -- the consumption rules in force, the member's limits, the stock of a gift at `p_where_branch`
        -- (locked when `p_lock`). Each problem names its field (`p_field` is the line's, e.g. items.0).
        CREATE FUNCTION reward_line_problems(
            p_item reward_item, p_quantity integer, p_field text, p_grade_code text, p_member_id bigint,
            p_home_province bigint, p_available bigint, p_where_branch bigint, p_today date, p_lock boolean
        ) RETURNS jsonb
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            troubles jsonb := '[]';
            minimum bigint;
            used_today bigint;
            used_month bigint;
            in_stock bigint;
            item_province bigint;
        BEGIN
            IF p_item.status <> 'ACTIVE' THEN
                troubles := troubles || problem('ITEM_NOT_ACTIVE', format('%s is %s.', p_item.name, p_item.status),
                                          p_field || '.item_id');
            ELSIF p_today < p_item.available_from OR p_today > coalesce(p_item.available_to, DATE '9999-12-31') THEN
                troubles := troubles || problem('ITEM_NOT_AVAILABLE', format('%s is offered from %s to %s.',
                    p_item.name,
                                          p_item.available_from, coalesce(p_item.available_to::text, 'further notice')),
                                          p_field || '.item_id');
            END IF;
            IF p_item.kind = 'PARTNER_COUPON' THEN
                troubles := troubles || problem('ITEM_KIND_NOT_OFFERED', 'Partner coupons come with the partners.',
                                          p_field || '.item_id');
            END IF;
            item_province := branch_province(p_item.branch_id);
            IF item_province IS NOT NULL AND item_province IS DISTINCT FROM p_home_province THEN
                troubles := troubles || problem('ITEM_NOT_IN_SCOPE', format('%s is offered in another province only.',
                                          p_item.name), p_field || '.item_id');
            END IF;
            IF NOT p_item.grade_codes ? p_grade_code THEN
                troubles := troubles || problem('GRADE_NOT_ALLOWED', format('%s is not for %s members.', p_item.name,
                                          p_grade_code), p_field || '.item_id');
            ELSE
                SELECT min(coalesce(minimum_available_points, 0)) INTO minimum FROM consumption_rule
                WHERE effective_from <= p_today AND coalesce(effective_to, DATE '9999-12-31') >= p_today
                  AND (grade_code IS NULL OR grade_code = p_grade_code)
                  AND (item_id = p_item.id OR item_kind = p_item.kind OR (item_id IS NULL AND item_kind IS NULL));
                IF minimum IS NULL THEN
                    troubles := troubles || problem('GRADE_NOT_ALLOWED', format('No consumption rule in force lets %s'
                                              ' members redeem %s.', p_grade_code, p_item.name), p_field || '.item_id');
                ELSIF p_available < minimum THEN
                    troubles := troubles || problem('BELOW_MINIMUM_BALANCE',
                        format('%s needs %s points available first.',
                                              p_item.name, minimum), p_field || '.item_id');
                END IF;
            END IF;
            IF p_item.daily_limit IS NOT NULL OR p_item.monthly_limit IS NOT NULL THEN
                SELECT coalesce(sum(quantity - cancelled_quantity) FILTER (WHERE redeemed_on = p_today), 0),
                       coalesce(sum(quantity - cancelled_quantity), 0)
                INTO used_today, used_month FROM redemption_line
                WHERE member_id = p_member_id AND item_id = p_item.id
                  AND redeemed_on BETWEEN date_trunc('month', p_today)::date AND p_today;
                IF used_today + p_quantity > p_item.daily_limit THEN
                    troubles := troubles || problem('DAILY_LIMIT_REACHED', format('%s a day at most; %s left today.',
                                              p_item.daily_limit, greatest(p_item.daily_limit - used_today, 0)),
                                              p_field || '.quantity');
                END IF;
                IF used_month + p_quantity > p_item.monthly_limit THEN
                    troubles := troubles || problem('MONTHLY_LIMIT_REACHED',
                        format('%s a month at most; %s left this month.',
                                              p_item.monthly_limit, greatest(p_item.monthly_limit - used_month, 0)),
                                              p_field || '.quantity');
                END IF;
            END IF;
            IF p_item.kind = 'GIFT' THEN
                IF p_lock THEN
                    SELECT quantity INTO in_stock FROM gift_stock
                    WHERE item_id = p_item.id AND branch_id = p_where_branch FOR UPDATE;
                ELSE
                    SELECT quantity INTO in_stock FROM gift_stock WHERE item_id = p_item.id AND branch_id =
                        p_where_branch;
                END IF;
                IF coalesce(in_stock, 0) < p_quantity THEN
                    troubles := troubles || problem('ITEM_OUT_OF_STOCK', format('%s left of %s here.',
                        coalesce(in_stock, 0),
                                              p_item.name), p_field || '.quantity');
                END IF;
            END IF;
            RETURN troubles;
        END $$""",
    "redemption_check(bigint, bigint, text, bigint, jsonb, date, jsonb, boolean)": """
        -- Every check of a redemption of `p_lines` ([{item_id, quantity, position}], by item) for the member, made
        -- at `p_outlet_id`, else at the staff member's branch, else at the member's own. Answers {problems, total,
        -- available, branch_id, home_branch_id, cross_branch, lines: [{item_id, kind, quantity, unit_points, points,
        -- benefit_amount, content_code}]}. `p_lock`: lock the gifts' stock (the caller holds the balance's lock).
        CREATE FUNCTION redemption_check(
            p_member_id bigint, p_staff_branch_id bigint, p_staff_branch_path text, p_outlet_id bigint,
            p_lines jsonb, p_today date, p_states jsonb, p_lock boolean
        ) RETURNS jsonb
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            m record;
            troubles jsonb := '[]';
            rule jsonb;
            where_branch bigint;
            place record;
            home_province bigint;
            cross_branch boolean;
            available bigint;
            asked record;
            item reward_item;
            lines jsonb := '[]';
            total bigint := 0;
        BEGIN
            SELECT mb.id, mb.branch_id, mb.grade_code, mb.status, mb.valid_until, mb.customer_id, g.national_roaming
            INTO m FROM member mb JOIN grade g ON g.code = mb.grade_code WHERE mb.id = p_member_id;

            IF NOT FOUND THEN
                PERFORM refuse('NOT_FOUND', 'No such member in your scope.', 'member_id');
            END IF;
            rule := p_states -> m.status::text;
            IF rule ? 'refuse' THEN
                troubles := troubles || problem(rule -> 'refuse' ->> 0, rule -> 'refuse' ->> 1, 'member_id');
            END IF;
            IF m.valid_until < p_today THEN
                troubles := troubles || problem('MEMBERSHIP_EXPIRED', format('The membership was valid until %s.',
                                          m.valid_until), 'member_id');
            END IF;
            where_branch := coalesce(p_staff_branch_id, m.branch_id);
            IF p_outlet_id IS NOT NULL THEN
                SELECT o.branch_id, o.status, b.path INTO place FROM outlet o JOIN branch b ON b.id = o.branch_id
                WHERE o.id = p_outlet_id;
                IF NOT FOUND OR NOT pg_catalog.starts_with(place.path::text, coalesce(p_staff_branch_path, '')) THEN
                    PERFORM refuse('NOT_FOUND', 'No such outlet in your scope.', 'outlet_id');
                END IF;
                IF place.status <> 'OPEN' THEN
                    troubles := troubles || problem('OUTLET_CLOSED', 'The outlet is closed.', 'outlet_id');
                END IF;
                where_branch := place.branch_id;
            END IF;
            home_province := branch_province(m.branch_id);
            cross_branch := coalesce(home_province <> branch_province(where_branch), false);
            IF cross_branch AND NOT m.national_roaming THEN
                troubles := troubles || problem('ROAMING_NOT_ALLOWED',
                    format('%s members redeem in their home province only.',
                                          m.grade_code), 'outlet_id');
            END IF;
            available := coalesce((SELECT posted - held FROM points_balance WHERE member_id = p_member_id), 0);
            FOR asked IN SELECT * FROM jsonb_to_recordset(p_lines) AS l(item_id bigint, quantity integer, position
                integer)
                         ORDER BY item_id  -- the gifts' stock is locked in item order, so redemptions never deadlock
            LOOP
                SELECT * INTO item FROM reward_item WHERE id = asked.item_id;
                IF NOT FOUND THEN
                    troubles := troubles || problem('NOT_FOUND', 'No such reward.', format('items.%s.item_id',
                        asked.position));
                    CONTINUE;
                END IF;
                troubles := troubles || reward_line_problems(item, asked.quantity, format('items.%s', asked.position),
                                                       m.grade_code, m.id, home_province, available, where_branch,
                                                       p_today, p_lock);
                total := total + item.points_price * asked.quantity;
                lines := lines || jsonb_build_object('item_id', item.id, 'kind', item.kind, 'quantity', asked.quantity,
                                                     'unit_points', item.points_price,
                                                     'points', item.points_price * asked.quantity,
                                                     'benefit_amount', item.benefit_amount,
                                                     'content_code', item.content_code);
                IF item.kind IN ('BILL_CREDIT', 'CALL_MINUTES') AND NOT EXISTS (
                    SELECT 1 FROM account WHERE customer_id = m.customer_id AND status = 'ACTIVE') THEN
                    troubles := troubles || problem('NO_BILLING_ACCOUNT', 'The member has no active billing account to'
                                              ' credit.', format('items.%s.item_id', asked.position));
                END IF;
            END LOOP;
            IF available < total THEN
                troubles := troubles || problem('INSUFFICIENT_POINTS',
                    format('The member has %s points available; %s are'
                                          ' needed.', available, total), 'items');
            END IF;
            RETURN jsonb_build_object('problems', troubles, 'total', total, 'available', available,
                                      'branch_id', where_branch, 'home_branch_id', m.branch_id,
                                      'cross_branch', cross_branch, 'customer_id', m.customer_id, 'lines', lines);
        END $$""",
}
FUNCTIONS |= {
    "redemption_make(bigint, bigint, text, bigint, bigint, bigint, jsonb, date)": """
        -- Carry out a checked redemption (`redemption_check`'s answer, no problems): the points leave the
        -- soonest-expiring lots in one REDEMPTION entry; the lines at their prices; each gift leaves the stock
        -- and waits for pick-up at the branch; bill credit, minutes and content go to the billing system's outbox.
        CREATE FUNCTION redemption_make(
            p_member_id bigint, p_staff_id bigint, p_channel text, p_outlet_id bigint, p_card_number bigint,
            p_booking_id bigint, p_checked jsonb, p_today date
        ) RETURNS redemption
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            made redemption;
            entry ledger_transaction;
            total bigint := (p_checked ->> 'total')::bigint;
            place bigint := (p_checked ->> 'branch_id')::bigint;
            billing_account bigint := (SELECT id FROM account WHERE customer_id = (p_checked ->> 'customer_id')::bigint
                                  AND status = 'ACTIVE' ORDER BY id LIMIT 1);
        BEGIN
            made.id := nextval(pg_get_serial_sequence('redemption', 'id'));
            entry := points_move(p_member_id, 'REDEMPTION', 'REDEMPTION', -total, p_today, 'Redemption ' || made.id,
                                 p_staff_id);
            INSERT INTO redemption (id, member_id, channel, outlet_id, branch_id, home_branch_id, cross_branch,
                staff_id,
                                    card_number, booking_id, points, status, transaction_id, redeemed_on)
            VALUES (made.id, p_member_id, p_channel, p_outlet_id, place, (p_checked ->> 'home_branch_id')::bigint,
                    (p_checked ->> 'cross_branch')::boolean, p_staff_id, p_card_number, p_booking_id, total,
                        'COMPLETED',
                    entry.id, p_today)
            RETURNING * INTO made;
            WITH given AS (
                SELECT * FROM jsonb_to_recordset(p_checked -> 'lines') AS l(item_id bigint, kind text, quantity integer,
                    unit_points bigint, points bigint, benefit_amount bigint, content_code text)
            ), lines AS (
                INSERT INTO redemption_line (redemption_id, member_id, item_id, kind, quantity, unit_points, points,
                                             redeemed_on)
                SELECT made.id, p_member_id, item_id, kind, quantity, unit_points, points, p_today FROM given
                RETURNING id, item_id, kind, quantity
            ), pickups AS (
                INSERT INTO gift_pickup (redemption_id, line_id, member_id, item_id, branch_id, quantity, state)
                SELECT made.id, id, p_member_id, item_id, place, quantity, 'READY' FROM lines WHERE kind = 'GIFT'
            ), taken AS (
                UPDATE gift_stock s SET quantity = s.quantity - g.quantity, updated_at = now()
                FROM given g WHERE g.kind = 'GIFT' AND s.item_id = g.item_id AND s.branch_id = place
                RETURNING s.item_id, s.quantity AS after, g.quantity
            ), moved AS (
                INSERT INTO gift_stock_movement (item_id, branch_id, kind, quantity, balance_after, staff_id,
                                                 redemption_id)
                SELECT item_id, place, 'REDEMPTION', -quantity, after, p_staff_id, made.id FROM taken
            )
            INSERT INTO fulfilment (redemption_id, line_id, member_id, item_id, kind, account_id, quantity, amount,
                                    content_code, state)
            SELECT made.id, l.id, p_member_id, l.item_id, l.kind, billing_account, l.quantity, g.benefit_amount *
                l.quantity,
                   g.content_code, 'PENDING'
            FROM lines l JOIN given g ON g.item_id = l.item_id
            WHERE l.kind IN ('BILL_CREDIT', 'CALL_MINUTES', 'CONTENT');
            RETURN made;
        END $$""",
    "redeem_points(text, text, bytea, bigint, bigint, bigint, text, boolean, text, bigint, bigint, jsonb, date,"
    " jsonb)": """
        -- The redeemPoints request [R2], once per idempotency key: the redemption it made (as it was then, on a
        -- replay). Staff serving a member at a counter or by hotline act inside their subtree (`p_scoped`); a card
        -- and PIN checked first prove the member at a POS or terminal anywhere. Every independent problem is
        -- refused together (`refuse_all`).
        CREATE FUNCTION redeem_points(
            p_scope text, p_key text, p_digest bytea, p_member_id bigint, p_staff_id bigint, p_staff_branch_id bigint,
            p_staff_branch_path text, p_scoped boolean, p_channel text, p_outlet_id bigint, p_card_number bigint,
            p_lines jsonb, p_today date, p_states jsonb
        ) RETURNS SETOF redemption
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            replay jsonb := idempotency_claim(p_scope, p_key, p_digest);
            checked jsonb;
            made redemption;
        BEGIN
            IF replay IS NOT NULL THEN
                RETURN QUERY SELECT * FROM jsonb_populate_record(NULL::redemption, replay -> 'row');
                RETURN;
            END IF;
            -- The member, then the balance, as every movement locks them: the state, grade and branch the checks
            -- read hold until the redemption is made, and the member's redemptions queue.
            IF p_scoped THEN
                PERFORM member_in_scope(p_member_id, p_staff_branch_path, 'member_id');
            ELSE
                PERFORM 1 FROM member WHERE id = p_member_id FOR SHARE;
            END IF;
            INSERT INTO points_balance (member_id) VALUES (p_member_id) ON CONFLICT DO NOTHING;
            PERFORM 1 FROM points_balance WHERE member_id = p_member_id FOR UPDATE;
            checked := redemption_check(p_member_id, p_staff_branch_id, p_staff_branch_path, p_outlet_id, p_lines,
                                        p_today, p_states, true);
            IF jsonb_array_length(checked -> 'problems') > 0 THEN
                PERFORM refuse_all(checked -> 'problems');
            END IF;
            made := redemption_make(p_member_id, p_staff_id, p_channel, p_outlet_id, p_card_number, NULL, checked,
                                    p_today);
            UPDATE idempotency_record SET result = jsonb_build_object('id', made.id, 'row', to_jsonb(made))
            WHERE p_key IS NOT NULL AND scope = p_scope AND key = p_key;
            RETURN NEXT made;
        END $$""",
    "quote_redemption(bigint, bigint, text, boolean, bigint, jsonb, date, jsonb)": """
        -- What `redeem_points` would do, and why it would refuse: the checks, the total, the balance after and the
        -- lots the points would leave (soonest-expiring first). Writes nothing and locks nothing.
        CREATE FUNCTION quote_redemption(
            p_member_id bigint, p_staff_branch_id bigint, p_staff_branch_path text, p_scoped boolean,
            p_outlet_id bigint, p_lines jsonb, p_today date, p_states jsonb
        ) RETURNS jsonb
        LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public AS $$
        DECLARE
            checked jsonb;
            total bigint;
        BEGIN
            IF p_scoped AND NOT coalesce((SELECT pg_catalog.starts_with(b.path::text, p_staff_branch_path)
                                          FROM member m JOIN branch b ON b.id = m.branch_id
                                          WHERE m.id = p_member_id), false) THEN
                PERFORM refuse('NOT_FOUND', 'No such member in your scope.', 'member_id');
            END IF;
            checked := redemption_check(p_member_id, p_staff_branch_id, p_staff_branch_path, p_outlet_id, p_lines,
                                        p_today, p_states, false);
            total := (checked ->> 'total')::bigint;
            RETURN checked || jsonb_build_object('lots', coalesce((
                SELECT jsonb_agg(jsonb_build_object('expires_on', expires_on, 'points', share) ORDER BY expires_on, id)
                FROM (SELECT id, expires_on,
                             least(remaining, greatest(total - (sum(remaining) OVER w - remaining), 0)) AS share
                      FROM points_lot WHERE member_id = p_member_id AND remaining > 0
                      WINDOW w AS (ORDER BY expires_on, id)) drawn
                WHERE share > 0), '[]'));
        END $$""",
}
FUNCTIONS |= {
    "redemption_give_back(redemption, bigint, date, bigint, text)": """
        -- Give `p_points` of the redemption back to exactly the lots it drew on, latest-expiring first, never more
        -- to a lot than it gave and has not had back: one CANCELLATION entry. The share of a lot that has expired
        -- meanwhile goes straight on to breakage (an EXPIRY entry). Answers [cancellation entry, expiry entry,
        -- expired points]. The caller holds the member's balance.
        CREATE FUNCTION redemption_give_back(
            p_redemption redemption, p_points bigint, p_today date, p_staff_id bigint, p_reason text
        ) RETURNS bigint[]
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            shares jsonb;
            back ledger_transaction;
            lapsed ledger_transaction;
            expired bigint;
        BEGIN
            SELECT coalesce(jsonb_agg(jsonb_build_object('lot_id', lot_id, 'expires_on', expires_on, 'share', share)),
                            '[]')
            INTO shares
            FROM (SELECT lot_id, expires_on, least(open, greatest(p_points - (sum(open) OVER w - open), 0)) AS share
                  FROM (SELECT d.lot_id, l.expires_on, d.gave - coalesce(b.got, 0) AS open
                        FROM (SELECT lot_id, -sum(amount) AS gave FROM lot_movement
                              WHERE transaction_id = p_redemption.transaction_id GROUP BY lot_id) d
                        JOIN points_lot l ON l.id = d.lot_id
                        LEFT JOIN (SELECT m.lot_id, sum(m.amount) AS got FROM lot_movement m
                                   JOIN redemption_cancellation c ON c.transaction_id = m.transaction_id
                                   WHERE c.redemption_id = p_redemption.id GROUP BY m.lot_id) b ON b.lot_id = d.lot_id
                       ) lots
                  WINDOW w AS (ORDER BY expires_on DESC, lot_id DESC)) drawn
            WHERE share > 0;
            IF (SELECT coalesce(sum((s ->> 'share')::bigint), 0) FROM jsonb_array_elements(shares) s) <> p_points THEN
                RAISE EXCEPTION 'redemption %: its lots cannot take back % points', p_redemption.id, p_points
                    USING ERRCODE = 'data_corrupted';
            END IF;
            PERFORM 1 FROM points_lot
            WHERE id IN (SELECT (s ->> 'lot_id')::bigint FROM jsonb_array_elements(shares) s) ORDER BY id FOR UPDATE;
            INSERT INTO ledger_transaction (member_id, entry_type, account, points, effective_on, reason, staff_id)
            VALUES (p_redemption.member_id, 'CANCELLATION', 'REDEMPTION', p_points, p_today, p_reason, p_staff_id)
            RETURNING * INTO back;
            INSERT INTO lot_movement (lot_id, transaction_id, amount)
            SELECT lot_id, back.id, share FROM jsonb_to_recordset(shares) AS s(lot_id bigint, share bigint);
            expired := (SELECT coalesce(sum(share), 0)
                        FROM jsonb_to_recordset(shares) AS s(expires_on date, share bigint) WHERE expires_on < p_today);
            IF expired > 0 THEN
                INSERT INTO ledger_transaction (member_id, entry_type, account, points, effective_on, reason)
                VALUES (p_redemption.member_id, 'EXPIRY', 'BREAKAGE', -expired, p_today,
                        format('Expired before redemption %s was cancelled', p_redemption.id))
                RETURNING * INTO lapsed;
                INSERT INTO lot_movement (lot_id, transaction_id, amount)
                SELECT lot_id, lapsed.id, -share
                FROM jsonb_to_recordset(shares) AS s(lot_id bigint, expires_on date, share bigint)
                WHERE expires_on < p_today;
            END IF;
            UPDATE points_lot l SET remaining = l.remaining + s.share
            FROM jsonb_to_recordset(shares) AS s(lot_id bigint, expires_on date, share bigint)
            WHERE s.lot_id = l.id AND s.expires_on >= p_today;
            UPDATE points_balance SET posted = posted + p_points - expired, updated_at = now()
            WHERE member_id = p_redemption.member_id;
            RETURN ARRAY[back.id, lapsed.id, expired];
        END $$""",
}
FUNCTIONS |= {
    "cancel_redemption(text, text, bytea, bigint, bigint, bigint, text, jsonb, text, date, integer)": """
        -- The cancelRedemption request, once per idempotency key: every item's remainder (`p_items` NULL) or the
        -- quantities of some items ([{item_id, quantity, position}]) go back: the points to the lots they came from,
        -- the gifts to the stock; fulfilments and pick-ups shrink. A member cancels their own redemption
        -- (`p_member_id`),
        -- staff one of a member of their subtree; within `p_window_days` of the day it was made.
        CREATE FUNCTION cancel_redemption(
            p_scope text, p_key text, p_digest bytea, p_redemption_id bigint, p_member_id bigint, p_staff_id bigint,
            p_staff_branch_path text, p_items jsonb, p_reason text, p_today date, p_window_days integer
        ) RETURNS SETOF redemption
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            replay jsonb := idempotency_claim(p_scope, p_key, p_digest);
            r redemption;
            troubles jsonb := '[]';
            line record;
            asked jsonb := '[]';
            returned bigint;
            given bigint[];
        BEGIN
            IF replay IS NOT NULL THEN
                RETURN QUERY SELECT * FROM jsonb_populate_record(NULL::redemption, replay -> 'row');
                RETURN;
            END IF;
            SELECT * INTO r FROM redemption WHERE id = p_redemption_id;
            IF NOT FOUND OR r.member_id IS DISTINCT FROM coalesce(p_member_id, r.member_id)
               OR p_member_id IS NULL AND NOT coalesce((SELECT pg_catalog.starts_with(b.path::text, p_staff_branch_path)
                                                         FROM member m JOIN branch b ON b.id = m.branch_id
                                                         WHERE m.id = r.member_id), false) THEN
                PERFORM refuse('NOT_FOUND', 'No such redemption in your scope.', 'redemption_id');
            END IF;
            INSERT INTO points_balance (member_id) VALUES (r.member_id) ON CONFLICT DO NOTHING;
            PERFORM 1 FROM points_balance WHERE member_id = r.member_id FOR UPDATE;  -- as every movement: balance first
            SELECT * INTO r FROM redemption WHERE id = p_redemption_id FOR UPDATE;
            IF r.status = 'CANCELLED' THEN
                PERFORM refuse('REDEMPTION_ALREADY_CANCELLED', 'This redemption is cancelled already.',
                    'redemption_id');
            END IF;
            IF r.redeemed_on + p_window_days < p_today THEN
                troubles := troubles || problem('CANCELLATION_WINDOW_CLOSED',
                    format('A redemption is cancelled within %s'
                                          ' days; this one was made on %s.', p_window_days, r.redeemed_on),
                                          'redemption_id');
            END IF;
            troubles := troubles || coalesce((SELECT jsonb_agg(problem('NOT_FOUND',
                'The redemption has no such reward.',
                                                                 format('items.%s.item_id', a.position)) -> 0)
                                        FROM jsonb_to_recordset(p_items) AS a(item_id bigint, position integer)
                                        WHERE NOT EXISTS (SELECT 1 FROM redemption_line l
                                                          WHERE l.redemption_id = r.id AND l.item_id = a.item_id)),
                                       '[]');
            FOR line IN
                SELECT l.id, l.item_id, l.kind, l.unit_points, l.quantity - l.cancelled_quantity AS open, a.position,
                       coalesce(a.quantity, CASE WHEN p_items IS NULL THEN l.quantity - l.cancelled_quantity END, 0)
                           AS wanted,
                       (SELECT state FROM gift_pickup WHERE line_id = l.id) AS pickup,
                       (SELECT state FROM fulfilment WHERE line_id = l.id) AS delivery
                FROM redemption_line l
                LEFT JOIN jsonb_to_recordset(p_items) AS a(item_id bigint, quantity integer, position integer)
                    ON a.item_id = l.item_id
                WHERE l.redemption_id = r.id ORDER BY l.id FOR UPDATE OF l
            LOOP
                CONTINUE WHEN line.wanted = 0;
                IF line.wanted > line.open THEN
                    troubles := troubles || problem('CANCELLATION_EXCEEDS_REDEMPTION',
                        format('%s of this reward are left to'
                                              ' cancel.', line.open), format('items.%s.quantity', line.position));
                END IF;
                IF line.pickup = 'HANDED_OVER' THEN
                    troubles := troubles || problem('GIFT_HANDED_OVER', 'The gift was handed over to the member.',
                                              CASE WHEN line.position IS NULL THEN 'redemption_id'
                                              ELSE format('items.%s.item_id', line.position) END);
                END IF;
                IF line.delivery = 'DELIVERED' THEN
                    troubles := troubles || problem('FULFILMENT_DELIVERED', 'The billing system has delivered it.',
                                              CASE WHEN line.position IS NULL THEN 'redemption_id'
                                              ELSE format('items.%s.item_id', line.position) END);
                END IF;
                asked := asked || jsonb_build_object('line_id', line.id, 'item_id', line.item_id, 'kind', line.kind,
                                                     'quantity', line.wanted, 'points', line.wanted * line.unit_points);
            END LOOP;
            IF jsonb_array_length(troubles) > 0 THEN
                PERFORM refuse_all(troubles);
            END IF;
            returned := (SELECT sum((a ->> 'points')::bigint) FROM jsonb_array_elements(asked) a);
            given := redemption_give_back(r, returned, p_today, p_staff_id,
                                          format('Cancellation of redemption %s: %s', r.id, p_reason));
            PERFORM redemption_return_goods(r, asked, p_staff_id);
            UPDATE redemption SET cancelled_points = cancelled_points + returned,
                   status = CASE WHEN cancelled_points + returned = redemption.points THEN 'CANCELLED'
                                 ELSE 'PARTLY_CANCELLED' END
            WHERE id = r.id RETURNING * INTO r;
            INSERT INTO redemption_cancellation (redemption_id, points, expired_points, transaction_id,
                                                 expiry_transaction_id, lines, staff_id, reason)
            VALUES (r.id, returned, given[3], given[1], given[2], asked, p_staff_id, p_reason);
            UPDATE idempotency_record SET result = jsonb_build_object('id', r.id, 'row', to_jsonb(r))
            WHERE p_key IS NOT NULL AND scope = p_scope AND key = p_key;
            RETURN NEXT r;
        END $$""",
    "redemption_return_goods(redemption, jsonb, bigint)": """
        -- What a cancellation takes back besides points ([{line_id, item_id, kind, quantity}]): gifts to the stock
        -- of the branch they waited at, their pick-ups and the fulfilments shrunk (cancelled when none is left).
        CREATE FUNCTION redemption_return_goods(p_redemption redemption, p_asked jsonb, p_staff_id bigint) RETURNS void
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        BEGIN
            PERFORM 1 FROM gift_stock WHERE branch_id = p_redemption.branch_id
              AND item_id IN (SELECT (a ->> 'item_id')::bigint FROM jsonb_array_elements(p_asked) a WHERE a ->>
                  'kind' = 'GIFT')
            ORDER BY item_id FOR UPDATE;
            WITH back AS (
                UPDATE gift_stock s SET quantity = s.quantity + a.quantity, updated_at = now()
                FROM jsonb_to_recordset(p_asked) AS a(item_id bigint, kind text, quantity integer)
                WHERE a.kind = 'GIFT' AND s.item_id = a.item_id AND s.branch_id = p_redemption.branch_id
                RETURNING s.item_id, s.quantity AS after, a.quantity
            )
            INSERT INTO gift_stock_movement (item_id, branch_id, kind, quantity, balance_after, staff_id, redemption_id)
            SELECT item_id, p_redemption.branch_id, 'CANCELLATION', quantity, after, p_staff_id, p_redemption.id
                FROM back;
            UPDATE gift_pickup p SET quantity = p.quantity - a.quantity,
                   state = CASE WHEN p.quantity = a.quantity THEN 'CANCELLED' ELSE p.state END
            FROM jsonb_to_recordset(p_asked) AS a(line_id bigint, quantity integer) WHERE p.line_id = a.line_id;
            UPDATE fulfilment f SET amount = f.amount / f.quantity * (f.quantity - a.quantity),
                   quantity = f.quantity - a.quantity,
                   state = CASE WHEN f.quantity = a.quantity THEN 'CANCELLED' ELSE f.state END, updated_at = now()
            FROM jsonb_to_recordset(p_asked) AS a(line_id bigint, quantity integer) WHERE f.line_id = a.line_id;
            UPDATE redemption_line l SET cancelled_quantity = l.cancelled_quantity + a.quantity
            FROM jsonb_to_recordset(p_asked) AS a(line_id bigint, quantity integer) WHERE l.id = a.line_id;
        END $$""",
}

FUNCTIONS |= {
    "auto_redeem_chunk(date, bigint, bigint, date, jsonb, bigint)": """
        -- Carry out the bookings of `p_month` with ids in [p_first, p_before) not carried out yet: each is a
        -- redemption of its own (a REDEMPTION entry drawing the soonest-expiring lots, its line, its fulfilment),
        -- or is skipped with the code of the first check it fails; either way once per (booking, month). A
        -- member's bookings go in booking order, one per member in each pass, so each sees the points the
        -- earlier ones left. The balances are locked in member order. Answers {redeemed, skipped, points}.
        CREATE FUNCTION auto_redeem_chunk(
            p_month date, p_first bigint, p_before bigint, p_today date, p_states jsonb, p_run_id bigint
        ) RETURNS jsonb
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            taken integer;
            redeemed integer := 0;
            skipped integer := 0;
            spent bigint := 0;
        BEGIN
            CREATE TEMP TABLE IF NOT EXISTS auto_pass (
                booking_id bigint PRIMARY KEY, member_id bigint, item_id bigint, quantity integer, cost bigint,
                reason text, branch_id bigint, account_id bigint, kind text, unit_points bigint, benefit bigint,
                content_code text, redemption_id bigint, transaction_id bigint
            ) ON COMMIT DROP;
            LOOP
                TRUNCATE auto_pass;
                INSERT INTO auto_pass (booking_id, member_id, item_id, quantity)
                SELECT id, member_id, item_id, quantity FROM (
                    SELECT b.id, b.member_id, b.item_id, b.quantity,
                           row_number() OVER (PARTITION BY b.member_id ORDER BY b.id) AS turn
                    FROM auto_redemption b
                    WHERE b.id >= p_first AND b.id < p_before AND b.status = 'ACTIVE' AND b.start_month <= p_month
                      AND coalesce(b.end_month, DATE '9999-12-01') >= p_month
                      AND NOT EXISTS (SELECT 1 FROM auto_redemption_execution x
                                      WHERE x.booking_id = b.id AND x.month = p_month)) due
                WHERE turn = 1;
                GET DIAGNOSTICS taken = ROW_COUNT;
                EXIT WHEN taken = 0;
                INSERT INTO points_balance (member_id) SELECT member_id FROM auto_pass ORDER BY member_id
                ON CONFLICT DO NOTHING;
                PERFORM 1 FROM points_balance WHERE member_id IN (SELECT member_id FROM auto_pass)
                ORDER BY member_id FOR UPDATE;
                PERFORM auto_redeem_check(p_today, p_states);
                INSERT INTO auto_redemption_execution (booking_id, month, member_id, outcome, reason, run_id)
                SELECT booking_id, p_month, member_id, 'SKIPPED', reason, p_run_id FROM auto_pass
                WHERE reason IS NOT NULL;
                GET DIAGNOSTICS taken = ROW_COUNT;
                skipped := skipped + taken;
                PERFORM auto_redeem_write(p_month, p_today, p_run_id);
                SELECT redeemed + count(*), spent + coalesce(sum(cost), 0) INTO redeemed, spent
                FROM auto_pass WHERE reason IS NULL;
            END LOOP;
            RETURN jsonb_build_object('redeemed', redeemed, 'skipped', skipped, 'points', spent);
        END $$""",
    "auto_redeem_check(date, jsonb)": """
        -- The facts of this pass's bookings (`auto_pass`), and the code of the first check each fails (NULL: it
        -- is redeemed, and its redemption's and entry's ids are drawn): the checks of a redemption
        -- (`redemption_check`), set-based, in their order there.
        CREATE FUNCTION auto_redeem_check(p_today date, p_states jsonb) RETURNS void
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            redemptions regclass := pg_get_serial_sequence('redemption', 'id')::regclass;
            entries regclass := pg_get_serial_sequence('ledger_transaction', 'id')::regclass;
        BEGIN
            WITH facts AS (
                SELECT a.booking_id, a.quantity, m.status::text AS status, m.valid_until, m.grade_code, m.branch_id,
                       m.customer_id, i.id AS item_id, i.status AS item_status, i.available_from, i.available_to,
                       i.kind, i.grade_codes, i.points_price, i.benefit_amount, i.content_code, i.daily_limit,
                       i.monthly_limit, i.points_price * a.quantity AS cost, bal.posted - bal.held AS available,
                       CASE WHEN hb.level = 'HQ' THEN NULL ELSE split_part(hb.path, '/', 3)::bigint END AS
                           home_province,
                       CASE WHEN ib.level = 'HQ' THEN NULL ELSE split_part(ib.path, '/', 3)::bigint END AS
                           item_province,
                       coalesce(u.today, 0) AS used_today, coalesce(u.month, 0) AS used_month
                FROM auto_pass a
                JOIN member m ON m.id = a.member_id
                JOIN branch hb ON hb.id = m.branch_id
                JOIN reward_item i ON i.id = a.item_id
                JOIN branch ib ON ib.id = i.branch_id
                JOIN points_balance bal ON bal.member_id = a.member_id
                LEFT JOIN LATERAL (
                    SELECT sum(l.quantity - l.cancelled_quantity) FILTER (WHERE l.redeemed_on = p_today) AS today,
                           sum(l.quantity - l.cancelled_quantity) AS month
                    FROM redemption_line l
                    WHERE (i.daily_limit IS NOT NULL OR i.monthly_limit IS NOT NULL)
                      AND l.member_id = a.member_id AND l.item_id = a.item_id
                      AND l.redeemed_on BETWEEN date_trunc('month', p_today)::date AND p_today) u ON true
            ), minima AS (  -- the consumption rules, once per grade and reward of the pass
                SELECT g.grade_code, g.item_id,
                       (SELECT min(coalesce(r.minimum_available_points, 0)) FROM consumption_rule r
                        WHERE r.effective_from <= p_today AND coalesce(r.effective_to, DATE '9999-12-31') >= p_today
                          AND (r.grade_code IS NULL OR r.grade_code = g.grade_code)
                          AND (r.item_id = g.item_id OR r.item_kind = g.kind
                               OR (r.item_id IS NULL AND r.item_kind IS NULL))) AS minimum
                FROM (SELECT DISTINCT grade_code, item_id, kind FROM facts) g
            ), judged AS (
                SELECT f.*, b.id AS account_id, CASE
                    WHEN p_states -> f.status ? 'refuse' THEN p_states -> f.status -> 'refuse' ->> 0
                    WHEN f.valid_until < p_today THEN 'MEMBERSHIP_EXPIRED'
                    WHEN f.item_status <> 'ACTIVE' THEN 'ITEM_NOT_ACTIVE'
                    WHEN p_today < f.available_from OR p_today > coalesce(f.available_to, DATE '9999-12-31')
                        THEN 'ITEM_NOT_AVAILABLE'
                    WHEN f.kind NOT IN ('BILL_CREDIT', 'CALL_MINUTES', 'CONTENT') THEN 'ITEM_KIND_NOT_OFFERED'
                    WHEN f.item_province IS NOT NULL AND f.item_province IS DISTINCT FROM f.home_province
                        THEN 'ITEM_NOT_IN_SCOPE'
                    WHEN NOT f.grade_codes ? f.grade_code OR r.minimum IS NULL THEN 'GRADE_NOT_ALLOWED'
                    WHEN f.available < r.minimum THEN 'BELOW_MINIMUM_BALANCE'
                    WHEN f.used_today + f.quantity > f.daily_limit THEN 'DAILY_LIMIT_REACHED'
                    WHEN f.used_month + f.quantity > f.monthly_limit THEN 'MONTHLY_LIMIT_REACHED'
                    WHEN f.kind IN ('BILL_CREDIT', 'CALL_MINUTES') AND b.id IS NULL THEN 'NO_BILLING_ACCOUNT'
                    WHEN f.available < f.cost THEN 'INSUFFICIENT_POINTS'
                END AS reason
                FROM facts f
                JOIN minima r ON r.grade_code = f.grade_code AND r.item_id = f.item_id
                LEFT JOIN LATERAL (SELECT id FROM account WHERE customer_id = f.customer_id AND status = 'ACTIVE'
                                   ORDER BY id LIMIT 1) b ON true
            )
            UPDATE auto_pass p SET
                cost = j.cost, kind = j.kind, unit_points = j.points_price, benefit = j.benefit_amount,
                content_code = j.content_code, branch_id = j.branch_id, account_id = j.account_id, reason = j.reason,
                redemption_id = CASE WHEN j.reason IS NULL THEN nextval(redemptions) END,
                transaction_id = CASE WHEN j.reason IS NULL THEN nextval(entries) END
            FROM judged j
            WHERE j.booking_id = p.booking_id;
        END $$""",
    "auto_redeem_write(date, date, bigint)": """
        -- The redemptions of this pass's bookings that passed every check (`auto_pass`, ids drawn): the entries,
        -- the lots drawn soonest-expiring first (a running sum per member), the balances, the redemptions with
        -- their lines and fulfilments, and each booking's execution. The caller holds the balances.
        CREATE FUNCTION auto_redeem_write(p_month date, p_today date, p_run_id bigint) RETURNS void
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        BEGIN
            INSERT INTO ledger_transaction (id, member_id, entry_type, account, points, effective_on, reason)
            SELECT transaction_id, member_id, 'REDEMPTION', 'REDEMPTION', -cost, p_today, 'Redemption ' || redemption_id
            FROM auto_pass WHERE reason IS NULL;
            WITH ordered AS (  -- each member's spendable lots, soonest-expiring first
                SELECT l.id, l.remaining, p.transaction_id, p.cost,
                       sum(l.remaining) OVER (PARTITION BY l.member_id ORDER BY l.expires_on, l.id) AS running
                FROM auto_pass p JOIN points_lot l ON l.member_id = p.member_id AND l.remaining > 0
                WHERE p.reason IS NULL
            ), draws AS (
                SELECT id, transaction_id, least(remaining, cost - (running - remaining)) AS taken
                FROM ordered WHERE running - remaining < cost
            ), moved AS (
                INSERT INTO lot_movement (lot_id, transaction_id, amount) SELECT id, transaction_id, -taken FROM draws
            )
            UPDATE points_lot l SET remaining = l.remaining - d.taken FROM draws d
            WHERE l.id = d.id AND l.id = ANY(ARRAY(SELECT id FROM draws));
            UPDATE points_balance b SET posted = b.posted - p.cost, updated_at = now()
            FROM auto_pass p WHERE p.reason IS NULL AND b.member_id = p.member_id;
            INSERT INTO redemption (id, member_id, channel, branch_id, home_branch_id, cross_branch, booking_id, points,
                                    status, transaction_id, redeemed_on)
            SELECT redemption_id, member_id, 'BOOKING', branch_id, branch_id, false, booking_id, cost, 'COMPLETED',
                   transaction_id, p_today
            FROM auto_pass WHERE reason IS NULL;
            WITH lines AS (
                INSERT INTO redemption_line (redemption_id, member_id, item_id, kind, quantity, unit_points, points,
                                             redeemed_on)
                SELECT redemption_id, member_id, item_id, kind, quantity, unit_points, cost, p_today
                FROM auto_pass WHERE reason IS NULL
                RETURNING id, redemption_id
            )
            INSERT INTO fulfilment (redemption_id, line_id, member_id, item_id, kind, account_id, quantity, amount,
                                    content_code, state)
            SELECT p.redemption_id, l.id, p.member_id, p.item_id, p.kind, p.account_id, p.quantity,
                   p.benefit * p.quantity, p.content_code, 'PENDING'
            FROM lines l JOIN auto_pass p ON p.redemption_id = l.redemption_id;
            INSERT INTO auto_redemption_execution (booking_id, month, member_id, outcome, redemption_id, run_id)
            SELECT booking_id, p_month, member_id, 'REDEEMED', redemption_id, p_run_id FROM auto_pass
            WHERE reason IS NULL;
        END $$""",
}


def upgrade() -> None:
    op.create_table(
        "auto_redemption_execution",
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum("REDEEMED", "SKIPPED", name="outcome", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("redemption_id", sa.BigInteger(), nullable=True),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("executed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("booking_id", "month", name=op.f("pk_auto_redemption_execution")),
    )
    op.create_table(
        "fulfilment",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("redemption_id", sa.BigInteger(), nullable=False),
        sa.Column("line_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "BILL_CREDIT",
                "CALL_MINUTES",
                "CONTENT",
                "GIFT",
                "PARTNER_COUPON",
                name="kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("account_id", sa.BigInteger(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("content_code", sa.String(length=32), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "PENDING",
                "DELIVERED",
                "FAILED",
                "CANCELLED",
                name="state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fulfilment")),
    )
    op.create_index(op.f("ix_fulfilment_redemption_id"), "fulfilment", ["redemption_id"], unique=False)
    op.create_index("ix_fulfilment_state", "fulfilment", ["state", "id"], unique=False)
    op.create_table(
        "gift_pickup",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("redemption_id", sa.BigInteger(), nullable=False),
        sa.Column("line_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("branch_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "READY", "HANDED_OVER", "CANCELLED", name="state", native_enum=False, create_constraint=True, length=32
            ),
            server_default="READY",
            nullable=False,
        ),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_pickup")),
    )
    op.create_index("ix_gift_pickup_branch_state", "gift_pickup", ["branch_id", "state"], unique=False)
    op.create_index(op.f("ix_gift_pickup_redemption_id"), "gift_pickup", ["redemption_id"], unique=False)
    op.create_table(
        "gift_stock_movement",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("branch_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "RECEIVE",
                "ADJUST",
                "TRANSFER_OUT",
                "TRANSFER_IN",
                "REDEMPTION",
                "CANCELLATION",
                name="kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("redemption_id", sa.BigInteger(), nullable=True),
        sa.Column("other_branch_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_stock_movement")),
    )
    op.create_index("ix_gift_stock_movement_stock", "gift_stock_movement", ["item_id", "branch_id", "id"], unique=False)
    op.create_table(
        "redemption",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "WEB",
                "WAP",
                "SMS",
                "POS",
                "TERMINAL",
                "COUNTER",
                "HOTLINE",
                "PARTNER",
                "BOOKING",
                name="channel",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("outlet_id", sa.BigInteger(), nullable=True),
        sa.Column("branch_id", sa.BigInteger(), nullable=False),
        sa.Column("home_branch_id", sa.BigInteger(), nullable=False),
        sa.Column("cross_branch", sa.Boolean(), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("card_number", sa.BigInteger(), nullable=True),
        sa.Column("booking_id", sa.BigInteger(), nullable=True),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("cancelled_points", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "COMPLETED",
                "PARTLY_CANCELLED",
                "CANCELLED",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="COMPLETED",
            nullable=False,
        ),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("redeemed_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "cancelled_points >= 0 AND cancelled_points <= points", name=op.f("ck_redemption_cancelled_within")
        ),
        sa.CheckConstraint("points > 0", name=op.f("ck_redemption_points_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redemption")),
    )
    op.create_index("ix_redemption_branch_day", "redemption", ["branch_id", "redeemed_on"], unique=False)
    op.create_index("ix_redemption_home_day", "redemption", ["home_branch_id", "redeemed_on"], unique=False)
    op.create_index("ix_redemption_member_day", "redemption", ["member_id", "redeemed_on", "id"], unique=False)
    op.create_index("ix_redemption_transaction", "redemption", ["transaction_id"], unique=False)
    op.create_table(
        "redemption_cancellation",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("redemption_id", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("expired_points", sa.BigInteger(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("expiry_transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("lines", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redemption_cancellation")),
    )
    op.create_index(
        op.f("ix_redemption_cancellation_redemption_id"), "redemption_cancellation", ["redemption_id"], unique=False
    )
    op.create_index(
        "ix_redemption_cancellation_transaction", "redemption_cancellation", ["transaction_id"], unique=False
    )
    op.create_table(
        "redemption_line",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("redemption_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "BILL_CREDIT",
                "CALL_MINUTES",
                "CONTENT",
                "GIFT",
                "PARTNER_COUPON",
                name="kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_points", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("cancelled_quantity", sa.Integer(), server_default="0", nullable=False),
        sa.Column("redeemed_on", sa.Date(), nullable=False),
        sa.CheckConstraint(
            "cancelled_quantity >= 0 AND cancelled_quantity <= quantity",
            name=op.f("ck_redemption_line_cancelled_within"),
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_redemption_line_quantity_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redemption_line")),
    )
    op.create_index(
        "ix_redemption_line_limits", "redemption_line", ["member_id", "item_id", "redeemed_on"], unique=False
    )
    op.create_index(op.f("ix_redemption_line_redemption_id"), "redemption_line", ["redemption_id"], unique=False)
    op.create_table(
        "outlet",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("branch_id", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=24), nullable=True),
        sa.Column(
            "status",
            sa.Enum("OPEN", "CLOSED", name="status", native_enum=False, create_constraint=True, length=32),
            server_default="OPEN",
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branch.id"], name=op.f("fk_outlet_branch_id_branch")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outlet")),
        sa.UniqueConstraint("code", name=op.f("uq_outlet_code")),
    )
    op.create_index(op.f("ix_outlet_branch_id"), "outlet", ["branch_id"], unique=False)
    op.create_table(
        "reward_item",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "BILL_CREDIT",
                "CALL_MINUTES",
                "CONTENT",
                "GIFT",
                "PARTNER_COUPON",
                name="kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("points_price", sa.BigInteger(), nullable=False),
        sa.Column("benefit_amount", sa.BigInteger(), nullable=True),
        sa.Column("content_code", sa.String(length=32), nullable=True),
        sa.Column("grade_codes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("available_from", sa.Date(), nullable=False),
        sa.Column("available_to", sa.Date(), nullable=True),
        sa.Column("daily_limit", sa.Integer(), nullable=True),
        sa.Column("monthly_limit", sa.Integer(), nullable=True),
        sa.Column("branch_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("DRAFT", "ACTIVE", "RETIRED", name="status", native_enum=False, create_constraint=True, length=32),
            server_default="DRAFT",
            nullable=False,
        ),
        sa.Column("picture_url", sa.String(length=500), nullable=True),
        sa.Column("staff_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "available_to IS NULL OR available_to >= available_from", name=op.f("ck_reward_item_window_ordered")
        ),
        sa.CheckConstraint(
            "benefit_amount IS NULL OR benefit_amount > 0", name=op.f("ck_reward_item_benefit_positive")
        ),
        sa.CheckConstraint("daily_limit IS NULL OR daily_limit > 0", name=op.f("ck_reward_item_daily_limit_positive")),
        sa.CheckConstraint(
            "monthly_limit IS NULL OR monthly_limit > 0", name=op.f("ck_reward_item_monthly_limit_positive")
        ),
        sa.CheckConstraint("points_price > 0", name=op.f("ck_reward_item_price_positive")),
        sa.ForeignKeyConstraint(["branch_id"], ["branch.id"], name=op.f("fk_reward_item_branch_id_branch")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_reward_item_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_item")),
        sa.UniqueConstraint("code", name=op.f("uq_reward_item_code")),
    )
    op.create_index(op.f("ix_reward_item_branch_id"), "reward_item", ["branch_id"], unique=False)
    op.create_table(
        "auto_redemption",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("start_month", sa.Date(), nullable=False),
        sa.Column("end_month", sa.Date(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "ACTIVE", "PAUSED", "CANCELLED", name="status", native_enum=False, create_constraint=True, length=32
            ),
            server_default="ACTIVE",
            nullable=False,
        ),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "end_month IS NULL OR end_month >= start_month", name=op.f("ck_auto_redemption_months_ordered")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_auto_redemption_quantity_positive")),
        sa.ForeignKeyConstraint(["item_id"], ["reward_item.id"], name=op.f("fk_auto_redemption_item_id_reward_item")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auto_redemption")),
    )
    op.create_index("ix_auto_redemption_member", "auto_redemption", ["member_id", "id"], unique=False)
    op.create_table(
        "consumption_rule",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("grade_code", sa.String(length=32), nullable=True),
        sa.Column(
            "item_kind",
            sa.Enum(
                "BILL_CREDIT",
                "CALL_MINUTES",
                "CONTENT",
                "GIFT",
                "PARTNER_COUPON",
                name="item_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("item_id", sa.BigInteger(), nullable=True),
        sa.Column("minimum_available_points", sa.BigInteger(), nullable=True),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from", name=op.f("ck_consumption_rule_dates_ordered")
        ),
        sa.CheckConstraint("item_kind IS NULL OR item_id IS NULL", name=op.f("ck_consumption_rule_kind_or_item")),
        sa.CheckConstraint(
            "minimum_available_points IS NULL OR minimum_available_points >= 0",
            name=op.f("ck_consumption_rule_minimum"),
        ),
        sa.ForeignKeyConstraint(["grade_code"], ["grade.code"], name=op.f("fk_consumption_rule_grade_code_grade")),
        sa.ForeignKeyConstraint(["item_id"], ["reward_item.id"], name=op.f("fk_consumption_rule_item_id_reward_item")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consumption_rule")),
    )
    op.create_table(
        "gift_stock",
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("branch_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_gift_stock_quantity_nonnegative")),
        sa.ForeignKeyConstraint(["branch_id"], ["branch.id"], name=op.f("fk_gift_stock_branch_id_branch")),
        sa.ForeignKeyConstraint(["item_id"], ["reward_item.id"], name=op.f("fk_gift_stock_item_id_reward_item")),
        sa.PrimaryKeyConstraint("item_id", "branch_id", name=op.f("pk_gift_stock")),
    )
    op.create_table(
        "consumption_rule_change",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["consumption_rule.id"], name=op.f("fk_consumption_rule_change_rule_id_consumption_rule")
        ),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_consumption_rule_change_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consumption_rule_change")),
    )
    op.create_index(op.f("ix_consumption_rule_change_rule_id"), "consumption_rule_change", ["rule_id"], unique=False)
    #### DOWN
    _entry_types((*ENTRY_TYPES, "CANCELLATION"))
    for constraint in LOT_MOVEMENT_KEYS:  # checked by `loyalty verify` instead (see `LotMovement`)
        op.drop_constraint(constraint, "lot_movement", type_="foreignkey")
    for definition in FUNCTIONS.values():
        op.execute(definition)
    op.execute(NEW_REVERSE)


def downgrade() -> None:
    op.execute(OLD_REVERSE)
    for signature in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION {signature}")
    _entry_types(ENTRY_TYPES)
    for constraint, (column, table) in LOT_MOVEMENT_KEYS.items():
        op.create_foreign_key(constraint, "lot_movement", table, [column], ["id"])
    op.drop_index(op.f("ix_consumption_rule_change_rule_id"), table_name="consumption_rule_change")
    op.drop_table("consumption_rule_change")
    op.drop_table("gift_stock")
    op.drop_table("consumption_rule")
    op.drop_index("ix_auto_redemption_member", table_name="auto_redemption")
    op.drop_table("auto_redemption")
    op.drop_index(op.f("ix_reward_item_branch_id"), table_name="reward_item")
    op.drop_table("reward_item")
    op.drop_index(op.f("ix_outlet_branch_id"), table_name="outlet")
    op.drop_table("outlet")
    op.drop_index(op.f("ix_redemption_line_redemption_id"), table_name="redemption_line")
    op.drop_index("ix_redemption_line_limits", table_name="redemption_line")
    op.drop_table("redemption_line")
    op.drop_index("ix_redemption_cancellation_transaction", table_name="redemption_cancellation")
    op.drop_index(op.f("ix_redemption_cancellation_redemption_id"), table_name="redemption_cancellation")
    op.drop_table("redemption_cancellation")
    op.drop_index("ix_redemption_transaction", table_name="redemption")
    op.drop_index("ix_redemption_member_day", table_name="redemption")
    op.drop_index("ix_redemption_home_day", table_name="redemption")
    op.drop_index("ix_redemption_branch_day", table_name="redemption")
    op.drop_table("redemption")
    op.drop_index("ix_gift_stock_movement_stock", table_name="gift_stock_movement")
    op.drop_table("gift_stock_movement")
    op.drop_index(op.f("ix_gift_pickup_redemption_id"), table_name="gift_pickup")
    op.drop_index("ix_gift_pickup_branch_state", table_name="gift_pickup")
    op.drop_table("gift_pickup")
    op.drop_index("ix_fulfilment_state", table_name="fulfilment")
    op.drop_index(op.f("ix_fulfilment_redemption_id"), table_name="fulfilment")
    op.drop_table("fulfilment")
    op.drop_table("auto_redemption_execution")
