"""Statements per request, members (resolvers/members and the Member type's own list fields)."""

from __future__ import annotations

import pytest

from tests.statement_counts import add_members, assert_same_statements, assert_statements, measure, measure_case

# Exactly how many SQL statements each request sends, its authentication included.
STATEMENTS = {
    "createMember": 11,  # the customer along to the club's province: one statement
    "updateMember": 5,
    "updateMyProfile": 6,
    "members": 11,
    "Member.interests": 2,
    "Member.relations": 2,
    "Member.accounts": 3,
}
ME_STATEMENTS = 2  # `me` is no list, but the front page of every member: pinned too

MUTATIONS = ["createMember", "updateMember", "updateMyProfile"]
ME = """{ me { memberNumber status grade { name } club { name branch { code } } branch { code }
    customer { name phone } accounts { accountNumber } } }"""


async def test_a_members_own_view_costs_authentication_and_one_joined_read(api, statements):
    # given a member's front page: grade, club, branch, personal details and accounts
    # when the member asks for it
    measured = await measure(api, statements, ME, as_="member")
    # then it costs authentication and one read of the member with grade, club, branch, customer and accounts
    assert measured.data("me")["grade"]["name"] == "Diamond"
    assert_statements("me", measured, ME_STATEMENTS)


@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_a_successful_mutation_sends_exactly_its_statements(api, statements, mutation):
    # given the demo data and a valid request from an allowed caller (tests/graphql/cases.py)
    # when the caller sends it
    measured = await measure_case(api, statements, mutation)
    # then it succeeded with exactly the recorded number of statements
    assert_statements(mutation, measured, STATEMENTS[mutation])


MEMBERS_PAGE = """query($first: Int) { members(first: $first) { pageInfo { hasNextPage endCursor }
    edges { cursor node { id memberNumber status joinedOn validUntil interests relations { kind name note }
        grade { code name rank } club { code name branch { code } } branch { code name }
        customer { name phone creditLevel branch { code } } accounts { accountNumber subscriberNumbers }
        customerManager { username branch { code } } card { number state } points { posted held available } } } } }"""


async def test_a_members_page_costs_the_same_statements_whatever_its_size(api, statements):
    # given 60 more members in Guangdong, each with a customer manager, an account and a line
    await add_members(api, 60)
    # when a page of 1 and a page of 50 are fetched with what a member list shows
    by_size = {}
    for first in (1, 50):
        by_size[first] = await measure(api, statements, MEMBERS_PAGE, {"first": first}, as_="hq_admin")
        assert len(by_size[first].data("members")["edges"]) == first
    # then both cost the same statements: every nested object is batched
    assert_same_statements("members", by_size, STATEMENTS["members"])


ME_PROFILE = "{ me { memberNumber interests relations { kind name note } } }"
ME_ACCOUNTS = "{ me { memberNumber accounts { accountNumber status subscriberNumbers } } }"


async def more_of_li_wei(api, count: int) -> None:
    """Li Wei with `count` more interests, relations and accounts (each with two lines)."""
    await api.scalar(
        """UPDATE member SET interests = (SELECT jsonb_agg('hobby ' || g) FROM generate_series(1, :count) g),
                             relations = (SELECT jsonb_agg(jsonb_build_object('kind', 'FAMILY', 'name', 'R' || g))
                                          FROM generate_series(1, :count) g)
           WHERE id = :member RETURNING 1""",
        count=count,
        member=api.demo.members["Li Wei"],
    )
    await api.scalar(
        """WITH a AS (INSERT INTO account (customer_id, account_number, opened_on)
               SELECT :customer, '6' || lpad(g::text, 9, '0'), '2020-01-01' FROM generate_series(1, :count) g
               RETURNING id)
           INSERT INTO subscriber_number (number, account_id, customer_id, activated_on)
           SELECT '135' || lpad((a.id * 10 + line)::text, 8, '0'), a.id, :customer, '2020-01-01'
           FROM a, generate_series(1, 2) line RETURNING 1""",
        count=count,
        customer=api.demo.customers["Li Wei"],
    )


@pytest.mark.parametrize(
    ("field", "query", "shown"),
    [
        ("Member.interests", ME_PROFILE, "interests"),
        ("Member.relations", ME_PROFILE, "relations"),
        ("Member.accounts", ME_ACCOUNTS, "accounts"),
    ],
)
async def test_a_members_own_lists_cost_the_same_statements_whatever_their_length(api, statements, field, query, shown):
    # given Li Wei as the demo has him (one interest, no relation, one account)
    small = await measure(api, statements, query, as_="member")
    # when he has 30 more of each, and asks again
    await more_of_li_wei(api, 30)
    large = await measure(api, statements, query, as_="member")
    # then the longer list cost the same statements
    assert len(small.data("me")[shown]) < len(large.data("me")[shown])
    assert_same_statements(field, {"demo": small, "30 more": large}, STATEMENTS[field])
