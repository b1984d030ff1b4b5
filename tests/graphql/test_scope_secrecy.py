"""Nothing reveals a record outside the caller's scope: refusing one reads exactly like refusing a missing one."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from tests.graphql.cases import CASES

OUT_OF_SCOPE = [(name, who) for name, case in CASES.items() for who in sorted(case.out_of_scope) if case.input_type]


def missing(value: Any) -> Any:
    """The same kind of reference, to nothing: a global ID of the same type, or card numbers, that no row has."""
    if isinstance(value, list):
        return [missing(v) for v in value] if value and all(missing(v) for v in value) else None
    if isinstance(value, str):
        try:
            type_name, _, key = base64.b64decode(value, validate=True).decode().partition(":")
        except ValueError:
            type_name, key = "", ""
        if type_name and key.isdigit():
            return base64.b64encode(f"{type_name}:987654321".encode()).decode()
        if value.isdigit() and len(value) >= 8:  # a card number: the same offset in a range no card is in
            return "629" + value[3:]
    return None


def variants(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The request with each reference to nothing in turn, and with all of them at once (a range of cards)."""
    replaced = {key: nothing for key, value in request.items() if (nothing := missing(value)) is not None}
    return [{**request, key: nothing} for key, nothing in replaced.items()] + [{**request, **replaced}]


def worded(errors: list[dict]) -> list[dict]:
    """Errors with the numbers the caller sent left out: the reference differs, the answer must not."""
    return [{**e, "message": re.sub(r"\d{8,}", "#", e["message"])} for e in errors]


@pytest.mark.parametrize(("name", "who"), OUT_OF_SCOPE, ids=[f"{n}-{w}" for n, w in OUT_OF_SCOPE])
async def test_a_record_out_of_scope_is_refused_like_a_missing_one(api, name, who):
    # given a valid request about a record of another branch
    case = CASES[name]
    allowed = sorted(case.allowed - {"member", "other_member"})[0] if case.allowed - {"member"} else "member"
    request = await case.make_input(api, allowed)
    await api.token(who)
    # when a caller of another branch sends it
    outside = worded((await api.data(case.query(), {"input": request}, as_=who))[name]["errors"])
    # then the answer is the one for the same reference to nothing, word for word
    answers = [
        worded((await api.data(case.query(), {"input": variant}, as_=who))[name]["errors"])
        for variant in variants(request)
    ]
    assert outside and outside in answers, (outside, answers)


ACCOUNT = """mutation($input: CreateAccountInput!) { createAccount(input: $input) { errors { field code message } } }"""


@pytest.mark.parametrize(("numbers", "message"), [
    (["13800000001"], "Subscriber numbers in use: 13800000001."),  # Li Wei's, in GD
    (["13800000001", "13900000003"], "Subscriber numbers in use."),  # and Zhang Min's, in BJ
])  # fmt: skip
async def test_a_number_taken_in_another_branch_is_not_named(api, numbers, message):
    # given a new account for Li Wei, with numbers of which some are taken, one of them in another province
    request = {"customerId": base64.b64encode(f"Customer:{api.demo.customers['Li Wei']}".encode()).decode(),
               "accountNumber": "80000099", "subscriberNumbers": numbers}  # fmt: skip
    # when a Guangdong operator sends it
    errors = (await api.data(ACCOUNT, {"input": request}, as_="club_operator"))["createAccount"]["errors"]
    # then the numbers are refused, and only those of the caller's own branches are named
    assert errors == [{"field": ["input", "subscriberNumbers"], "code": "DUPLICATE", "message": message}]


NODE = "query($id: ID!) { node(id: $id) { id } }"


@pytest.mark.parametrize("who", ["anonymous", "member", "partner"])
async def test_a_points_rule_is_null_from_node_to_a_caller_who_may_not_read_the_rules(api, who):
    # given a points rule, which staff see by its ID
    rule_id = (await api.data("{ pointsRules { id } }", as_="hq_admin"))["pointsRules"][0]["id"]
    assert await api.data(NODE, {"id": rule_id}, as_="hq_admin") == {"node": {"id": rule_id}}
    # when a caller who may not read the rules asks for it by its ID
    answer = await api.gql(NODE, {"id": rule_id}, as_=who)
    # then it is null with no error, as a rule that does not exist is
    assert answer == {"data": {"node": None}}
    assert answer == await api.gql(NODE, {"id": missing(rule_id)}, as_=who)
