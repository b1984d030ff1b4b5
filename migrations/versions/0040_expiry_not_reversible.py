"""an expiry is not reversed: its points would go back to lots that have ended

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-07

Reversing an EXPIRY entry answered as done, but put the points back into the lots they expired from: posted
rose, nothing could be spent, and the next expiry run expired them again. Points expired wrongly are given back
with an adjustment (a new lot, lasting as the rules say); reversing an expiry is refused `EXPIRY_NOT_REVERSIBLE`.
"""

from loyalty.migrate import rewrite_functions

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None

REVERSAL_REFUSED = """            IF original.reverses_id IS NOT NULL THEN
                PERFORM refuse('REVERSAL_NOT_REVERSIBLE', 'A reversal cannot be reversed; record a new entry.',
                               'transaction_id');
            END IF;
"""
EXPIRY_REFUSED = (
    REVERSAL_REFUSED
    + """            IF original.entry_type = 'EXPIRY' THEN
                PERFORM refuse('EXPIRY_NOT_REVERSIBLE', 'Expired points would expire again: give them back with an'
                               ' adjustment, whose lot lasts as the rules say.', 'transaction_id');
            END IF;
"""
)


def upgrade() -> None:
    rewrite_functions([(REVERSAL_REFUSED, EXPIRY_REFUSED)], ("points_reverse",), each_once=True)


def downgrade() -> None:
    rewrite_functions([(EXPIRY_REFUSED, REVERSAL_REFUSED)], ("points_reverse",), each_once=True)
