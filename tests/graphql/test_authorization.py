"""Authorization matrix: every mutation × every kind of caller. A refusal writes nothing."""

from __future__ import annotations

import pytest

from tests.api import PRINCIPALS, top_codes
from tests.graphql.cases import CASES

MATRIX = [(name, who) for name in CASES for who in PRINCIPALS]


@pytest.mark.parametrize(("mutation", "who"), MATRIX, ids=[f"{m}-{w}" for m, w in MATRIX])
async def test_mutation_answers_each_caller_as_the_rules_say(api, mutation, who):
    # given a valid request and the caller's credentials
    case = CASES[mutation]
    variables = {"input": await case.make_input(api, who)} if case.input_type else {}
    await api.token(who)
    before = await api.fingerprint()

    # when the caller sends it
    answer = await api.gql(case.query(), variables, as_=who)

    # then it succeeds for the allowed, and is refused for everyone else without a write
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
        assert answer["data"] is None
    assert await api.fingerprint() == before
