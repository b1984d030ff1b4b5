"""a credit whose lot has ended is not reversed, whether the expiry run has moved its points yet or not

Revision ID: 0049
Revises: 0048
Create Date: 2026-12-07

Between a lot's last day and the day's expiry run, a credit of it could still be reversed: its expired points went
back to the issuing account, not to breakage, and the figures of the points' cost said so. Such a credit is
refused as one whose points were spent or expired.
"""

from loyalty.migrate import rewrite_functions

revision = "0049"
down_revision = "0048"
branch_labels = None
depends_on = None

CHANGES = [
    ("            left_in_lot bigint;\n", "            left_in_lot bigint;\n            lot_ends date;\n"),
    (
        "SELECT remaining INTO left_in_lot FROM points_lot",
        "SELECT remaining, expires_on INTO left_in_lot, lot_ends FROM points_lot",
    ),
    (
        "IF left_in_lot < original.points THEN",
        "IF left_in_lot < original.points OR lot_ends < p_today THEN  -- ended: expired",
    ),
]


def upgrade() -> None:
    rewrite_functions(CHANGES, ("points_reverse",), each_once=True)


def downgrade() -> None:
    rewrite_functions([(new, old) for old, new in CHANGES], ("points_reverse",), each_once=True)
