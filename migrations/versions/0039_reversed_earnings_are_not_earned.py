"""points earned and reversed do not count as earned in a grade review

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-07

A grade rule on points earned in a period [G3] summed the entries of the earning kinds, a bonus reversed as a
mistake included: 100,000 points given in error and reversed still counted, and could upgrade the member. An
earning entry reversed by the review's day counts no more (the figures of a review of an earlier day stay).
"""

from loyalty.migrate import rewrite_functions

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None

EARNED = "                  AND t.entry_type = ANY(p_earning) AND t.points > 0\n"
NOT_REVERSED = EARNED + (
    "                  AND NOT EXISTS (SELECT 1 FROM ledger_transaction r  -- reversed: a mistake, never earned\n"
    "                                  WHERE r.reverses_id = t.id AND r.effective_on <= p_as_of)\n"
)


def upgrade() -> None:
    rewrite_functions([(EARNED, NOT_REVERSED)], ("grade_figures",), each_once=True)


def downgrade() -> None:
    rewrite_functions([(NOT_REVERSED, EARNED)], ("grade_figures",), each_once=True)
