"""Races between callers end in one success and a clear DUPLICATE, never a fault."""

from __future__ import annotations

import asyncio

from tests.api import gid

CREATE_MEMBER = """mutation($input: CreateMemberInput!) { createMember(input: $input) { errors { code } } }"""
CREATE_CLUB = """mutation($input: CreateClubInput!) { createClub(input: $input) { errors { code } } }"""


async def race(api, query, variables, callers):
    for who in callers:
        await api.token(who)
    answers = await asyncio.gather(*(api.gql(query, variables, as_=who) for who in callers))
    return sorted(tuple(e["code"] for e in next(iter(a["data"].values()))["errors"]) for a in answers)


async def test_two_clerks_admitting_the_same_customer_make_one_member(api):
    variables = {
        "input": {
            "customerId": gid("Customer", api.demo.customers["Pearl River Trading Co."]),
            "clubId": gid("Club", api.demo.clubs["GD-CLUB"]),
            "gradeCode": "EMERALD",
        }
    }
    outcomes = await race(api, CREATE_MEMBER, variables, ["club_operator", "administrator", "hq_admin"])
    assert outcomes == [(), ("CUSTOMER_ALREADY_MEMBER",), ("CUSTOMER_ALREADY_MEMBER",)]
    assert await api.scalar("SELECT count(*) FROM member") == 4


async def test_two_administrators_taking_one_club_code_make_one_club(api):
    variables = {
        "input": {"branchId": gid("Branch", api.demo.branches["GD"]), "code": "RACE", "category": "c", "name": "n"}
    }
    outcomes = await race(api, CREATE_CLUB, variables, ["administrator", "hq_admin"])
    assert outcomes == [(), ("DUPLICATE",)]
    assert await api.scalar("SELECT count(*) FROM club WHERE code = 'RACE'") == 1
