"""Statements per request, points (resolvers/points, and the points lists under a member and a rule)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from domain import clock
from domain.validation import period_days_max
from tests.api import gid
from tests.graphql.cases import CASES
from tests.statement_counts import (
    HeldJobs,
    add_members,
    assert_same_statements,
    assert_statements,
    measure,
    measure_case,
    principal_for,
    transaction_control,
)

# Exactly how many SQL statements each request sends, its authentication included.
STATEMENTS = {
    "adjustPoints": 2,
    "reversePointsTransaction": 2,
    "recordBill": 6,  # with a share of its month's run lock
    "runMonthlyAccrual": 7,
    "createPointsRule": 7,  # with the lock of its kind's rules (`one_at_a_time`)
    "updatePointsRule": 8,  # the same
    "pointsTotals": 2,
    "monthlyAccrualRuns": 5,
    "pointsRules": 4,
    "PointsRule.changes": 5,
    "Member.pointsHistory": 5,
    "Points.expiringSoon": 4,
    "PointsStatement.entries": 6,
}
# Known N+1: these member fields are read member by member (no DataLoader), so a staff member's members
# page costs more per member: the history 2 (the member's branch, for the read check, and the page),
# expiring points 1, a monthly statement 3 (the branch, the opening balance and the entries).
IN_A_MEMBERS_PAGE = {  # a page of 10 at most: a statement's 1,000 entries each are 10,010 list items
    "Member.pointsHistory": {1: 5, 10: 23},
    "Points.expiringSoon": {1: 4, 10: 13},
    "PointsStatement.entries": {1: 5, 10: 32},
}

MUTATIONS = ["adjustPoints", "reversePointsTransaction", "recordBill", "createPointsRule", "updatePointsRule"]


@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_a_successful_mutation_sends_exactly_its_statements(api, statements, mutation):
    # given the demo data and a valid request from an allowed caller (tests/graphql/cases.py)
    # when the caller sends it
    measured = await measure_case(api, statements, mutation)
    # then it succeeded with exactly the recorded number of statements
    assert_statements(mutation, measured, STATEMENTS[mutation])


@pytest.mark.parametrize("mutation", ["adjustPoints", "reversePointsTransaction"])
async def test_a_points_moving_mutation_is_one_round_trip_after_authentication(api, statements, monkeypatch, mutation):
    # given an allowed caller, logged in, and a valid request (tests/graphql/cases)
    who, case = principal_for(mutation), CASES[mutation]
    variables = {"input": await case.make_input(api, who)}
    await api.token(who)
    # when the caller moves points
    with transaction_control(monkeypatch) as sent:
        measured = await measure(api, statements, case.query(), variables, as_=who)
    # then it succeeded with its authentication and one statement, and no BEGIN or COMMIT around it
    assert measured.data(mutation)["errors"] == []
    assert_statements(mutation, measured, 2)
    assert sent == []


async def test_starting_a_monthly_run_sends_exactly_its_statements(api, app, statements):
    # given a bill of September 2026, and the run's background work held back (its statements are not the request's)
    await api.data(
        """mutation($input: RecordBillInput!) { recordBill(input: $input) { errors { code } } }""",
        {"input": {"accountNumber": "80000001", "billingMonth": "2026-09", "amountBilledFen": 100,
                   "amountPaidFen": 100, "dueDate": "2026-09-15", "paidDate": "2026-09-10"}},
        as_="hq_admin",
    )  # fmt: skip
    with HeldJobs(app.state.services.jobs) as jobs:
        # when the headquarters administrator starts the month's run
        measured = await measure_case(api, statements, "runMonthlyAccrual")
        # then it was accepted with exactly the recorded number of statements, and its work waits to start
        assert len(jobs.held) == 1
    assert_statements("runMonthlyAccrual", measured, STATEMENTS["runMonthlyAccrual"])


KEYS = itertools.count()  # idempotency keys, new for every adjustment


def today() -> date:
    """The app's today (domain.clock): adjustments are effective on it."""
    return clock.today()


async def adjust(api, count: int, member: str = "Li Wei", **changes) -> list[str]:
    """`count` goodwill adjustments of the member, effective today: their transaction ids."""
    ids = []
    for _ in range(count):
        answer = await api.data(
            """mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) {
                errors { code } transaction { id } } }""",
            {"input": {"memberId": gid("Member", api.demo.members[member]), "points": 10, "reason": "Goodwill",
                       "idempotencyKey": f"statements-{next(KEYS)}"} | changes},
            as_="hq_admin",
        )  # fmt: skip
        assert answer["adjustPoints"]["errors"] == [], answer
        ids.append(answer["adjustPoints"]["transaction"]["id"])
    return ids


async def reverse(api, transaction_ids: list[str]) -> None:
    for transaction_id in transaction_ids:
        answer = await api.data(
            """mutation($input: ReversePointsTransactionInput!) { reversePointsTransaction(input: $input) {
                errors { code } } }""",
            {"input": {"transactionId": transaction_id, "reason": "Keyed twice", "idempotencyKey": transaction_id}},
            as_="hq_admin",
        )
        assert answer["reversePointsTransaction"]["errors"] == [], answer


HISTORY_PAGE = """query($first: Int) { me { memberNumber
    pointsHistory(first: $first, filter: {entryTypes: [REVERSAL]}) { pageInfo { hasNextPage endCursor }
        edges { cursor node { id entryType points effectiveOn reason createdAt
            staff { username } reverses { id entryType points staff { username } } } } } } }"""


async def test_a_points_history_page_costs_the_same_statements_whatever_its_size(api, statements):
    # given 55 of Li Wei's adjustments, each reversed
    await reverse(api, await adjust(api, 55))
    # when he fetches a page of 1 and a page of 50 of his reversals, each with what it reverses
    by_size = {}
    for first in (1, 50):
        by_size[first] = await measure(api, statements, HISTORY_PAGE, {"first": first}, as_="member")
        assert len(by_size[first].data("me")["pointsHistory"]["edges"]) == first
    # then both cost the same statements
    assert_same_statements("Member.pointsHistory", by_size, STATEMENTS["Member.pointsHistory"])


EXPIRING = "{ me { points { posted held available expiringSoon(days: 90) { points expiresOn } } } }"
STATEMENT = """query($month: Month!) { me { pointsStatement(month: $month) { month opening earned spent closing
    entries { id entryType points effectiveOn reason staff { username } reverses { id } } } } }"""


async def more_expiring_lots(api, count: int, member: str = "Li Wei") -> None:
    """`count` more lots of the member's, expiring on as many days within 90 days (read-only figures)."""
    await api.scalar(
        """INSERT INTO points_lot (member_id, amount, remaining, earned_on, expires_on)
           SELECT :member, 10, 10, :today, CAST(:today AS date) + 1 + (g % 60) FROM generate_series(1, :count) g
           RETURNING 1""",
        member=api.demo.members[member],
        count=count,
        today=today(),
    )


async def more_statement_entries(api, count: int) -> None:
    """`count` more entries of this month, half of them reversals."""
    await reverse(api, (await adjust(api, count))[: count // 2])


@pytest.mark.parametrize(
    ("field", "query", "add", "shown"),
    [
        ("Points.expiringSoon", EXPIRING, more_expiring_lots, lambda me: me["points"]["expiringSoon"]),
        ("PointsStatement.entries", STATEMENT, more_statement_entries, lambda me: me["pointsStatement"]["entries"]),
    ],
)
async def test_a_members_points_lists_cost_the_same_statements_whatever_their_length(
    api, statements, field, query, add, shown
):
    # given Li Wei with a little of it: a lot expiring soon, an adjustment and its reversal this month
    await more_expiring_lots(api, 1)
    await reverse(api, await adjust(api, 1))
    variables = {"month": f"{today():%Y-%m}"} if field == "PointsStatement.entries" else None
    small = await measure(api, statements, query, variables, as_="member")
    # when he has 30 more, and asks again
    await add(api, 30)
    large = await measure(api, statements, query, variables, as_="member")
    # then the longer list cost the same statements
    assert 0 < len(shown(small.data("me"))) < len(shown(large.data("me")))
    assert_same_statements(field, {"short": small, "30 more": large}, STATEMENTS[field])


MEMBERS_PAGE_WITH = {
    "Member.pointsHistory": "pointsHistory(first: 5) { edges { node { entryType points staff { username } } } }",
    "Points.expiringSoon": "points { available expiringSoon(days: 90) { points expiresOn } }",
    "PointsStatement.entries": "pointsStatement(month: $month) { closing entries { entryType points } }",
}


@pytest.mark.parametrize("field", list(MEMBERS_PAGE_WITH))
async def test_points_lists_in_a_members_page_cost_statements_per_member(api, statements, field):
    # given 60 more members, each with a lot expiring soon
    await add_members(api, 60)
    await api.scalar(
        """INSERT INTO points_lot (member_id, amount, remaining, earned_on, expires_on)
           SELECT id, 10, 10, :today, CAST(:today AS date) + 10 FROM member RETURNING 1""",
        today=today(),
    )
    asked = MEMBERS_PAGE_WITH[field].replace("$month", f'"{today():%Y-%m}"')
    query = "{ members(first: %d) { edges { node { memberNumber %s } } } }"
    # when a page of 1 and a page of 10 ask for it
    by_size = {}
    for first in (1, 10):
        by_size[first] = await measure(api, statements, query % (first, asked), None, as_="hq_admin")
        assert len(by_size[first].data("members")["edges"]) == first
    # then (a known N+1, kept visible here) each member costs more statements
    for first, measured in by_size.items():
        assert_statements(f"{field} in a members page of {first}", measured, IN_A_MEMBERS_PAGE[field][first])


TOTALS = """query($from: Date!, $to: Date!) { pointsTotals(from: $from, to: $to) { entryType points entries } }"""


async def test_points_totals_cost_the_same_statements_whatever_the_ledger(api, statements):
    # given the demo's few entries
    last = date(today().year + 1, 12, 31)
    variables = {"from": f"{last - timedelta(days=period_days_max)}", "to": f"{last}"}  # as far back as totals go
    small = await measure(api, statements, TOTALS, variables, as_="hq_admin")
    # when there are 30 more entries of three more types, and staff ask again
    for entry_type in ("BONUS_ACTIVITY", "PENALTY", "SURVEY"):
        points = -10 if entry_type == "PENALTY" else 10
        await adjust(api, 10, entryType=entry_type, points=points)
    large = await measure(api, statements, TOTALS, variables, as_="hq_admin")
    # then they cost the same statements
    assert len(small.data("pointsTotals")) < len(large.data("pointsTotals"))
    assert_same_statements("pointsTotals", {"demo": small, "30 more": large}, STATEMENTS["pointsTotals"])


RUNS = """{ monthlyAccrualRuns { id month status billsTotal bills members points penalties error startedAt finishedAt
    startedBy { username branch { code } } } }"""


async def more_runs(api, count: int) -> None:
    """`count` more finished runs, started by the headquarters administrator."""
    await api.scalar(
        """INSERT INTO job_run (kind, subject, status, staff_id, total, figures, finished_at)
           SELECT 'MONTHLY_ACCRUAL', to_char(DATE '2020-01-01' + make_interval(months => g), 'YYYY-MM'), 'DONE',
                  :staff, 10, '{"bills": 10}', now()
           FROM generate_series(1, :count) g RETURNING 1""",
        staff=api.demo.staff["admin"],
        count=count,
    )


async def test_the_monthly_runs_cost_the_same_statements_whatever_their_number(api, statements):
    # given one finished run
    await more_runs(api, 1)
    small = await measure(api, statements, RUNS, as_="hq_admin")
    # when there are 15 more (of the 24 listed at most), and the headquarters administrator asks again
    await more_runs(api, 15)
    large = await measure(api, statements, RUNS, as_="hq_admin")
    # then they cost the same statements
    assert len(small.data("monthlyAccrualRuns")) + 15 == len(large.data("monthlyAccrualRuns"))
    assert_same_statements("monthlyAccrualRuns", {"1": small, "16": large}, STATEMENTS["monthlyAccrualRuns"])


RULES = """{ pointsRules { id kind gradeCode value effectiveFrom effectiveTo
    changes { action before after changedAt changedBy { username } } } }"""
RULE_CHANGES = """query($id: ID!) { node(id: $id) { ... on PointsRule { kind
    changes { action before after changedAt changedBy { username branch { code } } } } } }"""


async def more_rules(api, count: int) -> None:
    """`count` more retired on-time bonus rules (before 2000, when the demo's start), each created once."""
    await api.scalar(
        """WITH r AS (INSERT INTO points_rule (kind, value, effective_from, effective_to)
                      SELECT 'ON_TIME_BONUS', g, make_date(1900 + g, 1, 1), make_date(1900 + g, 12, 31)
                      FROM generate_series(1, :count) g RETURNING id, value)
           INSERT INTO points_rule_change (rule_id, action, after, staff_id)
           SELECT id, 'CREATE', jsonb_build_object('value', value), :staff FROM r RETURNING 1""",
        count=count,
        staff=api.demo.staff["admin"],
    )


async def test_the_points_rules_cost_the_same_statements_whatever_their_number(api, statements):
    # given the demo's rules
    small = await measure(api, statements, RULES, as_="hq_admin")
    # when there are 30 more, and staff ask again
    await more_rules(api, 30)
    large = await measure(api, statements, RULES, as_="hq_admin")
    # then they cost the same statements
    assert len(small.data("pointsRules")) + 30 == len(large.data("pointsRules"))
    assert_same_statements("pointsRules", {"demo": small, "30 more": large}, STATEMENTS["pointsRules"])


async def test_a_rules_changes_cost_the_same_statements_whatever_their_number(api, statements):
    # given the on-time bonus rule as the demo created it
    rule = await api.scalar("SELECT id FROM points_rule WHERE kind = 'ON_TIME_BONUS'")
    variables = {"id": gid("PointsRule", rule)}
    small = await measure(api, statements, RULE_CHANGES, variables, as_="hq_admin")
    # when it has changed 30 more times, and staff ask again
    await api.scalar(
        """INSERT INTO points_rule_change (rule_id, action, before, after, staff_id)
           SELECT :rule, 'UPDATE', jsonb_build_object('value', g), jsonb_build_object('value', g + 1), :staff
           FROM generate_series(1, 30) g RETURNING 1""",
        rule=rule,
        staff=api.demo.staff["admin"],
    )
    large = await measure(api, statements, RULE_CHANGES, variables, as_="hq_admin")
    # then they cost the same statements
    assert len(small.data("node")["changes"]) + 30 == len(large.data("node")["changes"])
    assert_same_statements("PointsRule.changes", {"demo": small, "30 more": large}, STATEMENTS["PointsRule.changes"])
