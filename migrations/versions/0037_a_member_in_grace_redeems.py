"""a member in grace redeems, whatever their validity, until the annual review ends the membership

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07

A member the annual review put in grace "uses the club as an ACTIVE member until the first annual review on or
after the day the grace ends" (the API and operations guides; `domain/members/states.py` lets GRACE spend). A
grace begins when the validity has ended, or when the member qualifies for no grade; in the first case a
redemption, and every booked one, was refused `MEMBERSHIP_EXPIRED` for the whole grace. The validity is no
longer checked for a member in grace: the annual review ends the membership, and with it the spending.
"""

from loyalty.migrate import rewrite_functions

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None

# (before, after, function)
CHANGES = [
    (
        "            IF m.valid_until < p_today THEN\n",
        "            IF m.valid_until < p_today AND m.status <> 'GRACE' THEN  -- GRACE: until the review ends it\n",
        "redemption_check",
    ),
    (
        "                    WHEN f.valid_until < p_today THEN 'MEMBERSHIP_EXPIRED'\n",
        "                    WHEN f.valid_until < p_today AND f.status <> 'GRACE' THEN 'MEMBERSHIP_EXPIRED'\n",
        "auto_redeem_check",
    ),
]


def upgrade() -> None:
    for before, after, function in CHANGES:
        rewrite_functions([(before, after)], (function,), each_once=True)


def downgrade() -> None:
    for before, after, function in CHANGES:
        rewrite_functions([(after, before)], (function,), each_once=True)
