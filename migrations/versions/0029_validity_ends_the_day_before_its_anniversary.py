"""a validity ends the day before its anniversary, at month ends and leap days too

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06

Points under EXPIRY_AFTER_MONTHS, a membership admitted by a grade review, and a membership the annual
review extends by a year each ended on `start + interval - 1`. PostgreSQL moves a day the later month does
not have back to that month's last day, and taking a day off that lost one more: points earned on
2026-01-31 for a month ended on 2026-02-27, a membership from 2024-02-29 for a year on 2025-02-27. A validity
of N months from a day now ends the day before its anniversary, an anniversary the month does not have
(29 February in a common year, 31 April) being the 1st of the next month: 2026-02-28 and 2025-02-28. One
function, `validity_end`, says so for every one of them, as `domain.validation.validity_end` does in Python.
"""

from alembic import op

from loyalty.migrate import rewrite_functions

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

VALIDITY_END = """
    -- The last day of a validity of `p_months` months from `p_start`: the day before its anniversary. When the
    -- month has no such day, PostgreSQL answers its last day, the day before the 1st the anniversary rolls to.
    CREATE FUNCTION validity_end(p_start date, p_months integer) RETURNS date
    LANGUAGE sql IMMUTABLE STRICT AS $$
        SELECT CASE WHEN extract(day FROM later) < extract(day FROM p_start) THEN later ELSE later - 1 END
        FROM (SELECT (p_start + make_interval(months => p_months))::date AS later) AS anniversary
    $$"""

# (before, after, function): each end of a validity, as the function wrote it and as it writes it now
CHANGES = [
    (
        "ELSE (p_earned_on + make_interval(months => value::int))::date - 1",
        "ELSE validity_end(p_earned_on, value::int)",
        "points_expiry_date",
    ),
    (
        "p_today, (p_today + make_interval(years => p_years))::date - 1",
        "p_today, validity_end(p_today, 12 * p_years)",
        "grade_apply",
    ),
    (
        "ELSE (m.valid_until + interval '1 year')::date END,",
        "ELSE validity_end(m.valid_until + 1, 12) END,",
        "annual_review_chunk",
    ),
]


def upgrade() -> None:
    op.execute(VALIDITY_END)
    for before, after, function in CHANGES:
        rewrite_functions([(before, after)], (function,))


def downgrade() -> None:
    for before, after, function in CHANGES:
        rewrite_functions([(after, before)], (function,))
    op.execute("DROP FUNCTION validity_end(date, integer)")
