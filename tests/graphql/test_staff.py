"""Staff accounts: administrators rename staff, change their role, deactivate and reactivate them; the staff list."""

from __future__ import annotations

import pytest

from tests.api import gid, top_codes

UPDATE = """mutation($input: UpdateStaffInput!) { updateStaff(input: $input) {
    errors { field code message } staff { id username displayName role active branch { code } } } }"""
LIST = """query($filter: StaffFilter, $first: Int) { staff(filter: $filter, first: $first) {
    edges { node { username role active } } pageInfo { hasNextPage } } }"""
RENAME_AGENT = {"displayName": "Guo Peng (counter)"}


def staff_id(api, username: str) -> str:
    return gid("Staff", api.demo.staff[username])


async def update(api, who: str, target: str, **changes) -> dict:
    answer = await api.data(UPDATE, {"input": {"id": target} | changes}, as_=who)
    return answer["updateStaff"]


async def usernames(api, who: str, **filter) -> list[str]:
    data = await api.data(LIST, {"filter": filter or None, "first": 100}, as_=who)
    return [e["node"]["username"] for e in data["staff"]["edges"]]


async def test_an_administrator_renames_a_member_of_staff_and_changes_their_role(api):
    # given the Guangdong customer manager
    target = staff_id(api, "gd.manager")
    # when the Guangdong administrator renames them and makes them an agent
    payload = await update(api, "administrator", target, displayName="  Lin Xiaoyan  ", role="AGENT")
    # then they are, and stay active
    assert payload["errors"] == []
    assert payload["staff"] == {
        "id": target,
        "username": "gd.manager",
        "displayName": "Lin Xiaoyan",
        "role": "AGENT",
        "active": True,
        "branch": {"code": "GD"},
    }


async def test_a_role_change_takes_effect_at_the_next_request(api):
    # given an agent, logged in, who may not manage staff
    promoted = gid("Staff", await api.add_staff("gd.promoted", "AGENT", "GD"))
    refused = await api.gql(UPDATE, {"input": {"id": staff_id(api, "gd.agent")} | RENAME_AGENT}, as_="gd.promoted")
    assert top_codes(refused) == ["FORBIDDEN"]
    # when an administrator makes them an administrator
    payload = await update(api, "hq_admin", promoted, role="ADMINISTRATOR")
    assert payload["errors"] == []
    # then the same token may now do what administrators do
    allowed = await update(api, "gd.promoted", staff_id(api, "gd.agent"), **RENAME_AGENT)
    assert allowed["errors"] == []


async def test_deactivating_ends_the_persons_access_at_once_and_reactivating_restores_it(api):
    # given a member of staff logged in, whose token works
    leaver_id = await api.add_staff("gd.leaver", "AGENT", "GD")
    leaver = gid("Staff", leaver_id)
    tokens = await api.login("STAFF", "gd.leaver")
    assert "errors" not in await api.gql("{ branches { code } }", as_="gd.leaver")
    # when an administrator deactivates them
    payload = await update(api, "administrator", leaver, active=False)
    assert payload["errors"] == [] and payload["staff"]["active"] is False
    # then their tokens are refused at once, their sessions are revoked, and they cannot log in
    for token in (await api.token("gd.leaver"), tokens["accessToken"]):
        answer = (await api.post({"query": "{ branches { code } }"}, token)).json()
        assert top_codes(answer) in (["TOKEN_REVOKED"], ["UNAUTHENTICATED"]), answer
    live = "SELECT count(*) FROM auth_session WHERE staff_id = :id AND revoked_at IS NULL"
    assert await api.scalar(live, id=leaver_id) == 0
    assert [e["code"] for e in (await api.login("STAFF", "gd.leaver"))["errors"]] == ["INVALID_CREDENTIALS"]
    refresh = """mutation($input: RefreshTokenInput!) { refreshToken(input: $input) { errors { code } } }"""
    renewed = await api.data(refresh, {"input": {"refreshToken": tokens["refreshToken"]}})
    assert [e["code"] for e in renewed["refreshToken"]["errors"]] == ["TOKEN_REVOKED"]
    # and when they are reactivated, they log in again and their new token works
    payload = await update(api, "administrator", leaver, active=True)
    assert payload["errors"] == [] and payload["staff"]["active"] is True
    again = await api.login("STAFF", "gd.leaver")
    answer = (await api.post({"query": "{ branches { code } }"}, again["accessToken"])).json()
    assert "errors" not in answer, answer


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"active": False}, "active"), ({"role": "AGENT"}, "role"), ({"role": "AGENT", "displayName": "Me"}, "role")],
)
async def test_an_administrator_may_not_lock_themselves_out_and_nothing_is_written(api, changes, field):
    # given the Guangdong administrator
    me = staff_id(api, "gd.admin")
    await api.token("administrator")
    before = await api.fingerprint()
    # when they deactivate themselves or change their own role
    payload = await update(api, "administrator", me, **changes)
    # then they are refused on that field, told why, and nothing is written
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(["input", field], "INVALID")]
    assert "lock yourself out" in payload["errors"][0]["message"]
    assert payload["staff"] is None
    assert await api.fingerprint() == before
    # and they still work
    assert "errors" not in await api.gql("{ branches { code } }", as_="administrator")


async def test_an_administrator_may_rename_themselves_and_restate_their_own_role(api):
    payload = await update(
        api, "administrator", staff_id(api, "gd.admin"), displayName="Huang Lei", role="ADMINISTRATOR"
    )
    assert payload["errors"] == [] and payload["staff"]["role"] == "ADMINISTRATOR"


async def test_another_branchs_administrator_gets_not_found_and_nothing_is_written(api):
    # given the Beijing administrator, and a member of staff of Guangdong
    await api.token("other_branch_admin")
    before = await api.fingerprint()
    # when they try to deactivate them
    payload = await update(api, "other_branch_admin", staff_id(api, "gd.agent"), active=False)
    # then no such member of staff is in their scope, and nothing is written
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(["input", "id"], "NOT_FOUND")]
    assert await api.fingerprint() == before


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"displayName": ""}, "displayName", "REQUIRED"),
        ({"displayName": "   "}, "displayName", "REQUIRED"),
        ({"displayName": None}, "displayName", "REQUIRED"),
        ({"displayName": "n" * 101}, "displayName", "TOO_LONG"),
        ({"displayName": "Guo\u0000Peng"}, "displayName", "INVALID"),
        ({"role": None}, "role", "REQUIRED"),
        ({"active": None}, "active", "REQUIRED"),
        ({"id": gid("Staff", 999_999)}, "id", "NOT_FOUND"),
        ({"id": gid("Outlet", 1)}, "id", "NOT_FOUND"),
    ],
)
async def test_update_staff_refusals_name_the_field_and_write_nothing(api, changes, field, code):
    # given a valid request, spoiled in one field
    await api.token("hq_admin")
    before = await api.fingerprint()
    # when an administrator sends it
    answer = await api.gql(UPDATE, {"input": {"id": staff_id(api, "gd.agent")} | changes}, as_="hq_admin")
    # then that field is named, and nothing is written
    if "errors" in answer:  # refused by the schema (an ID of another type)
        assert answer["data"] in (None, {"updateStaff": None}), answer
    else:
        payload = answer["data"]["updateStaff"]
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [(["input", field], code)]
    assert await api.fingerprint() == before


async def test_the_staff_list_is_the_callers_subtree_and_filters(api):
    gd = ["gd.admin", "gd.operator", "gd.manager", "gd.agent", "gd.clerk", "gd.auditor"]
    # given the demo staff, then each caller sees the staff of their subtree
    assert await usernames(api, "hq_admin") == ["admin", *gd, "bj.operator", "bj.admin"]
    assert await usernames(api, "auditor") == gd
    assert await usernames(api, "other_branch_operator") == ["bj.operator", "bj.admin"]
    # and the filters narrow it, inside the subtree
    assert await usernames(api, "hq_admin", role="ADMINISTRATOR") == ["admin", "gd.admin", "bj.admin"]
    assert await usernames(api, "hq_admin", branchId=gid("Branch", api.demo.branches["BJ"])) == [
        "bj.operator",
        "bj.admin",
    ]
    assert await usernames(api, "auditor", branchId=gid("Branch", api.demo.branches["BJ"])) == []
    assert await usernames(api, "hq_admin", active=False) == []
    # when one is deactivated, then the active filter tells them apart
    await update(api, "hq_admin", staff_id(api, "gd.clerk"), active=False)
    assert await usernames(api, "administrator", active=False) == ["gd.clerk"]
    assert "gd.clerk" not in await usernames(api, "administrator", active=True)


@pytest.mark.parametrize("who", ["member", "partner", "anonymous"])
async def test_only_staff_list_staff(api, who):
    answer = await api.gql(LIST, {}, as_=who)
    assert top_codes(answer) == ["UNAUTHENTICATED" if who == "anonymous" else "FORBIDDEN"]


async def test_administrators_of_a_branch_are_made_and_kept_from_the_branch_above(api):
    # given a second administrator of Guangdong, beside gd.admin
    peer = gid("Staff", await api.add_staff("gd.admin2", "ADMINISTRATOR", "GD"))
    await api.token("administrator")
    before = await api.fingerprint()
    # when gd.admin deactivates the peer, and makes the agent an administrator
    locked_out = await update(api, "administrator", peer, active=False)
    promoted = await update(api, "administrator", staff_id(api, "gd.agent"), role="ADMINISTRATOR")
    # then both are refused, and nothing is written
    assert [(e["field"], e["code"]) for e in locked_out["errors"]] == [(["input", "id"], "FORBIDDEN")]
    assert [(e["field"], e["code"]) for e in promoted["errors"]] == [(["input", "role"], "FORBIDDEN")]
    assert await api.fingerprint() == before
    # while headquarters' administrator does both
    assert (await update(api, "hq_admin", staff_id(api, "gd.agent"), role="ADMINISTRATOR"))["errors"] == []
    assert (await update(api, "hq_admin", peer, active=False))["errors"] == []


async def test_an_account_headquarters_deactivated_is_reactivated_by_headquarters_only(api):
    # given a Guangdong agent deactivated by headquarters
    agent = gid("Staff", await api.add_staff("gd.suspect", "AGENT", "GD"))
    assert (await update(api, "hq_admin", agent, active=False))["errors"] == []
    await api.token("administrator")
    before = await api.fingerprint()
    # when the Guangdong administrator reactivates them, then it is refused saying why, and nothing is written
    refused = await update(api, "administrator", agent, active=True)
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [(["input", "active"], "FORBIDDEN")]
    assert "branch above yours" in refused["errors"][0]["message"]
    assert await api.fingerprint() == before
    # while headquarters reactivates them; and one Guangdong deactivated, Guangdong reactivates
    assert (await update(api, "hq_admin", agent, active=True))["errors"] == []
    assert (await update(api, "administrator", agent, active=False))["errors"] == []
    again = await update(api, "administrator", agent, active=True)
    assert again["errors"] == [] and again["staff"]["active"] is True
    assert await api.scalar("SELECT count(*) FROM staff_deactivation") == 0
