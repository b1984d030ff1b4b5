"""grades: grade definitions' standards and status, customer importance, grade rules as data, the qualification
review's proposals and the grade history, in set-based SQL

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

`grade_figures` computes what the rules look at for a range of customers (months in network, ARPU and spend
over whole months, points earned, importance); `grade_decisions` gives each the best grade the rules in force
(a province's override, else the national rule) allow; `grade_review_chunk` turns a chunk's decisions into
proposals once per (as-of date, customer) and applies the automatic ones; `grade_apply` applies proposals
(a reviewer's approval, or the run); `grade_record` moves members' grades with their history and notices.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

FUNCTIONS = {
    "importance_rank(text)": """
        CREATE FUNCTION importance_rank(p_importance text) RETURNS integer
        LANGUAGE sql IMMUTABLE AS $$ SELECT array_position(ARRAY['NORMAL', 'KEY', 'VIP'], p_importance) - 1 $$""",
    "grade_figures(bigint, bigint, date, integer[], text[])": """
        -- What the grade rules look at, for the customers of [p_first, p_before) with an account or a membership,
        -- as of p_as_of, over each window of p_windows: the p_window whole months before p_as_of's month.
        CREATE FUNCTION grade_figures(p_first bigint, p_before bigint, p_as_of date, p_windows integer[],
                                      p_earning text[])
        RETURNS TABLE (customer_id bigint, window_months integer, months_in_network integer, arpu_fen bigint,
                       spend_fen bigint, points_earned bigint, importance text)
        LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
            WITH month AS (SELECT date_trunc('month', p_as_of)::date AS first_day),
            windows AS (SELECT DISTINCT w AS months, ((SELECT first_day FROM month) - make_interval(months => w))::date
                               AS since FROM unnest(p_windows) w),
            people AS (
                SELECT c.id, c.importance, min(a.opened_on) AS opened
                FROM customer c LEFT JOIN account a ON a.customer_id = c.id AND a.opened_on <= p_as_of
                LEFT JOIN member m ON m.customer_id = c.id
                WHERE c.id >= p_first AND c.id < p_before AND (a.id IS NOT NULL OR m.id IS NOT NULL)
                GROUP BY c.id, c.importance),
            paid AS (  -- by account through its (account, month) key: the chunk's bills only, whatever the table holds
                SELECT a.customer_id, w.months, sum(x.fen) AS fen
                FROM account a CROSS JOIN windows w
                CROSS JOIN LATERAL (
                    SELECT sum(b.amount_paid_fen) AS fen FROM bill b
                    WHERE b.account_id = a.id AND b.billing_month >= w.since
                      AND b.billing_month < (SELECT first_day FROM month)) AS x
                WHERE a.customer_id >= p_first AND a.customer_id < p_before
                GROUP BY a.customer_id, w.months),
            earned AS (
                SELECT m.customer_id, w.months, sum(t.points) AS points
                FROM member m JOIN windows w ON true
                JOIN ledger_transaction t ON t.member_id = m.id AND t.effective_on >= w.since
                     AND t.effective_on < (SELECT first_day FROM month)
                WHERE m.customer_id >= p_first AND m.customer_id < p_before
                  AND t.entry_type = ANY(p_earning) AND t.points > 0
                GROUP BY m.customer_id, w.months)
            SELECT p.id, w.months,
                   CASE WHEN p.opened IS NULL THEN 0
                        ELSE (extract(year FROM age(p_as_of, p.opened)) * 12
                              + extract(month FROM age(p_as_of, p.opened)))::int END,
                   div(coalesce(paid.fen, 0), w.months)::bigint, coalesce(paid.fen, 0)::bigint,
                   coalesce(earned.points, 0)::bigint, p.importance::text
            FROM people p CROSS JOIN windows w
            LEFT JOIN paid ON paid.customer_id = p.id AND paid.months = w.months
            LEFT JOIN earned ON earned.customer_id = p.id AND earned.months = w.months
        $$""",
    "grade_rules_in_force(date)": """
        -- The rules in force on p_as_of of the active grades, each marked national (headquarters) or the
        -- province it overrides the national rule for.
        CREATE FUNCTION grade_rules_in_force(p_as_of date)
        RETURNS TABLE (id bigint, grade_code text, rank integer, province_id bigint, window_months integer,
                       alternatives jsonb)
        LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
            SELECT r.id, r.grade_code::text, g.rank, CASE WHEN b.level = 'HQ' THEN NULL ELSE r.branch_id END,
                   r.window_months, r.alternatives
            FROM grade_rule r JOIN grade g ON g.code = r.grade_code AND g.status = 'ACTIVE'
            JOIN branch b ON b.id = r.branch_id
            WHERE r.effective_from <= p_as_of AND coalesce(r.effective_to, DATE '9999-12-31') >= p_as_of
        $$""",
    "grade_decisions(bigint, bigint, date, text[])": """
        -- Each customer of [p_first, p_before) with an account or a membership (not an ended one): their
        -- member, grade and the best grade the rules in force allow (none: no grade), with the rule and
        -- figures that decide it. A province's rule for a grade replaces the national one for its customers.
        CREATE FUNCTION grade_decisions(p_first bigint, p_before bigint, p_as_of date, p_earning text[])
        RETURNS TABLE (customer_id bigint, branch_id bigint, member_id bigint, member_status text, club_id bigint,
                       grade_from text, grade_to text, rule_id bigint, figures jsonb)
        LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
            WITH rules AS (SELECT * FROM grade_rules_in_force(p_as_of)),
            f AS (SELECT * FROM grade_figures(p_first, p_before, p_as_of,
                                              (SELECT coalesce(array_agg(DISTINCT window_months), ARRAY[12])
                                               FROM rules), p_earning)),
            narrowest AS (  -- the figures shown when no grade is met: over the narrowest window
                SELECT DISTINCT ON (customer_id) customer_id, to_jsonb(f) - 'customer_id' AS figures
                FROM f ORDER BY customer_id, window_months),
            alternatives AS (  -- each alternative set of each rule, its thresholds typed once per chunk
                SELECT r.id AS rule_id, (a ->> 'months_in_network')::bigint AS months_in_network,
                       (a ->> 'arpu_fen')::bigint AS arpu_fen, (a ->> 'points_earned')::bigint AS points_earned,
                       (a ->> 'spend_fen')::bigint AS spend_fen, importance_rank(a ->> 'importance') AS importance
                FROM rules r, jsonb_array_elements(r.alternatives) a),
            clubs AS (  -- per branch: the club of the nearest branch on its path that has one
                SELECT DISTINCT ON (cb.id) cb.id AS branch_id, cl.id AS club_id
                FROM branch cb JOIN branch b ON cb.path LIKE b.path || '%' JOIN club cl ON cl.branch_id = b.id
                ORDER BY cb.id, length(b.path) DESC, cl.id),
            provinces AS MATERIALIZED (SELECT id, branch_province(id) AS province FROM branch),
            people AS (  -- a member is reviewed where their membership is (their club's branch), a customer where
                         -- their record is
                SELECT c.id AS customer_id, coalesce(m.branch_id, c.branch_id) AS branch_id, pr.province,
                       m.id AS member_id, m.status::text AS status, m.club_id, m.grade_code::text AS grade_code,
                       n.figures AS narrowest
                FROM narrowest n JOIN customer c ON c.id = n.customer_id
                LEFT JOIN member m ON m.customer_id = c.id
                JOIN provinces pr ON pr.id = coalesce(m.branch_id, c.branch_id)
                WHERE coalesce(m.status, '') <> 'ENDED'),
            applicable AS (  -- per person and grade: the province's rule, else the national one
                SELECT DISTINCT ON (p.customer_id, r.grade_code) p.customer_id, r.id, r.grade_code, r.rank,
                       r.window_months, r.alternatives
                FROM people p JOIN rules r ON r.province_id IS NULL OR r.province_id = p.province
                ORDER BY p.customer_id, r.grade_code, r.province_id IS NULL),
            best AS (  -- a rule is met when every threshold of one of its alternative sets holds
                SELECT DISTINCT ON (a.customer_id) a.customer_id, a.id AS rule_id, a.grade_code,
                       to_jsonb(f) - 'customer_id' AS figures
                FROM applicable a JOIN f ON f.customer_id = a.customer_id AND f.window_months = a.window_months
                JOIN alternatives x ON x.rule_id = a.id
                     AND (x.months_in_network IS NULL OR f.months_in_network >= x.months_in_network)
                     AND (x.arpu_fen IS NULL OR f.arpu_fen >= x.arpu_fen)
                     AND (x.points_earned IS NULL OR f.points_earned >= x.points_earned)
                     AND (x.spend_fen IS NULL OR f.spend_fen >= x.spend_fen)
                     AND (x.importance IS NULL OR importance_rank(f.importance) >= x.importance)
                ORDER BY a.customer_id, a.rank)
            SELECT p.customer_id, p.branch_id, p.member_id, p.status, coalesce(p.club_id, clubs.club_id),
                   p.grade_code, best.grade_code, best.rule_id,
                   coalesce(best.figures || jsonb_build_object('rule_id', best.rule_id), p.narrowest)
            FROM people p LEFT JOIN best ON best.customer_id = p.customer_id
            LEFT JOIN clubs ON clubs.branch_id = p.branch_id
        $$""",
    "grade_record(jsonb, bigint, bigint, text, timestamp with time zone)": """
        -- Members' grades move (`p_changes`: member_id, grade_from, grade_to — none when revoked —, kind,
        -- proposal_id, figures), each into the grade history, and a member whose rank changed is told.
        CREATE FUNCTION grade_record(p_changes jsonb, p_staff_id bigint, p_run_id bigint, p_reason text,
                                     p_now timestamptz) RETURNS integer
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            recorded integer;
        BEGIN
            UPDATE member m SET grade_code = c.grade_to, updated_at = p_now
            FROM jsonb_to_recordset(p_changes) AS c(member_id bigint, grade_to text)
            WHERE m.id = c.member_id AND c.grade_to IS NOT NULL AND m.grade_code <> c.grade_to;
            WITH c AS (SELECT * FROM jsonb_to_recordset(p_changes) AS c(member_id bigint, grade_from text,
                                                                          grade_to text, kind text,
                                                                          proposal_id bigint, figures jsonb)),
            made AS (
                INSERT INTO grade_change (member_id, grade_from, grade_to, kind, staff_id, run_id, proposal_id,
                                          reason, figures, changed_at)
                SELECT member_id, grade_from, grade_to, kind, p_staff_id, p_run_id, proposal_id, p_reason, figures,
                       p_now
                FROM c ORDER BY member_id
                RETURNING id, member_id, grade_from, grade_to),
            told AS (
                INSERT INTO notification (member_id, channel, address, message, dedupe_key, due_at)
                SELECT made.member_id,
                       CASE WHEN cu.phone IS NOT NULL THEN 'SMS' WHEN cu.email IS NOT NULL THEN 'EMAIL'
                            ELSE 'CALLBACK' END,
                       coalesce(cu.phone, cu.email),
                       format('Your club grade is now %s (it was %s).', gt.name, gf.name), 'grade:' || made.id, p_now
                FROM made JOIN member m ON m.id = made.member_id JOIN customer cu ON cu.id = m.customer_id
                JOIN grade gf ON gf.code = made.grade_from JOIN grade gt ON gt.code = made.grade_to
                WHERE gf.rank <> gt.rank)
            SELECT count(*) INTO recorded FROM made;
            RETURN recorded;
        END $$""",
    "membership_end(bigint[], bigint, timestamp with time zone)": """
        -- Memberships end (cards and members locked by the caller): each usable card is cancelled with the reason
        -- MEMBERSHIP_ENDED, as ending a membership by hand does; the points and their history stay.
        CREATE FUNCTION membership_end(p_member_ids bigint[], p_staff_id bigint, p_now timestamptz) RETURNS integer
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            ended integer;
        BEGIN
            WITH cards AS (
                SELECT c.number, c.state FROM card c
                WHERE c.member_id = ANY(p_member_ids) AND c.state IN ('ACTIVE', 'LOST')),
            cancelled AS (
                UPDATE card c SET state = 'CANCELLED', updated_at = p_now FROM cards
                WHERE c.number = cards.number
                RETURNING c.number, c.card_type, c.branch_id, c.member_id, cards.state AS before)
            INSERT INTO card_event (card_number, card_type, action, state_before, state_after, branch_id, member_id,
                                    staff_id, channel, reason)
            SELECT number, card_type, 'CANCEL', before, 'CANCELLED', branch_id, member_id, p_staff_id, 'SYSTEM',
                   'MEMBERSHIP_ENDED'
            FROM cancelled;
            UPDATE member SET status = 'ENDED', grace_ends_on = NULL, updated_at = p_now
            WHERE id = ANY(p_member_ids) AND status <> 'ENDED';
            GET DIAGNOSTICS ended = ROW_COUNT;
            RETURN ended;
        END $$""",
    "grade_apply(bigint[], bigint, bigint, text, date, timestamp with time zone, integer)": """
        -- Apply proposals (those still PENDING or IN_GRACE): an ADMIT makes the member (number from the
        -- sequence, the proposal's club, membership of p_years from p_today), a REVOKE ends the membership and
        -- cancels its usable card, the others move the grade. A proposal whose member's grade (or membership)
        -- changed since it was made LAPSES. Answers how many were applied.
        CREATE FUNCTION grade_apply(p_ids bigint[], p_staff_id bigint, p_run_id bigint, p_reason text,
                                    p_today date, p_now timestamptz, p_years integer) RETURNS integer
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            open bigint[];
            applied integer;
        BEGIN
            SELECT array_agg(id ORDER BY id) INTO open FROM (
                SELECT id FROM grade_proposal WHERE id = ANY(p_ids) AND state IN ('PENDING', 'IN_GRACE')
                ORDER BY id FOR UPDATE) AS locked;
            IF open IS NULL THEN
                RETURN 0;
            END IF;
            -- Cards before their members, as every card operation locks them: the two never wait in a cycle.
            PERFORM 1 FROM card WHERE member_id IN (SELECT member_id FROM grade_proposal WHERE id = ANY(open))
                ORDER BY number FOR NO KEY UPDATE;
            PERFORM 1 FROM member WHERE id IN (SELECT member_id FROM grade_proposal WHERE id = ANY(open))
                ORDER BY id FOR NO KEY UPDATE;
            -- An admission waits for a concurrent createMember of the customer (which locks it), then lapses.
            PERFORM 1 FROM customer WHERE id IN (SELECT customer_id FROM grade_proposal
                                                WHERE id = ANY(open) AND kind = 'ADMIT')
                ORDER BY id FOR NO KEY UPDATE;
            UPDATE grade_proposal p SET state = 'LAPSED', decided_by = p_staff_id, decided_at = p_now,
                   reason = 'The membership or the grade changed since the review.'
            WHERE p.id = ANY(open) AND (CASE
                WHEN p.member_id IS NULL THEN EXISTS (SELECT 1 FROM member m WHERE m.customer_id = p.customer_id)
                ELSE NOT EXISTS (SELECT 1 FROM member m WHERE m.id = p.member_id AND m.grade_code = p.grade_from
                                 AND m.status <> 'ENDED') END
                OR p.grade_to IS NOT NULL AND NOT EXISTS (SELECT 1 FROM grade g WHERE g.code = p.grade_to
                                                          AND g.status = 'ACTIVE'));
            WITH admitted AS (
                INSERT INTO member (member_number, customer_id, club_id, branch_id, grade_code, joined_on,
                                    valid_until)
                SELECT nextval('member_number_seq')::text, p.customer_id, p.club_id, cl.branch_id, p.grade_to,
                       p_today, (p_today + make_interval(years => p_years))::date - 1
                FROM grade_proposal p JOIN club cl ON cl.id = p.club_id
                WHERE p.id = ANY(open) AND p.kind = 'ADMIT' AND p.state <> 'LAPSED'
                ORDER BY p.id
                RETURNING id, customer_id),
            balances AS (INSERT INTO points_balance (member_id) SELECT id FROM admitted)
            UPDATE grade_proposal p SET member_id = admitted.id
            FROM admitted WHERE p.id = ANY(open) AND p.customer_id = admitted.customer_id;
            PERFORM membership_end(array_agg(member_id), p_staff_id, p_now) FROM grade_proposal
            WHERE id = ANY(open) AND kind = 'REVOKE' AND state <> 'LAPSED';
            PERFORM grade_record(jsonb_agg(jsonb_build_object(
                        'member_id', member_id, 'grade_from', grade_from,
                        'grade_to', CASE WHEN kind = 'REVOKE' THEN NULL ELSE grade_to END,
                        'kind', kind, 'proposal_id', id, 'figures', figures) ORDER BY id),
                    p_staff_id, p_run_id, coalesce(p_reason, 'The qualification review of ' || min(as_of)), p_now)
            FROM grade_proposal WHERE id = ANY(open) AND state <> 'LAPSED';
            UPDATE grade_proposal SET state = 'APPLIED', decided_by = p_staff_id, decided_at = p_now,
                   reason = coalesce(p_reason, reason)
            WHERE id = ANY(open) AND state <> 'LAPSED';
            GET DIAGNOSTICS applied = ROW_COUNT;
            RETURN applied;
        END $$""",
    "grade_review_chunk(bigint, date, bigint, bigint, text[], text, integer, text[], date, timestamptz, integer)": """
        -- One chunk of the qualification review as of p_as_of: a proposal per customer whose grade would
        -- change (once per as-of date: a rerun proposes nothing new), in the state the policy gives it —
        -- a downgrade SUPPRESSED_BY_POLICY, or IN_GRACE until p_grace_months after the first review that found
        -- it (its member warned), then PENDING; the kinds of p_auto applied at once. Answers the counts.
        CREATE FUNCTION grade_review_chunk(p_run_id bigint, p_as_of date, p_first bigint, p_before bigint,
                                           p_auto text[], p_downgrades text, p_grace_months integer,
                                           p_earning text[], p_today date, p_now timestamptz, p_years integer)
        RETURNS jsonb
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            made jsonb;
            reviewed bigint[];
            due bigint[];
        BEGIN
            WITH d AS (SELECT * FROM grade_decisions(p_first, p_before, p_as_of, p_earning)),
            k AS (
                SELECT d.*, CASE
                    WHEN d.member_id IS NULL THEN CASE WHEN d.grade_to IS NOT NULL AND d.club_id IS NOT NULL
                                                       THEN 'ADMIT' END
                    WHEN d.grade_to IS NULL THEN 'REVOKE'
                    WHEN gt.rank < gf.rank THEN 'UPGRADE'
                    WHEN gt.rank > gf.rank THEN 'DOWNGRADE' END AS kind,
                    (SELECT min(g.applies_on) FROM grade_proposal g  -- a grace under way goes on
                     WHERE g.customer_id = d.customer_id AND g.kind = 'DOWNGRADE' AND g.as_of < p_as_of
                       AND g.state IN ('IN_GRACE', 'PENDING') AND g.grade_from = d.grade_from) AS grace_ends
                FROM d LEFT JOIN grade gf ON gf.code = d.grade_from LEFT JOIN grade gt ON gt.code = d.grade_to),
            proposed AS (
                INSERT INTO grade_proposal (run_id, as_of, customer_id, member_id, branch_id, club_id, kind,
                                            grade_from, grade_to, rule_id, figures, state, applies_on)
                SELECT p_run_id, p_as_of, customer_id, member_id, branch_id, club_id, kind, grade_from, grade_to,
                       rule_id, figures,
                       CASE WHEN kind <> 'DOWNGRADE' THEN 'PENDING'
                            WHEN p_downgrades = 'NOT_APPLIED' THEN 'SUPPRESSED_BY_POLICY'
                            WHEN coalesce(grace_ends, (p_as_of + make_interval(months => p_grace_months))::date)
                                 <= p_as_of THEN 'PENDING'
                            ELSE 'IN_GRACE' END,
                       CASE WHEN kind = 'DOWNGRADE' AND p_downgrades = 'AFTER_GRACE'
                            THEN coalesce(grace_ends, (p_as_of + make_interval(months => p_grace_months))::date) END
                FROM k WHERE kind IS NOT NULL ORDER BY customer_id
                ON CONFLICT (as_of, customer_id) DO NOTHING
                RETURNING id, customer_id, member_id, kind, state, grade_from, grade_to, applies_on)
            SELECT coalesce((SELECT jsonb_agg(proposed) FROM proposed), '[]'),
                   coalesce((SELECT array_agg(customer_id) FROM d), '{}')
            INTO made, reviewed;
            -- Proposals of earlier reviews still open end with this one: SUPERSEDED by its new proposal (a grace
            -- goes on in it), or LAPSED when the customer's grade no longer changes.
            UPDATE grade_proposal g SET decided_at = p_now,
                   state = CASE WHEN EXISTS (SELECT 1 FROM jsonb_to_recordset(made) AS n(customer_id bigint)
                                             WHERE n.customer_id = g.customer_id)
                                THEN 'SUPERSEDED' ELSE 'LAPSED' END,
                   reason = 'Decided again by the review of ' || p_as_of
            WHERE g.customer_id >= p_first AND g.customer_id < p_before AND g.as_of < p_as_of
              AND g.state IN ('PENDING', 'IN_GRACE')
              AND g.customer_id = ANY(reviewed);
            INSERT INTO notification (member_id, channel, address, message, dedupe_key, due_at)
            SELECT n.member_id,
                   CASE WHEN cu.phone IS NOT NULL THEN 'SMS' WHEN cu.email IS NOT NULL THEN 'EMAIL' ELSE 'CALLBACK'
                   END,
                   coalesce(cu.phone, cu.email),
                   format('Your club grade will change from %s to %s on %s unless you qualify again.', gf.name,
                          gt.name, n.applies_on),
                   'grade-grace:' || n.member_id || ':' || n.applies_on, p_now
            FROM jsonb_to_recordset(made) AS n(customer_id bigint, member_id bigint, state text, grade_from text,
                                               grade_to text, applies_on date)
            JOIN customer cu ON cu.id = n.customer_id
            JOIN grade gf ON gf.code = n.grade_from JOIN grade gt ON gt.code = n.grade_to
            WHERE n.state = 'IN_GRACE'
            ON CONFLICT (dedupe_key) DO NOTHING;
            SELECT array_agg(n.id ORDER BY n.id) INTO due
            FROM jsonb_to_recordset(made) AS n(id bigint, kind text, state text)
            WHERE n.state = 'PENDING' AND n.kind = ANY(p_auto);
            RETURN (
                SELECT jsonb_build_object(
                           'customers', cardinality(reviewed),
                           'proposals', count(*),
                           'admit', count(*) FILTER (WHERE n.kind = 'ADMIT'),
                           'upgrade', count(*) FILTER (WHERE n.kind = 'UPGRADE'),
                           'downgrade', count(*) FILTER (WHERE n.kind = 'DOWNGRADE'),
                           'revoke', count(*) FILTER (WHERE n.kind = 'REVOKE'),
                           'suppressed', count(*) FILTER (WHERE n.state = 'SUPPRESSED_BY_POLICY'),
                           'in_grace', count(*) FILTER (WHERE n.state = 'IN_GRACE'),
                           'applied', CASE WHEN due IS NULL THEN 0
                                           ELSE grade_apply(due, NULL, p_run_id, NULL, p_today, p_now, p_years) END)
                FROM jsonb_to_recordset(made) AS n(kind text, state text));
        END $$""",
    "annual_review_chunk(bigint, date, bigint, bigint, integer, integer, text[], timestamptz)": """
        -- One chunk of the annual review as of p_as_of [G6], once per (member, date): a member whose validity
        -- ended, or who qualifies for no grade, loses the membership — at once (p_grace_months 0) or after a
        -- grace (status GRACE until its end; a later review ends it, unless they qualify again by then); the
        -- others are kept, and a validity ending within a year of the review is extended by a year. An ended
        -- member's cards are cancelled and their points expire p_kept_days after the review at the latest (the
        -- expiry run writes them to breakage).
        CREATE FUNCTION annual_review_chunk(p_run_id bigint, p_as_of date, p_first bigint, p_before bigint,
                                            p_grace_months integer, p_kept_days integer, p_earning text[],
                                            p_now timestamptz) RETURNS jsonb
        LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
        DECLARE
            done jsonb;
            ended bigint[];
        BEGIN
            -- The chunk's members locked first (cards before their members, as every card operation locks them),
            -- then decided on what they are now: a membership ended meanwhile is not brought back.
            PERFORM 1 FROM card c JOIN member m ON m.id = c.member_id
                WHERE m.customer_id >= p_first AND m.customer_id < p_before AND m.status <> 'ENDED'
                ORDER BY c.number FOR NO KEY UPDATE OF c;
            PERFORM 1 FROM member
                WHERE customer_id >= p_first AND customer_id < p_before AND status <> 'ENDED'
                ORDER BY id FOR NO KEY UPDATE;
            WITH d AS (
                SELECT d.member_id, d.member_status, d.grade_from, d.grade_to, d.figures, m.valid_until,
                       m.grace_ends_on
                FROM grade_decisions(p_first, p_before, p_as_of, p_earning) d JOIN member m ON m.id = d.member_id),
            decided AS (
                SELECT d.*, CASE
                    WHEN grace_ends_on <= p_as_of THEN 'ENDED'
                    WHEN valid_until >= p_as_of AND grade_to IS NOT NULL
                         AND valid_until < (p_as_of + interval '1 year')::date THEN 'EXTENDED'
                    WHEN valid_until >= p_as_of AND grade_to IS NOT NULL THEN 'KEPT'
                    WHEN grace_ends_on IS NOT NULL THEN NULL  -- in its grace still
                    WHEN p_grace_months = 0 THEN 'ENDED'
                    ELSE 'GRACE' END AS outcome
                FROM d),
            recorded AS (
                INSERT INTO annual_review_outcome (member_id, as_of, outcome, run_id)
                SELECT member_id, p_as_of, outcome, p_run_id FROM decided WHERE outcome IS NOT NULL
                ORDER BY member_id
                ON CONFLICT DO NOTHING
                RETURNING member_id, outcome)
            SELECT coalesce(jsonb_agg(jsonb_build_object('member_id', r.member_id, 'outcome', r.outcome,
                                                         'grade_from', d.grade_from, 'grade_to', CASE
                                                         WHEN r.outcome = 'ENDED' THEN NULL ELSE d.grade_from END,
                                                         'kind', 'ANNUAL_REVIEW', 'figures', d.figures)), '[]')
            INTO done FROM recorded r JOIN decided d ON d.member_id = r.member_id;
            UPDATE member m SET valid_until = CASE WHEN x.outcome <> 'EXTENDED' THEN m.valid_until
                                                   ELSE (m.valid_until + interval '1 year')::date END,
                   status = CASE WHEN m.status = 'GRACE' THEN 'ACTIVE' ELSE m.status END, grace_ends_on = NULL,
                   updated_at = p_now
            FROM jsonb_to_recordset(done) AS x(member_id bigint, outcome text)
            WHERE m.id = x.member_id AND x.outcome IN ('EXTENDED', 'KEPT');
            UPDATE member m SET status = CASE WHEN m.status = 'ACTIVE' THEN 'GRACE' ELSE m.status END,  -- a
                   updated_at = p_now,                                               -- suspension stays
                   grace_ends_on = (p_as_of + make_interval(months => p_grace_months))::date
            FROM jsonb_to_recordset(done) AS x(member_id bigint, outcome text)
            WHERE m.id = x.member_id AND x.outcome = 'GRACE';
            SELECT array_agg(member_id) INTO ended FROM jsonb_to_recordset(done) AS x(member_id bigint, outcome text)
            WHERE outcome = 'ENDED';
            IF ended IS NOT NULL THEN
                PERFORM membership_end(ended, NULL, p_now);
                UPDATE points_lot SET expires_on = least(expires_on, p_as_of + p_kept_days)
                WHERE member_id = ANY(ended) AND remaining > 0;
            END IF;
            PERFORM grade_record(jsonb_agg(x), NULL, p_run_id, CASE outcome
                        WHEN 'ENDED' THEN 'Membership ended by the annual review of ' || p_as_of
                        WHEN 'GRACE' THEN 'Grace until ' || (p_as_of + make_interval(months => p_grace_months))::date
                                          || ' by the annual review of ' || p_as_of
                        WHEN 'KEPT' THEN 'Kept by the annual review of ' || p_as_of
                        ELSE 'Extended by a year by the annual review of ' || p_as_of END, p_now)
            FROM jsonb_array_elements(done) x, LATERAL (SELECT x ->> 'outcome' AS outcome) o
            GROUP BY outcome;
            RETURN (SELECT jsonb_build_object(
                        'members', jsonb_array_length(done),
                        'extended', count(*) FILTER (WHERE x ->> 'outcome' = 'EXTENDED'),
                        'kept', count(*) FILTER (WHERE x ->> 'outcome' = 'KEPT'),
                        'grace', count(*) FILTER (WHERE x ->> 'outcome' = 'GRACE'),
                        'ended', count(*) FILTER (WHERE x ->> 'outcome' = 'ENDED'))
                    FROM jsonb_array_elements(done) x);
        END $$""",
}


def upgrade() -> None:
    op.add_column("grade", sa.Column("service_standards", sa.String(length=2000), server_default="", nullable=False))
    op.add_column(
        "grade",
        sa.Column(
            "status",
            sa.Enum("ACTIVE", "RETIRED", name="status", native_enum=False, create_constraint=True, length=32),
            server_default="ACTIVE",
            nullable=False,
        ),
    )
    op.add_column(
        "customer",
        sa.Column(
            "importance",
            sa.Enum("NORMAL", "KEY", "VIP", name="importance", native_enum=False, create_constraint=True, length=32),
            server_default="NORMAL",
            nullable=False,
        ),
    )
    op.add_column("member", sa.Column("grace_ends_on", sa.Date(), nullable=True))
    op.drop_constraint(op.f("ck_member_status"), "member", type_="check")
    op.create_check_constraint(
        op.f("ck_member_status"), "member", "status IN ('ACTIVE', 'SUSPENDED', 'GRACE', 'ENDED')"
    )
    op.create_table(
        "annual_review_outcome",
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("outcome", sa.Enum("EXTENDED", "KEPT", "GRACE", "ENDED", name="outcome", native_enum=False,
                                     create_constraint=True, length=32), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("member_id", "as_of", name=op.f("pk_annual_review_outcome")),
    )  # fmt: skip
    op.create_table(
        "customer_importance_change",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "importance_before",
            sa.Enum("NORMAL", "KEY", "VIP", name="importance_before", native_enum=False, create_constraint=True,
                    length=32),
            nullable=False,
        ),  # fmt: skip
        sa.Column(
            "importance_after",
            sa.Enum("NORMAL", "KEY", "VIP", name="importance_after", native_enum=False, create_constraint=True,
                    length=32),
            nullable=False,
        ),  # fmt: skip
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"],
                                name=op.f("fk_customer_importance_change_customer_id_customer")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_customer_importance_change_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_importance_change")),
    )  # fmt: skip
    op.create_index(op.f("ix_customer_importance_change_customer_id"), "customer_importance_change", ["customer_id"])
    op.create_table(
        "grade_rule",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("grade_code", sa.String(length=32), nullable=False),
        sa.Column("branch_id", sa.BigInteger(), nullable=False),
        sa.Column("window_months", sa.Integer(), nullable=False),
        sa.Column("alternatives", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("window_months BETWEEN 1 AND 36", name=op.f("ck_grade_rule_window_months_in_range")),
        sa.ForeignKeyConstraint(["branch_id"], ["branch.id"], name=op.f("fk_grade_rule_branch_id_branch")),
        sa.ForeignKeyConstraint(["grade_code"], ["grade.code"], name=op.f("fk_grade_rule_grade_code_grade")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grade_rule")),
    )
    op.create_index("ix_grade_rule_grade_branch", "grade_rule", ["grade_code", "branch_id", "effective_from"])
    op.create_table(
        "grade_rule_change",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["rule_id"], ["grade_rule.id"], name=op.f("fk_grade_rule_change_rule_id_grade_rule")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_grade_rule_change_staff_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grade_rule_change")),
    )
    op.create_index(op.f("ix_grade_rule_change_rule_id"), "grade_rule_change", ["rule_id"])
    kinds = ("ADMIT", "UPGRADE", "DOWNGRADE", "REVOKE")
    states = ("PENDING", "APPLIED", "REJECTED", "SUPPRESSED_BY_POLICY", "IN_GRACE", "LAPSED", "SUPERSEDED")
    op.create_table(
        "grade_proposal",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("branch_id", sa.BigInteger(), nullable=False),
        sa.Column("club_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.Enum(*kinds, name="kind", native_enum=False, create_constraint=True, length=32),
                  nullable=False),
        sa.Column("grade_from", sa.String(length=32), nullable=True),
        sa.Column("grade_to", sa.String(length=32), nullable=True),
        sa.Column("rule_id", sa.BigInteger(), nullable=True),
        sa.Column("figures", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("state", sa.Enum(*states, name="state", native_enum=False, create_constraint=True, length=32),
                  nullable=False),
        sa.Column("applies_on", sa.Date(), nullable=True),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grade_proposal")),
        sa.UniqueConstraint("as_of", "customer_id", name="uq_grade_proposal_as_of_customer"),
    )  # fmt: skip
    op.create_index("ix_grade_proposal_state_branch", "grade_proposal", ["state", "branch_id", "id"])
    op.create_index("ix_grade_proposal_member", "grade_proposal", ["member_id", "id"],
                    postgresql_where=sa.text("member_id IS NOT NULL"))  # fmt: skip
    change_kinds = (*kinds, "MANUAL", "ANNUAL_REVIEW")
    op.create_table(
        "grade_change",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("grade_from", sa.String(length=32), nullable=True),
        sa.Column("grade_to", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.Enum(*change_kinds, name="kind", native_enum=False, create_constraint=True, length=32),
                  nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("proposal_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("figures", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grade_change")),
    )  # fmt: skip
    op.create_index("ix_grade_change_member", "grade_change", ["member_id", "id"])
    op.create_table(
        "grade_change_batch",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("grade_to", sa.String(length=32), nullable=False),
        sa.Column("filter", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grade_change_batch")),
    )
    for definition in FUNCTIONS.values():
        op.execute(definition)


def downgrade() -> None:
    for signature in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION {signature}")
    op.drop_table("grade_change_batch")
    op.drop_index("ix_grade_change_member", table_name="grade_change")
    op.drop_table("grade_change")
    op.drop_index("ix_grade_proposal_member", table_name="grade_proposal")
    op.drop_index("ix_grade_proposal_state_branch", table_name="grade_proposal")
    op.drop_table("grade_proposal")
    op.drop_index(op.f("ix_grade_rule_change_rule_id"), table_name="grade_rule_change")
    op.drop_table("grade_rule_change")
    op.drop_index("ix_grade_rule_grade_branch", table_name="grade_rule")
    op.drop_table("grade_rule")
    op.drop_index(op.f("ix_customer_importance_change_customer_id"), table_name="customer_importance_change")
    op.drop_table("customer_importance_change")
    op.drop_column("customer", "importance")
    op.drop_table("annual_review_outcome")
    op.execute("UPDATE member SET status = 'ACTIVE' WHERE status = 'GRACE'")
    op.drop_constraint(op.f("ck_member_status"), "member", type_="check")
    op.create_check_constraint(op.f("ck_member_status"), "member", "status IN ('ACTIVE', 'SUSPENDED', 'ENDED')")
    op.drop_column("member", "grace_ends_on")
    op.drop_column("grade", "status")
    op.drop_column("grade", "service_standards")
