"""Branches, grades, clubs: queries and the club mutations."""

from __future__ import annotations

import pytest

from tests.api import gid, top_codes

CREATE = """mutation($input: CreateClubInput!) { createClub(input: $input) {
    errors { field code message } club { id code name category phone email branch { code } } } }"""
UPDATE = """mutation($input: UpdateClubInput!) { updateClub(input: $input) {
    errors { field code message } club { id name phone email contactPerson } } }"""


def club_input(api, **changes):
    return {
        "branchId": gid("Branch", api.demo.branches["SZ"]),
        "code": "SZ-VIP",
        "category": "VIP",
        "name": "VIP",
    } | changes


async def test_an_administrator_opens_a_club_in_a_branch_below(api):
    answer = await api.data(
        CREATE, {"input": club_input(api, phone="0755-1234567", email="vip@club.cn")}, as_="administrator"
    )
    club = answer["createClub"]["club"]
    assert answer["createClub"]["errors"] == []
    assert (club["code"], club["branch"]["code"], club["phone"], club["email"]) == (
        "SZ-VIP",
        "SZ",
        "0755-1234567",
        "vip@club.cn",
    )


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"code": "GD-CLUB"}, "code", "DUPLICATE"),
        ({"code": "gd-club"}, "code", "DUPLICATE"),  # the same code in other letters' case
        ({"code": "bad code!"}, "code", "INVALID"),
        ({"name": ""}, "name", "REQUIRED"),
        ({"name": "n" * 101}, "name", "TOO_LONG"),
        ({"email": "not-an-email"}, "email", "INVALID"),
        ({"phone": "call me"}, "phone", "INVALID"),
        ({"branchId": gid("Branch", 999)}, "branchId", "NOT_FOUND"),
    ],
)
async def test_create_club_refusals_name_the_field_and_write_nothing(api, changes, field, code):
    await api.token("administrator")
    before = await api.fingerprint()
    answer = await api.data(CREATE, {"input": club_input(api, **changes)}, as_="administrator")
    assert [(e["field"], e["code"]) for e in answer["createClub"]["errors"]] == [(["input", field], code)]
    assert answer["createClub"]["club"] is None
    assert await api.fingerprint() == before


async def test_update_club_changes_only_what_is_given_and_null_clears(api):
    club_id = gid("Club", api.demo.clubs["GD-CLUB"])
    await api.data(
        UPDATE, {"input": {"id": club_id, "contactPerson": "Ms Huang", "phone": "020-1111111"}}, as_="hq_admin"
    )
    answer = await api.data(UPDATE, {"input": {"id": club_id, "phone": None}}, as_="hq_admin")
    club = answer["updateClub"]["club"]
    assert (club["name"], club["contactPerson"], club["phone"]) == ("Guangdong Club", "Ms Huang", None)


@pytest.mark.parametrize(
    ("changes", "code"),
    [({"name": None}, "REQUIRED"), ({"id": gid("Club", 999)}, "NOT_FOUND"), ({"email": "x@"}, "INVALID")],
)
async def test_update_club_refusals(api, changes, code):
    before = await api.fingerprint()
    variables = {"input": {"id": gid("Club", api.demo.clubs["GD-CLUB"])} | changes}
    answer = await api.data(UPDATE, variables, as_="hq_admin")
    assert [e["code"] for e in answer["updateClub"]["errors"]] == [code]
    assert await api.fingerprint() == before


async def test_branches_are_the_callers_subtree(api):
    codes = lambda d: [b["code"] for b in d["branches"]]  # noqa: E731
    assert codes(await api.data("{ branches { code } }", as_="hq_admin")) == ["HQ", "GD", "SZ", "BJ"]
    assert codes(await api.data("{ branches { code } }", as_="auditor")) == ["GD", "SZ"]
    assert codes(await api.data("{ branches { code } }", as_="other_branch_operator")) == ["BJ"]


async def test_branch_parent_is_visible_only_inside_the_subtree(api):
    data = await api.data("{ branches { code parent { code } } }", as_="auditor")
    assert data["branches"] == [{"code": "GD", "parent": None}, {"code": "SZ", "parent": {"code": "GD"}}]


async def test_grades_are_data_and_public(api):
    data = await api.data("{ grades { code rank cardType nationalRoaming } }")
    assert [(g["code"], g["nationalRoaming"]) for g in data["grades"]] == [
        ("DIAMOND", True),
        ("EMERALD", True),
        ("SAPPHIRE", False),
    ]


async def test_clubs_page_through_with_cursors(api):
    first = await api.data(
        "{ clubs(first: 2) { edges { cursor node { code } } pageInfo { hasNextPage endCursor } } }", as_="hq_admin"
    )
    page = first["clubs"]
    assert [e["node"]["code"] for e in page["edges"]] == ["GD-CLUB", "SZ-CLUB"]
    assert page["pageInfo"]["hasNextPage"] is True
    query = """query($after: String) { clubs(first: 2, after: $after) {
        edges { node { code } } pageInfo { hasNextPage hasPreviousPage } } }"""
    second = await api.data(query, {"after": page["pageInfo"]["endCursor"]}, as_="hq_admin")
    assert [e["node"]["code"] for e in second["clubs"]["edges"]] == ["BJ-CLUB"]
    assert second["clubs"]["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True}


async def test_clubs_last_before_pages_backwards(api):
    data = await api.data("{ clubs(last: 2) { edges { node { code } } pageInfo { hasPreviousPage } } }", as_="hq_admin")
    assert [e["node"]["code"] for e in data["clubs"]["edges"]] == ["SZ-CLUB", "BJ-CLUB"]
    assert data["clubs"]["pageInfo"]["hasPreviousPage"] is True


@pytest.mark.parametrize("who", ["anonymous", "member", "partner"])
async def test_organisation_queries_are_for_staff(api, who):
    for query in ("{ branches { code } }", "{ clubs { edges { cursor } } }", "{ partners { code } }"):
        answer = await api.gql(query, as_=who)
        assert top_codes(answer) == ["UNAUTHENTICATED" if who == "anonymous" else "FORBIDDEN"]


async def test_partners_are_listed_for_staff(api):
    data = await api.data("{ partners { code name } }", as_="agent")
    assert [p["code"] for p in data["partners"]] == ["GD-MALL", "SKY-MILES"]


async def test_an_outlet_code_taken_in_any_case_is_refused_naming_the_code_held(api):
    # given the demo's outlet GD-COUNTER
    await api.token("administrator")
    before = await api.fingerprint()
    # when another outlet is opened as gd-counter
    outlet = {"branchId": gid("Branch", api.demo.branches["GD"]), "code": "gd-counter", "name": "Second counter"}
    answer = await api.data(
        """mutation($input: CreateOutletInput!) { createOutlet(input: $input) { errors { field code message } } }""",
        {"input": outlet},
        as_="administrator",
    )
    # then it is a duplicate of GD-COUNTER, and nothing is written
    (error,) = answer["createOutlet"]["errors"]
    assert (error["field"], error["code"], "GD-COUNTER" in error["message"]) == (["input", "code"], "DUPLICATE", True)
    assert await api.fingerprint() == before
