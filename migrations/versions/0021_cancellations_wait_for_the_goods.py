"""a cancellation locks the redemption's goods before it reads their state

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06

`cancel_redemption` read the state of the redemption's gift pick-ups and billing deliveries without a lock,
then changed them. A hand-over committed meanwhile (a counter agent giving the gift) or a delivery under way
(the billing gateway answering while the row is locked) was then overwritten: the member kept the gift or the
credit and had the points back. The cancellation now locks the pick-ups and deliveries first (before the
balance: a delivery holds its rows for as long as the gateway takes, and no balance should wait on it), so a
hand-over or delivery under way ends before their states are read, and none begins until the cancellation
ends.
"""

from loyalty.migrate import rewrite_functions

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


CANCEL = ("cancel_redemption",)
BALANCE_FIRST = "            INSERT INTO points_balance (member_id) VALUES (r.member_id) ON CONFLICT DO NOTHING;\n"
GOODS_FIRST = (
    "            -- the goods first: a hand-over or a delivery under way ends before their state is read below,\n"
    "            -- and none begins until this cancellation ends\n"
    "            PERFORM 1 FROM gift_pickup WHERE redemption_id = r.id ORDER BY id FOR UPDATE;\n"
    "            PERFORM 1 FROM fulfilment WHERE redemption_id = r.id ORDER BY id FOR UPDATE;\n" + BALANCE_FIRST
)


def upgrade() -> None:
    rewrite_functions([(BALANCE_FIRST, GOODS_FIRST)], CANCEL)


def downgrade() -> None:
    rewrite_functions([(GOODS_FIRST, BALANCE_FIRST)], CANCEL)
