"""the bookings' run reads the consumption rules once per grade and reward

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06

`auto_redeem_check` finds the smallest balance the consumption rules in force ask of each grade and reward in
a pass (`minima`). PostgreSQL inlined that step into the query that judges every booking, and so evaluated
the rules' subquery once per booking and per place it is named: about 60 ms of a chunk of 10,000 bookings
(the checks 178 ms of it). Materialised, it is evaluated once per grade and reward of the pass (112 ms).
"""

from loyalty.migrate import rewrite_functions

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


CHECK = ("auto_redeem_check",)
INLINED, MATERIALISED = "minima AS (", "minima AS MATERIALIZED ("


def upgrade() -> None:
    rewrite_functions([(INLINED, MATERIALISED)], CHECK)


def downgrade() -> None:
    rewrite_functions([(MATERIALISED, INLINED)], CHECK)
