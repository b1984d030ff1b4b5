"""Statements per request, partners (resolvers/partners): partner API keys, the partner list, and what
checking a partner system's key costs every request it sends."""

from __future__ import annotations

import pytest

from tests.statement_counts import assert_same_statements, assert_statements, measure, measure_case

# Exactly how many SQL statements each request sends, its authentication included.
STATEMENTS = {
    "createPartner": 5,
    "updatePartner": 5,
    "setPartnerContact": 5,
    "removePartnerContact": 5,
    "Partner.contacts": 4,  # with the partners and their branches: one more
    "createPartnerApiClient": 6,
    "revokePartnerApiClient": 6,
    "partners": 2,
    "Partner.apiClients": 3,  # with the partners: one more
}
# What checking a partner API key costs: added to every request a partner system sends.
KEY_CHECK = 1

MUTATIONS = [
    "createPartner",
    "updatePartner",
    "setPartnerContact",
    "removePartnerContact",
    "createPartnerApiClient",
    "revokePartnerApiClient",
]


@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_a_successful_mutation_sends_exactly_its_statements(api, statements, mutation):
    # given the demo data and a valid request from an allowed caller (tests/graphql/cases.py)
    # when the caller sends it
    measured = await measure_case(api, statements, mutation)
    # then it succeeded with exactly the recorded number of statements
    assert_statements(mutation, measured, STATEMENTS[mutation])


LISTS = {
    "partners": "{ partners { id code name } }",
    "Partner.apiClients": "{ partners { id code name apiClients { keyId revokedAt } } }",
    "Partner.contacts": "{ partners { id code kind status branch { code } contacts { name branch { code } } } }",
}


@pytest.mark.parametrize("listed", LISTS)
async def test_the_partners_cost_the_same_statements_whatever_their_number(api, statements, listed):
    # given the demo's two partners
    small = await measure(api, statements, LISTS[listed], as_="hq_admin")
    # when there are 30 more, with three keys and a contact each, and staff ask again
    await api.scalar(
        """WITH made AS (INSERT INTO partner (code, name, branch_id)
                         SELECT 'P' || g, 'Partner ' || g, :gd FROM generate_series(1, 30) g RETURNING id)
           , keys AS (INSERT INTO partner_api_client (partner_id, name, key_id, secret_sha256, created_by_staff_id)
                      SELECT id, 'checkout', 'pk_' || id || '_' || g, sha256(g::text::bytea), :staff
                      FROM made, generate_series(1, 3) g)
           INSERT INTO partner_contact (partner_id, branch_id, name)
           SELECT id, :gd, 'Deng Hui' FROM made RETURNING 1""",
        gd=api.demo.branches["GD"],
        staff=api.demo.staff["admin"],
    )
    large = await measure(api, statements, LISTS[listed], as_="hq_admin")
    # then the longer list cost the same statements
    assert len(small.data("partners")) + 30 == len(large.data("partners"))
    assert_same_statements(listed, {"demo": small, "30 more": large}, STATEMENTS[listed])


async def test_checking_a_partner_key_costs_one_statement(api, statements):
    # given a partner system's API key
    # when it sends a request that reads nothing else
    measured = await measure(api, statements, "{ __typename }", as_="partner")
    # then the key check alone was sent
    assert measured.data("__typename") == "Query"
    assert_statements("partner key check", measured, KEY_CHECK)


async def test_a_refused_partner_request_costs_only_the_key_check(api, statements):
    # given a partner system's API key, which may not read members
    # when it asks for a members page
    query = "{ members(first: 50) { edges { node { memberNumber } } } }"
    measured = await measure(api, statements, query, as_="partner")
    # then it is refused after the key check, without reading anything
    assert [e["extensions"]["code"] for e in measured.answer["errors"]] == ["FORBIDDEN"]
    assert_statements("refused partner request", measured, KEY_CHECK)
