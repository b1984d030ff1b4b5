"""a grace of months ends on its anniversary, a day the month lacks rolling to the 1st

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-06

A grace of N months from a review (the annual review's before a membership ends, the grade review's before a
downgrade) ended on `as_of + N months`, which PostgreSQL moves back to the month's last day when the month
lacks the day: a review on 31 January with a month's grace ended it on 28 February, three days short. It now
ends on the anniversary, the day after `validity_end` (0029), so that the 1st of the next month stands for a
day the month lacks (1 March), as a validity of months does. The annual review extends a validity that ends
before the review's anniversary a year on (from 29 February 2028: one ending 28 February 2029 too), and its
history names the day the grace ends as the day the membership ends on.
"""

from loyalty.migrate import rewrite_functions

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

GRACE_ENDS = (
    "(p_as_of + make_interval(months => p_grace_months))::date",
    "(validity_end(p_as_of, p_grace_months) + 1)",
)
# (before, after, function)
CHANGES = [
    (*GRACE_ENDS, "grade_review_chunk"),
    (*GRACE_ENDS, "annual_review_chunk"),
    # a validity that ends before the review's anniversary a year on is extended (29 February: 1 March)
    (
        "valid_until < (p_as_of + interval '1 year')::date",
        "valid_until <= validity_end(p_as_of, 12)",
        "annual_review_chunk",
    ),
    # the day is the first the membership is ended on, not the last it is kept
    ("'Grace until ' || ", "'In grace: the membership ends on ' || ", "annual_review_chunk"),
]


def upgrade() -> None:
    for before, after, function in CHANGES:
        rewrite_functions([(before, after)], (function,))


def downgrade() -> None:
    for before, after, function in reversed(CHANGES):
        rewrite_functions([(after, before)], (function,))
