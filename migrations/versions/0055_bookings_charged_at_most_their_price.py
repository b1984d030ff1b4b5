"""a booking keeps the price it was made at, and a month's run charges no more than that

Revision ID: 0055
Revises: 0054
Create Date: 2026-12-07

A booking was charged the reward's price of the day its month ran: a member who booked 60 minutes at 500 points
paid 1,500 once the price was raised, without a word. A redemption takes `expectedPoints` against just that. A
booking now keeps the reward's price when it is made (`unit_points`), and a run skips a month whose price is
above it (`PRICE_CHANGED`: the member books again at the new price, or the price comes back); a lower price is
charged as it is. Bookings made before take the price of today, the best known of what their members agreed to.
"""

import sqlalchemy as sa
from alembic import op

from loyalty.migrate import rewrite_functions

revision = "0055"
down_revision = "0054"
branch_labels = None
depends_on = None

KIND_CHECKED = (
    "                    WHEN f.kind NOT IN ('BILL_CREDIT', 'CALL_MINUTES', 'CONTENT') THEN 'ITEM_KIND_NOT_OFFERED'\n"
)
CHANGES = [
    (
        "                FROM auto_pass a\n                JOIN member m ON m.id = a.member_id\n",
        "                FROM auto_pass a\n                JOIN auto_redemption booked ON booked.id = a.booking_id\n"
        "                JOIN member m ON m.id = a.member_id\n",
    ),
    ("i.points_price * a.quantity AS cost,", "i.points_price * a.quantity AS cost, booked.unit_points AS booked,"),
    (KIND_CHECKED, KIND_CHECKED + "                    WHEN f.points_price > f.booked THEN 'PRICE_CHANGED'\n"),
]


def upgrade() -> None:
    op.add_column("auto_redemption", sa.Column("unit_points", sa.BigInteger(), nullable=True))
    op.execute("UPDATE auto_redemption a SET unit_points = i.points_price FROM reward_item i WHERE i.id = a.item_id")
    rewrite_functions(CHANGES, ("auto_redeem_check",), each_once=True)


def downgrade() -> None:
    rewrite_functions([(new, old) for old, new in CHANGES], ("auto_redeem_check",), each_once=True)
    op.drop_column("auto_redemption", "unit_points")
