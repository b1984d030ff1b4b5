"""Statements per request, authentication (resolvers/auth), and what checking a bearer token costs
every request."""

from __future__ import annotations

import pytest

from tests.statement_counts import assert_statements, measure, measure_case

# Exactly how many SQL statements each request sends, its authentication included.
STATEMENTS = {
    "login": 6,  # the identity, its attempts serialised and counted (throttling), the identity read again after
    "refreshToken": 3,
    "logout": 3,
    "changePassword": 8,  # the identity locked, its failed attempts serialised and counted (throttling) as a login's
}
# What checking an access token costs, whoever sends it: added to every authenticated request.
TOKEN_CHECK = 1

LOGIN = """mutation($input: LoginInput!) { login(input: $input) {
    errors { field code message } tokens { accessToken refreshToken accessTokenExpiresAt kind } } }"""
REFRESH = """mutation($input: RefreshTokenInput!) { refreshToken(input: $input) {
    errors { field code message } tokens { accessToken refreshToken } } }"""


@pytest.mark.parametrize(
    ("kind", "login"),
    [("STAFF", "gd.operator"), ("MEMBER", "member number"), ("MEMBER", "13800000001")],
    ids=["staff", "member-by-number", "member-by-subscriber-number"],
)
async def test_a_successful_login_sends_exactly_its_statements(api, statements, kind, login):
    # given a demo user's right password
    login = api.demo.member_numbers["Li Wei"] if login == "member number" else login
    variables = {"input": {"kind": kind, "login": login, "password": "demo-password"}}
    # when they log in
    measured = await measure(api, statements, LOGIN, variables, as_="anonymous")
    # then they got tokens, with exactly the recorded number of statements
    assert measured.data("login")["errors"] == [] and measured.data("login")["tokens"]["kind"] == kind
    assert_statements("login", measured, STATEMENTS["login"])


async def test_a_successful_token_refresh_sends_exactly_its_statements(api, statements):
    # given a member's tokens
    tokens = await api.login("MEMBER", api.demo.member_numbers["Li Wei"])
    # when the refresh token is traded for new ones
    measured = await measure(
        api, statements, REFRESH, {"input": {"refreshToken": tokens["refreshToken"]}}, as_="anonymous"
    )
    # then new tokens came, with exactly the recorded number of statements
    assert measured.data("refreshToken")["errors"] == [] and measured.data("refreshToken")["tokens"]
    assert_statements("refreshToken", measured, STATEMENTS["refreshToken"])


@pytest.mark.parametrize("mutation", ["logout", "changePassword"])
async def test_a_successful_session_change_sends_exactly_its_statements(api, statements, mutation):
    # given a logged-in user (tests/graphql/cases.py)
    # when they log out or change their password
    measured = await measure_case(api, statements, mutation)
    # then it succeeded with exactly the recorded number of statements
    assert_statements(mutation, measured, STATEMENTS[mutation])


@pytest.mark.parametrize("who", ["member", "hq_admin", "club_operator"])
async def test_checking_an_access_token_costs_the_same_statements_for_everyone(api, statements, who):
    # given a logged-in user
    # when they send a request that reads nothing else
    measured = await measure(api, statements, "{ __typename }", as_=who)
    # then the token check alone was sent
    assert measured.data("__typename") == "Query"
    assert_statements(f"token check of {who}", measured, TOKEN_CHECK)


async def test_an_anonymous_request_sends_no_statement(api, statements):
    # given no credentials, when a request that reads nothing is sent, then nothing is sent to the database
    measured = await measure(api, statements, "{ __typename }", as_="anonymous")
    assert measured.data("__typename") == "Query"
    assert_statements("anonymous request", measured, 0)
