"""Bad input to every mutation gets a clear error, never a 500, an internal error or a partial write."""

from __future__ import annotations

import json

import pytest

from tests.api import gid, top_codes
from tests.graphql.cases import CASES

WITH_INPUT = [name for name, case in CASES.items() if case.input_type and name != "revokePartnerApiClient"]


def caller(name: str) -> str:
    """A principal allowed to run the mutation on the demo data, so that only the input is at fault."""
    case = CASES[name]
    if case.allowed <= {"member", "other_member"}:
        return "member"
    return "administrator" if "hq_admin" in case.special else "hq_admin"


def mutated(original: dict, key: str, value) -> dict:
    return {**original, key: value}


async def send(api, name: str, data: dict) -> dict:
    return await api.gql(CASES[name].query(), {"input": data}, as_=caller(name))


def assert_refused_cleanly(answer: dict, name: str) -> None:
    assert "INTERNAL" not in top_codes(answer), answer
    if "errors" in answer:  # refused by the GraphQL layer before running, or refused as a whole when run
        assert answer.get("data") in (None, {name: None}), answer
        assert all(e["message"] for e in answer["errors"])
    else:
        assert answer["data"][name]["errors"], f"{name} accepted bad input"


async def check_each(api, name: str, bad_values) -> None:
    case = CASES[name]
    good = await case.make_input(api, caller(name))
    await api.token(caller(name))
    for key, value in bad_values(good):
        before = await api.fingerprint()
        answer = await send(api, name, mutated(good, key, value))
        assert_refused_cleanly(answer, name)
        after = await api.fingerprint()
        if recorded_attempt(answer, name):  # a wrong PIN or proof is counted and logged on the card, nothing else
            before, after = ({k: v for k, v in d.items() if k not in ("card", "card_event")} for d in (before, after))
        assert after == before, (name, key)


def recorded_attempt(answer: dict, name: str) -> bool:
    codes = {e["code"] for e in ((answer.get("data") or {}).get(name) or {}).get("errors", [])}
    return bool(codes) and codes <= {"INVALID_CREDENTIALS", "LOCKED"}


@pytest.mark.parametrize("name", WITH_INPUT)
async def test_overlong_text_in_any_field_is_refused(api, name):
    def values(good):
        return [(k, "x" * 5_000) for k, v in good.items() if isinstance(v, str) and not k.endswith("Id") and k != "id"]

    await check_each(api, name, values)


@pytest.mark.parametrize("name", WITH_INPUT)
async def test_wrong_types_are_refused_by_the_schema(api, name):
    def values(good):
        # A lone string is a valid one-item list in GraphQL, so lists get a list of the wrong type.
        wrong = {str: {"nested": True}, list: [{"nested": True}], int: "text"}
        return [(k, wrong.get(type(v), "text")) for k, v in good.items()]

    await check_each(api, name, values)


@pytest.mark.parametrize("name", [n for n in WITH_INPUT if n != "updateMyProfile" and n != "changePassword"])
async def test_unknown_foreign_and_malformed_ids_are_refused(api, name):
    def values(good):
        for key in [k for k in good if k == "id" or k.endswith("Id")]:
            yield key, gid("Card", api.demo.cards["Li Wei"])  # an existing object of a type no input takes
            yield key, gid("Member", 999_999)
            yield key, gid("Customer", 10**30)
            yield key, "not-a-global-id"
            yield key, ""

    await check_each(api, name, values)


@pytest.mark.parametrize("name", ["createCustomer", "createClub", "createAccount"])
async def test_required_text_that_is_empty_or_blank_is_refused(api, name):
    def values(good):
        return [
            (k, blank) for k, v in good.items() if isinstance(v, str) and not k.endswith("Id") for blank in ("", "  ")
        ]

    await check_each(api, name, values)


@pytest.mark.parametrize("limit", [-1, 10**12 + 1, 2**31, -(2**31), 2**63])
async def test_credit_limits_out_of_range_are_refused(api, limit):
    await check_each(api, "createAccount", lambda good: [("creditLimitFen", limit)])


async def test_a_nul_character_is_refused(api):
    await check_each(api, "createClub", lambda good: [("name", "bad\x00name")])


# --- HTTP and query-shape limits -----------------------------------------------------------


async def test_malformed_json_body_is_a_400_not_a_500(api):
    response = await api.client.post(
        "/graphql", content=b'{"query": "{ grades { code } "', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


async def test_batched_requests_are_refused(api):
    body = json.dumps([{"query": "{ grades { code } }"}, {"query": "{ grades { code } }"}])
    response = await api.client.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400


async def test_queries_over_get_are_refused(api):
    response = await api.client.get("/graphql", params={"query": "{ grades { code } }"})
    assert response.status_code in (400, 405)


@pytest.mark.parametrize("first", [100_000, 101, -1])
async def test_page_sizes_beyond_the_cap_are_refused(api, first):
    answer = await api.gql(f"{{ members(first: {first}) {{ edges {{ cursor }} }} }}", as_="hq_admin")
    assert top_codes(answer) == ["OUT_OF_RANGE"]
    assert "100" in answer["errors"][0]["message"]


@pytest.mark.parametrize("cursor", ['after: "!!"', 'after: ""', 'before: ""', 'last: 5, before: ""'])
async def test_a_bad_cursor_is_refused(api, cursor):
    # an empty cursor too: it names no place in the list, and is not read as no cursor
    answer = await api.gql(f"{{ members({cursor}) {{ edges {{ cursor }} }} }}", as_="hq_admin")
    assert top_codes(answer) == ["INVALID"]
    answer = await api.gql(f"{{ me {{ redemptions({cursor}) {{ edges {{ cursor }} }} }} }}", as_="member")
    assert top_codes(answer) == ["INVALID"]


async def test_deeply_nested_queries_are_refused(api):
    deep = "{ me { club { branch { " + "parent { " * 15 + "code" + " }" * 15 + " } } } }"
    answer = await api.gql(deep, as_="member")
    assert answer["data"] is None
    assert "depth" in answer["errors"][0]["message"]


async def test_many_aliases_are_refused(api):
    query = "{ " + " ".join(f"a{i}: grades {{ code }}" for i in range(50)) + " }"
    answer = await api.gql(query)
    assert answer["data"] is None
    assert "alias" in answer["errors"][0]["message"].lower()


async def test_huge_documents_are_refused(api):
    query = "{ grades { " + " ".join(["code"] * 3_000) + " } }"
    answer = await api.gql(query)
    assert answer["data"] is None
    assert "token" in answer["errors"][0]["message"].lower()


async def test_unknown_fields_are_a_validation_error(api):
    answer = await api.gql(
        """mutation { updateMyProfile(input: { memberNumber: "1", gradeCode: "DIAMOND" }) { errors { code } } }""",
        as_="member",
    )
    assert answer["data"] is None
    assert all("memberNumber" in e["message"] or "gradeCode" in e["message"] for e in answer["errors"])
