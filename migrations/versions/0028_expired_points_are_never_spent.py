"""points whose last day has passed are never spent, whether or not the day's expiry has run

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06

Lots that ended yesterday stayed spendable until `loyalty expire` moved them to breakage: a redemption in
the small hours drew on them first (they expire soonest), a quote counted them as available, and the
expiry run then found nothing left to expire. A debit now counts as available only what lots still valid
on its day hold (`points_expired`: what the others still hold, until the expiry run moves it) and draws
only on those; the same for a quote (its lots too), a redemption and the monthly booked redemptions. Expiry
itself still draws on exactly the lots that ended. And an ended member's lots end by the annual review's
date all of them, emptied ones too: points given back to them later (a cancellation) end with the rest.
"""

from alembic import op

from loyalty.migrate import rewrite_functions

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

EXPIRED = """
    -- What a member's lots that ended before `p_day` still hold: points never spent, waiting for the
    -- expiry run to move them to breakage. PL/pgSQL, so that its statement's plan is kept by the connection.
    CREATE FUNCTION points_expired(p_member_id bigint, p_day date) RETURNS bigint
    LANGUAGE plpgsql STABLE AS $$
        BEGIN
            RETURN coalesce((SELECT sum(remaining) FROM points_lot
                             WHERE member_id = p_member_id AND remaining > 0 AND expires_on < p_day), 0);
        END $$"""

_LOCKED = (
    "                SELECT posted - held INTO available FROM points_balance WHERE member_id = p_member_id"
    " FOR UPDATE;\n"
)
_AVAILABLE = (
    "            available := coalesce((SELECT posted - held FROM points_balance WHERE member_id = p_member_id), 0)"
)
# function → [(its text before, after)]
CHANGES = {
    "points_move": [
        (
            "            available bigint;\n            filled bigint;\n",
            "            available bigint;\n"
            "            expired bigint := 0;  -- held by lots that ended before the day: never spent\n"
            "            filled bigint;\n",
        ),
        (
            """            UPDATE points_balance SET posted = posted + p_points, updated_at = now()
            WHERE member_id = p_member_id AND (p_points >= 0 OR posted - held >= -p_points);""",
            """            IF p_points < 0 AND p_expired_before IS NULL THEN
                expired := points_expired(p_member_id, p_effective_on);
            END IF;
            UPDATE points_balance SET posted = posted + p_points, updated_at = now()
            WHERE member_id = p_member_id AND (p_points >= 0 OR posted - held - expired >= -p_points);""",
        ),
        (
            _LOCKED,
            _LOCKED
            + """                IF p_points < 0 AND p_expired_before IS NULL THEN  -- again, under the balance's lock
                    available := available - points_expired(p_member_id, p_effective_on);
                END IF;
""",
        ),
        (
            "                      AND (p_expired_before IS NULL OR expires_on < p_expired_before)",
            "                      AND (p_expired_before IS NULL AND expires_on >= p_effective_on"
            " OR expires_on < p_expired_before)",
        ),
    ],
    "redemption_check": [
        (_AVAILABLE + ";", _AVAILABLE + "\n                         - points_expired(p_member_id, p_today);")
    ],
    "auto_redeem_check": [
        (
            "bal.posted - bal.held AS available,",
            "bal.posted - bal.held - points_expired(a.member_id, p_today) AS available,",
        )
    ],
    "quote_redemption": [
        (
            "FROM points_lot WHERE member_id = p_member_id AND remaining > 0\n",
            "FROM points_lot WHERE member_id = p_member_id AND remaining > 0 AND expires_on >= p_today\n",
        )
    ],
    "annual_review_chunk": [  # an ended member's points: every lot, so that points given back later end too
        (
            "WHERE member_id = ANY(ended) AND remaining > 0;",
            "WHERE member_id = ANY(ended) AND expires_on > p_as_of + p_kept_days;",
        )
    ],
    "auto_redeem_write": [
        (
            "FROM auto_pass p JOIN points_lot l ON l.member_id = p.member_id AND l.remaining > 0\n",
            "FROM auto_pass p JOIN points_lot l ON l.member_id = p.member_id AND l.remaining > 0\n"
            "                                             AND l.expires_on >= p_today\n",
        )
    ],
}


def upgrade() -> None:
    op.execute(EXPIRED)
    for name, changes in CHANGES.items():
        rewrite_functions(list(changes), (name,))


def downgrade() -> None:
    for name, changes in reversed(CHANGES.items()):
        rewrite_functions([(after, before) for before, after in reversed(changes)], (name,))
    op.execute("DROP FUNCTION points_expired(bigint, date)")
