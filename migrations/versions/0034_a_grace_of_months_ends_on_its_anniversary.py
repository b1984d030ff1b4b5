"""a grace of months ends on its anniversary, a day the month lacks rolling to the 1st

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-06

A grace of N months from a review (the annual review's before a membership ends, the grade review's before a
downgrade) ended on `as_of + N months`, which PostgreSQL moves back to the month's last day when the month
lacks the day: a review on 31 January with a month's grace ended it on 28 February, three days short. It now
ends on the anniversary, the day after `validity_end` (0029), so that the 1st of the next month stands for a
day the month lacks (1 March), as a validity of months does.
"""

from loyalty.migrate import rewrite_functions

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

BEFORE = "(p_as_of + make_interval(months => p_grace_months))::date"
AFTER = "(validity_end(p_as_of, p_grace_months) + 1)"
FUNCTIONS = ("grade_review_chunk", "annual_review_chunk")


def upgrade() -> None:
    rewrite_functions([(BEFORE, AFTER)], FUNCTIONS)


def downgrade() -> None:
    rewrite_functions([(AFTER, BEFORE)], FUNCTIONS)
