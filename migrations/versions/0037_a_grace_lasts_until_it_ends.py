"""a member in grace uses the club until the grace ends, and a review after it keeps one who qualifies

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07

The annual review puts a member in grace when their validity has ended or they qualify for no grade; "the
membership ends on `grace_ends_on`, and until then works as ACTIVE" (`domain/members/states.py`), and the first
annual review on or after that day ends it "unless they qualify again by then" (the guides). Two things
disagreed:

- Redemptions (and booked ones) judged a member in grace by their validity: one whose grace began because the
  validity ended was refused `MEMBERSHIP_EXPIRED` for the whole grace, and one in grace for not qualifying
  could go on spending after the grace had ended, until a review. A member in grace now spends until the day
  the grace ends, and from that day is refused `MEMBERSHIP_EXPIRED` (naming it).
- The review ended every membership whose grace was over before looking at it: a member who qualified again,
  with a validity not passed (given again by staff), was ended all the same. A review now keeps or extends
  such a member first, ACTIVE again, and ends the others.
"""

from loyalty.migrate import rewrite_functions

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None

# (function, text before, text after)
CHANGES = [
    (
        "redemption_check",
        "            SELECT mb.id, mb.branch_id, mb.grade_code, mb.status, mb.valid_until, mb.customer_id,"
        " g.national_roaming\n",
        "            SELECT mb.id, mb.branch_id, mb.grade_code, mb.status, mb.valid_until, mb.grace_ends_on,"
        " mb.customer_id,\n                   g.national_roaming\n",
    ),
    (
        "redemption_check",
        """            IF m.valid_until < p_today THEN
                troubles := troubles || problem('MEMBERSHIP_EXPIRED', format('The membership was valid until %s.',
                                          m.valid_until), 'member_id');
            END IF;
""",
        """            IF m.status = 'GRACE' AND m.grace_ends_on <= p_today THEN  -- in grace: until the grace ends
                troubles := troubles || problem('MEMBERSHIP_EXPIRED', format('The membership''s grace ended on %s.',
                                          m.grace_ends_on), 'member_id');
            ELSIF m.status <> 'GRACE' AND m.valid_until < p_today THEN
                troubles := troubles || problem('MEMBERSHIP_EXPIRED', format('The membership was valid until %s.',
                                          m.valid_until), 'member_id');
            END IF;
""",
    ),
    (
        "auto_redeem_check",
        "                SELECT a.booking_id, a.quantity, m.status::text AS status, m.valid_until, m.grade_code,"
        " m.branch_id,\n",
        "                SELECT a.booking_id, a.quantity, m.status::text AS status, m.valid_until, m.grace_ends_on,\n"
        "                       m.grade_code, m.branch_id,\n",
    ),
    (
        "auto_redeem_check",
        "                    WHEN f.valid_until < p_today THEN 'MEMBERSHIP_EXPIRED'\n",
        "                    WHEN CASE WHEN f.status = 'GRACE' THEN f.grace_ends_on <= p_today\n"
        "                              ELSE f.valid_until < p_today END THEN 'MEMBERSHIP_EXPIRED'\n",
    ),
    (
        "annual_review_chunk",
        """                    WHEN grace_ends_on <= p_as_of THEN 'ENDED'
                    WHEN valid_until >= p_as_of AND grade_to IS NOT NULL
                         AND valid_until <= validity_end(p_as_of, 12) THEN 'EXTENDED'
                    WHEN valid_until >= p_as_of AND grade_to IS NOT NULL THEN 'KEPT'
""",
        """                    WHEN valid_until >= p_as_of AND grade_to IS NOT NULL
                         AND valid_until <= validity_end(p_as_of, 12) THEN 'EXTENDED'
                    WHEN valid_until >= p_as_of AND grade_to IS NOT NULL THEN 'KEPT'
                    WHEN grace_ends_on <= p_as_of THEN 'ENDED'  -- the grace over, and qualifying no more
""",
    ),
]


def upgrade() -> None:
    for function, before, after in CHANGES:
        rewrite_functions([(before, after)], (function,), each_once=True)


def downgrade() -> None:
    for function, before, after in reversed(CHANGES):
        rewrite_functions([(after, before)], (function,), each_once=True)
