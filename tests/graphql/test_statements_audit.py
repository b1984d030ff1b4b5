"""Statements per request, the audit trail (resolvers/audit), and what recording an event adds to a mutation."""

from __future__ import annotations

import pytest

from tests.api import gid
from tests.graphql.cases import CASES
from tests.statement_counts import assert_same_statements, assert_statements, measure, principal_for

# Exactly how many SQL statements each request sends, its authentication included.
STATEMENTS = {
    "auditEvents": 3,  # the page, and the branches the events acted for
    "AuditEvent.targets": 2,  # read with the page
}
# A refused one-statement mutation: its statement is undone with the event it carried, which is then sent alone.
REFUSED_ONE_STATEMENT = 3

QUERIES = {
    "auditEvents": """query($first: Int) { auditEvents(first: $first) { edges { node {
        occurredAt principalKind principalId branch { code } operation targets resultId outcome } } } }""",
    "AuditEvent.targets": "query($first: Int) { auditEvents(first: $first) { edges { node { targets } } } }",
}


async def _events(api, count: int) -> None:
    """`count` events of Guangdong's operator and Beijing's administrator, taking turns."""
    await api.scalar(
        """INSERT INTO audit_event (occurred_at, principal_kind, principal_id, branch_path, operation, targets, outcome)
           SELECT now(), 'STAFF', CASE WHEN g % 2 = 0 THEN CAST(:gd AS bigint) ELSE CAST(:bj AS bigint) END,
                  (SELECT path FROM branch WHERE code = CASE WHEN g % 2 = 0 THEN 'GD' ELSE 'BJ' END),
                  'adjustPoints', ARRAY['Member:' || g], 'OK'
           FROM generate_series(1, :count) g RETURNING 1""",
        gd=api.demo.staff["gd.operator"], bj=api.demo.staff["bj.admin"], count=count,
    )  # fmt: skip


@pytest.mark.parametrize("field", list(QUERIES))
async def test_the_audit_events_cost_the_same_statements_whatever_the_page_size(api, statements, field):
    # given 60 events of two branches
    await _events(api, 60)
    # when the headquarters administrator reads a page of 1 and one of 50
    query = QUERIES[field]
    by_size = {size: await measure(api, statements, query, {"first": size}, as_="hq_admin") for size in (1, 50)}
    # then both cost the same statements
    assert [len(m.data("auditEvents")["edges"]) for m in by_size.values()] == [1, 50]
    assert_same_statements(field, by_size, STATEMENTS[field])


async def test_a_refused_one_statement_mutation_sends_its_event_on_its_own(api, statements):
    # given a valid adjustment from an allowed caller, taking more points than the member has
    case, who = CASES["adjustPoints"], principal_for("adjustPoints")
    variables = {"input": await case.make_input(api, who) | {"points": -9_000}}
    # when the caller sends it
    measured = await measure(api, statements, case.query(), variables, as_=who)
    # then its statement was refused and undone, and the event went alone: authentication, statement, event
    assert [e["code"] for e in measured.data("adjustPoints")["errors"]] == ["INSUFFICIENT_POINTS"]
    assert_statements("refused adjustPoints", measured, REFUSED_ONE_STATEMENT)
    assert measured.sql[-1].startswith("INSERT INTO audit_event")


async def test_an_anonymous_mutation_sends_nothing_for_the_trail(api, statements):
    # given no credentials
    variables = {"input": {"memberId": gid("Member", api.demo.members["Li Wei"]), "points": 1, "reason": "x",
                           "idempotencyKey": "anonymous"}}  # fmt: skip
    # when an adjustment is sent, then it is refused before any statement, and none is sent for the trail
    measured = await measure(api, statements, CASES["adjustPoints"].query(), variables, as_="anonymous")
    assert measured.answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert_statements("anonymous adjustPoints", measured, 0)
