"""Statements per request, organisation (resolvers/organisation): branches, grades, clubs and outlets."""

from __future__ import annotations

import pytest

from tests.api import gid
from tests.statement_counts import assert_same_statements, assert_statements, measure, measure_case

# Exactly how many SQL statements each request sends, its authentication included.
STATEMENTS = {
    "createClub": 5,
    "updateClub": 4,
    "branches": 3,
    "grades": 2,
    "clubs": 4,
    "createOutlet": 5,
    "updateOutlet": 5,
    "outlets": 4,
    "updateStaff": 5,
    "staff": 4,
}

MUTATIONS = ["createClub", "updateClub", "createOutlet", "updateOutlet", "updateStaff"]


@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_a_successful_mutation_sends_exactly_its_statements(api, statements, mutation):
    # given the demo data and a valid request from an allowed caller (tests/graphql/cases.py)
    # when the caller sends it
    measured = await measure_case(api, statements, mutation)
    # then it succeeded with exactly the recorded number of statements
    assert_statements(mutation, measured, STATEMENTS[mutation])


CLUBS_PAGE = """query($first: Int) { clubs(first: $first) { pageInfo { hasNextPage endCursor }
    edges { cursor node { id code category name contactPerson phone email address
        branch { code name level parent { code } } } } } }"""


async def test_a_clubs_page_costs_the_same_statements_whatever_its_size(api, statements):
    # given 60 more clubs in Guangdong
    await api.scalar(
        """INSERT INTO club (branch_id, code, category, name)
           SELECT :branch, 'BULK-' || g, 'Major customers', 'Bulk club ' || g FROM generate_series(1, 60) g
           RETURNING 1""",
        branch=api.demo.branches["GD"],
    )
    # when a page of 1 and a page of 50 are fetched with each club's branch
    by_size = {}
    for first in (1, 50):
        by_size[first] = await measure(api, statements, CLUBS_PAGE, {"first": first}, as_="hq_admin")
        assert len(by_size[first].data("clubs")["edges"]) == first
    # then both cost the same statements
    assert_same_statements("clubs", by_size, STATEMENTS["clubs"])


OUTLETS_PAGE = """query($first: Int) { outlets(first: $first) { pageInfo { hasNextPage endCursor }
    edges { cursor node { id code name address phone status branch { code name level parent { code } } } } } }"""


async def test_an_outlets_page_costs_the_same_statements_whatever_its_size(api, statements):
    # given 60 more outlets, in Guangdong and Shenzhen, some of them closed
    await api.scalar(
        """INSERT INTO outlet (branch_id, code, name, phone, status)
           SELECT CASE WHEN g % 2 = 0 THEN CAST(:gd AS bigint) ELSE CAST(:sz AS bigint) END, 'BULK-' || g,
                  'Bulk outlet ' || g, '020-1234567', CASE WHEN g % 3 = 0 THEN 'CLOSED' ELSE 'OPEN' END
           FROM generate_series(1, 60) g RETURNING 1""",
        gd=api.demo.branches["GD"],
        sz=api.demo.branches["SZ"],
    )
    # when a page of 1 and a page of 50 are fetched with each outlet's branch
    by_size = {}
    for first in (1, 50):
        by_size[first] = await measure(api, statements, OUTLETS_PAGE, {"first": first}, as_="hq_admin")
        assert len(by_size[first].data("outlets")["edges"]) == first
    # then both cost the same statements
    assert_same_statements("outlets", by_size, STATEMENTS["outlets"])


STAFF_PAGE = """query($first: Int, $filter: StaffFilter) { staff(first: $first, filter: $filter) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id username displayName role active branch { code name level parent { code } } } } } }"""


async def test_a_staff_page_costs_the_same_statements_whatever_its_size(api, statements):
    # given 60 more staff, in Guangdong and Shenzhen, some of them deactivated
    await api.scalar(
        """INSERT INTO staff (username, display_name, role, branch_id, password_hash, active)
           SELECT 'bulk.' || g, 'Bulk staff ' || g, 'AGENT',
                  CASE WHEN g % 2 = 0 THEN CAST(:gd AS bigint) ELSE CAST(:sz AS bigint) END, 'x', g % 3 <> 0
           FROM generate_series(1, 60) g RETURNING 1""",
        gd=api.demo.branches["GD"],
        sz=api.demo.branches["SZ"],
    )
    # when a page of 1 and a page of 50 of Guangdong's subtree are fetched with each one's branch, and a page
    # of its active agents
    gd = {"branchId": gid("Branch", api.demo.branches["GD"])}
    by_size = {}
    for first, filter in ((1, gd), (50, gd), (30, gd | {"role": "AGENT", "active": True})):
        variables = {"first": first, "filter": filter}
        by_size[first] = await measure(api, statements, STAFF_PAGE, variables, as_="hq_admin")
        assert len(by_size[first].data("staff")["edges"]) == first
    # then they all cost the same statements
    assert_same_statements("staff", by_size, STATEMENTS["staff"])


async def more_branches(api, count: int) -> None:
    """`count` more city branches under Guangdong."""
    await api.scalar(
        """INSERT INTO branch (code, name, level, parent_id, path)
           SELECT 'CITY' || g, 'City ' || g, 'CITY', :gd, 'new-' || g FROM generate_series(1, :count) g
           RETURNING 1""",
        gd=api.demo.branches["GD"],
        count=count,
    )
    await api.scalar(
        """UPDATE branch SET path = (SELECT path FROM branch WHERE id = :gd) || id || '/'
           WHERE path LIKE 'new-%' RETURNING 1""",
        gd=api.demo.branches["GD"],
    )


async def test_the_branches_cost_the_same_statements_whatever_their_number(api, statements):
    query = "{ branches { id code name level parent { code name } } }"
    # given the demo's four branches
    small = await measure(api, statements, query, as_="hq_admin")
    # when there are 30 more and staff ask again
    await more_branches(api, 30)
    large = await measure(api, statements, query, as_="hq_admin")
    # then the longer list cost the same statements
    assert len(small.data("branches")) + 30 == len(large.data("branches"))
    assert_same_statements("branches", {"demo": small, "30 more": large}, STATEMENTS["branches"])


async def test_the_grades_cost_the_same_statements_whatever_their_number(api, statements):
    query = "{ grades { code name rank cardType nationalRoaming } }"
    # given the grades the migrations seed
    small = await measure(api, statements, query, as_="member")
    # when there are five more (reference data, kept across tests: removed at the end)
    await api.scalar(
        """INSERT INTO grade (code, name, rank, card_type, national_roaming)
           SELECT 'TEST' || g, 'Test grade ' || g, 1000 + g, 'EMERALD', false FROM generate_series(1, 5) g
           RETURNING 1"""
    )
    try:
        large = await measure(api, statements, query, as_="member")
    finally:
        await api.scalar("DELETE FROM grade WHERE code LIKE 'TEST%' RETURNING 1")
    # then they cost the same statements
    assert len(small.data("grades")) + 5 == len(large.data("grades"))
    assert_same_statements("grades", {"seeded": small, "5 more": large}, STATEMENTS["grades"])
