"""Authorization matrix: every mutation × every kind of caller. A refusal writes nothing but its audit event."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.api import PRINCIPALS, Api, top_codes
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
