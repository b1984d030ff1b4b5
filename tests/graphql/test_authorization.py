"""Authorization matrix: every mutation × every kind of caller. A refusal writes nothing but its audit event."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import sqlalchemy as sa

from tests.api import PRINCIPALS, Api, gid, top_codes
from tests.graphql.cases import CASES

MATRIX = [(name, who) for name in CASES for who in PRINCIPALS]


@pytest.mark.parametrize(("mutation", "who"), MATRIX, ids=[f"{m}-{w}" for m, w in MATRIX])
async def test_mutation_answers_each_caller_as_the_rules_say(api, mutation, who):
    # given a valid request and the caller's credentials
    case = CASES[mutation]
    variables = {"input": await case.make_input(api, who)} if case.input_type else {}
    await api.token(who)
    before = await api.fingerprint()
    audited = await api.scalar("SELECT coalesce(max(id), 0) FROM audit_event")

    # when the caller sends it
    answer = await api.gql(case.query(), variables, as_=who)

    # then the audit trail records it, with its outcome, unless the caller is anonymous
    await _assert_audited(api, audited, mutation, who, answer)
    # and it succeeds for the allowed, and is refused for everyone else without a write
    if who in case.special:
        assert [e["code"] for e in answer["data"][mutation]["errors"]] == [case.special[who]], answer
    elif who in case.allowed:
        assert "errors" not in answer, answer
        assert answer["data"][mutation]["errors"] == [], answer
        return
    elif who in case.out_of_scope:
        assert [e["code"] for e in answer["data"][mutation]["errors"]] == ["NOT_FOUND"]
    else:
        assert top_codes(answer) == ["UNAUTHENTICATED" if who == "anonymous" else "FORBIDDEN"], answer
        assert answer["data"] == {mutation: None}  # the refused field alone is null
    assert await api.fingerprint() == before


async def _assert_audited(api: Api, after: int, mutation: str, who: str, answer: dict) -> None:
    """One event of the request, naming the caller and the answer's outcome; none for an anonymous caller."""
    async with api.engine.connect() as connection:
        found = (await connection.execute(
            sa.text("SELECT principal_kind, principal_id, operation, outcome FROM audit_event WHERE id > :after"),
            {"after": after},
        )).all()  # fmt: skip
    if who == "anonymous":
        assert found == []
        return
    payload = (answer.get("data") or {}).get(mutation) or {}
    outcome = (top_codes(answer) or [e["code"] for e in payload.get("errors", [])] or ["OK"])[0]
    if who == "partner":
        caller = ("PARTNER", api.demo.partners["SKY-MILES"])
    else:
        kind, login = PRINCIPALS[who]
        caller = (kind, api.demo.staff[login] if kind == "STAFF" else api.demo.members[login])
    assert [tuple(row) for row in found] == [(*caller, mutation, outcome)], answer


def _ids_of_no_object(value: Any) -> Any:
    """`value` with every global ID in it replaced by one that names no object (of a type that does not exist)."""
    if isinstance(value, dict):
        return {k: _ids_of_no_object(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ids_of_no_object(v) for v in value]
    if isinstance(value, str):
        try:
            type_name, _, key = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return value
        return gid("Nothing", 1) if type_name.isidentifier() and key.isdigit() else value
    return value


@pytest.mark.parametrize("who", ["anonymous", "partner"])
async def test_a_caller_who_may_send_no_command_is_refused_as_such_whatever_the_input(api, who):
    # given every mutation's request with each of its IDs naming no object, and a caller who may send none
    refused: dict[str, list[str]] = {}
    for mutation, case in CASES.items():
        if who in case.allowed or not case.input_type:
            continue
        variables = {"input": _ids_of_no_object(await case.make_input(api, who))}
        # when the caller sends it, then the caller is refused, before the IDs are looked at
        refused[mutation] = top_codes(await api.gql(case.query(), variables, as_=who))
    assert refused == dict.fromkeys(refused, ["UNAUTHENTICATED" if who == "anonymous" else "FORBIDDEN"])
    # and so is a quote of a reward that is no reward
    quote = """query($input: QuoteRedemptionInput!) { quoteRedemption(input: $input) { points } }"""
    items = [{"itemId": gid("Nothing", 1), "quantity": 1}]
    answer = await api.gql(quote, {"input": {"items": items, "channel": "WEB"}}, as_=who)
    assert top_codes(answer) == ["UNAUTHENTICATED" if who == "anonymous" else "FORBIDDEN"]
