"""Statements per request, customers (resolvers/customers and the Customer and Account list fields)."""

from __future__ import annotations

import pytest

from tests.api import gid
from tests.statement_counts import add_members, assert_same_statements, assert_statements, measure, measure_case

# Exactly how many SQL statements each request sends, its authentication included.
STATEMENTS = {
    "createCustomer": 5,
    "updateCustomer": 5,
    "setCreditLevel": 6,
    "createAccount": 8,
    "updateAccount": 6,
    "customers": 6,  # the lists of one customer below are measured together in one query: 8
    "Customer.accounts": 8,
    "Customer.creditHistory": 8,
    "Customer.identityChanges": 8,
    "Account.subscriberNumbers": 8,
}
# Credit history in a page of customers: one statement for the page's.
CREDIT_HISTORY_IN_A_PAGE = {1: 4, 50: 4}

MUTATIONS = ["createCustomer", "updateCustomer", "setCreditLevel", "createAccount", "updateAccount"]


@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_a_successful_mutation_sends_exactly_its_statements(api, statements, mutation):
    # given the demo data and a valid request from an allowed caller (tests/graphql/cases.py)
    # when the caller sends it
    measured = await measure_case(api, statements, mutation)
    # then it succeeded with exactly the recorded number of statements
    assert_statements(mutation, measured, STATEMENTS[mutation])


CUSTOMERS_PAGE = """query($first: Int) { customers(first: $first) { pageInfo { hasNextPage endCursor }
    edges { cursor node { id kind name idDocumentType idDocumentNumber phone email creditLevel
        branch { code name } customerManager { username displayName branch { code } }
        accounts { accountNumber status creditLimitFen subscriberNumbers } } } } }"""


async def test_a_customers_page_costs_the_same_statements_whatever_its_size(api, statements):
    # given 60 more customers in Guangdong, each with a customer manager, an account and a line
    await add_members(api, 60)
    # when a page of 1 and a page of 50 are fetched with what a customer list shows
    by_size = {}
    for first in (1, 50):
        by_size[first] = await measure(api, statements, CUSTOMERS_PAGE, {"first": first}, as_="hq_admin")
        assert len(by_size[first].data("customers")["edges"]) == first
    # then both cost the same statements: every nested object is batched
    assert_same_statements("customers", by_size, STATEMENTS["customers"])


CUSTOMER = """query($id: ID!) { customer(id: $id) { name
    accounts { accountNumber status subscriberNumbers }
    creditHistory { levelBefore levelAfter reason changedAt changedBy { username branch { code } } }
    identityChanges { before after changedAt changedBy { username } } } }"""


async def more_for_li_wei(api, count: int) -> None:
    """Li Wei's customer with `count` more credit level changes, accounts and lines on his first account."""
    customer, staff = api.demo.customers["Li Wei"], api.demo.staff["gd.operator"]
    await api.scalar(
        """INSERT INTO credit_level_change (customer_id, level_before, level_after, reason, staff_id)
           SELECT :customer, 'GREY', 'RED', 'Review ' || g, :staff FROM generate_series(1, :count) g RETURNING 1""",
        customer=customer,
        staff=staff,
        count=count,
    )
    await api.scalar(
        """INSERT INTO identity_change (customer_id, before, after, staff_id)
           SELECT :customer, '{"name": "Li Wei"}', jsonb_build_object('name', 'Li Wei ' || g), :staff
           FROM generate_series(1, :count) g RETURNING 1""",
        customer=customer,
        staff=staff,
        count=count,
    )
    await api.scalar(
        """INSERT INTO account (customer_id, account_number, opened_on)
           SELECT :customer, '6' || lpad((g + (SELECT max(id) FROM account))::text, 9, '0'), '2020-01-01'
           FROM generate_series(1, :count) g RETURNING 1""",
        customer=customer,
        count=count,
    )
    await api.scalar(
        """INSERT INTO subscriber_number (number, account_id, customer_id, activated_on)
           SELECT '135' || lpad((g + (SELECT count(*) FROM subscriber_number))::text, 8, '0'),
                  (SELECT id FROM account WHERE account_number = '80000001'),
                  :customer, '2020-01-01'
           FROM generate_series(1, :count) g RETURNING 1""",
        customer=customer,
        count=count,
    )


def lengths(customer: dict) -> dict[str, int]:
    return {
        "Customer.accounts": len(customer["accounts"]),
        "Customer.creditHistory": len(customer["creditHistory"]),
        "Customer.identityChanges": len(customer["identityChanges"]),
        "Account.subscriberNumbers": len(customer["accounts"][0]["subscriberNumbers"]),
    }


@pytest.mark.parametrize(
    "field", ["Customer.accounts", "Customer.creditHistory", "Customer.identityChanges", "Account.subscriberNumbers"]
)
async def test_a_customers_own_lists_cost_the_same_statements_whatever_their_length(api, statements, field):
    # given Li Wei's customer with one account, one line and one change of credit level
    await more_for_li_wei(api, 1)
    variables = {"id": gid("Customer", api.demo.customers["Li Wei"])}
    small = await measure(api, statements, CUSTOMER, variables, as_="hq_admin")
    # when he has 30 more of each, and staff ask again
    await more_for_li_wei(api, 30)
    large = await measure(api, statements, CUSTOMER, variables, as_="hq_admin")
    # then the longer lists cost the same statements
    assert lengths(small.data("customer"))[field] < lengths(large.data("customer"))[field]
    assert_same_statements(field, {"short": small, "30 more": large}, STATEMENTS[field])


async def test_credit_history_in_a_customers_page_costs_the_same_statements_whatever_the_pages_size(api, statements):
    # given 60 more customers, each with a change of credit level
    await add_members(api, 60)
    await api.scalar(
        """INSERT INTO credit_level_change (customer_id, level_before, level_after, reason, staff_id)
           SELECT id, 'GREY', 'RED', 'Review', :staff FROM customer RETURNING 1""",
        staff=api.demo.staff["gd.operator"],
    )
    query = """query($first: Int) { customers(first: $first) { edges { node { name
        creditHistory { levelAfter changedBy { username } } } } } }"""
    # when a page of 1 and a page of 50 ask for each customer's credit history
    by_size = {}
    for first in (1, 50):
        by_size[first] = await measure(api, statements, query, {"first": first}, as_="hq_admin")
        assert len(by_size[first].data("customers")["edges"]) == first
    # then both cost the same statements: the page's histories are read at once
    for first, measured in by_size.items():
        assert_statements(f"creditHistory in a customers page of {first}", measured, CREDIT_HISTORY_IN_A_PAGE[first])
