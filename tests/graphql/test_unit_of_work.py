"""What every mutation gets from the edge and the unit of work: idempotency keys checked after the
caller, refusals whose record is kept without spending the key, secrets kept out of stored digests,
and the client's names in messages without touching the values the client sent."""

from __future__ import annotations

import dataclasses
import json

import pytest

from domain.work.commands import Idempotent
from tests.api import gid, top_codes
from tests.graphql.test_member_cards import LI_WEI_CARD, LI_WEI_ID, LOST, error_codes, first, history
from tests.graphql.test_organisation import CREATE, club_input
from tests.graphql.test_points import ADJUST


def adjust_input(api, key: str) -> dict:
    member = gid("Member", api.demo.members["Li Wei"])
    return {"input": {"memberId": member, "points": 10, "reason": "Goodwill", "idempotencyKey": key}}


async def test_a_replay_is_refused_to_a_caller_who_may_no_longer_send_the_command(api):
    # given an operator's adjustment, and then the operator's role taken away
    first_try = await api.data(ADJUST, adjust_input(api, "k-1"), as_="club_operator")
    assert first_try["adjustPoints"]["errors"] == []
    await api.scalar("UPDATE staff SET role = 'AUDITOR' WHERE username = 'gd.operator' RETURNING 1")
    before = await api.fingerprint()
    # when the same request is replayed with the same key
    answer = await api.gql(ADJUST, adjust_input(api, "k-1"), as_="club_operator")
    # then it is refused like a first try, and nothing was written
    assert top_codes(answer) == ["FORBIDDEN"]
    assert await api.fingerprint() == before


@pytest.mark.parametrize(("who", "code"), [("anonymous", "UNAUTHENTICATED"), ("member", "FORBIDDEN")])
@pytest.mark.parametrize("key", ["", "k" * 101, "nul\x00key", "lone\ud800"])
async def test_a_caller_who_may_not_adjust_learns_nothing_about_keys(api, who, code, key):
    # given a caller who may not adjust points at all
    await api.token(who)
    before = await api.fingerprint()
    # when they send a key of any shape (escaped JSON carries even a lone surrogate)
    token = await api.token(who)
    body = json.dumps({"query": ADJUST, "variables": adjust_input(api, key)}).encode()
    headers = {"content-type": "application/json"} | ({"authorization": f"Bearer {token}"} if token else {})
    answer = (await api.client.post("/graphql", content=body, headers=headers)).json()
    # then they are refused as callers, before the key is looked at, and nothing was written; text no request
    # may hold (a NUL, a lone surrogate) is refused at the edge, for every caller alike, before anything else
    unusable = "\x00" in key or "\ud800" in key
    assert top_codes(answer) == (["INVALID"] if unusable else [code])
    assert await api.fingerprint() == before


@pytest.mark.parametrize(
    ("key", "code"), [("", "REQUIRED"), ("k" * 101, "TOO_LONG"), ("tab\tkey", "INVALID"), ("bell\x07key", "INVALID")]
)
async def test_a_key_that_is_empty_too_long_or_unprintable_is_refused(api, key, code):
    await api.token("hq_admin")
    before = await api.fingerprint()
    answer = await api.data(ADJUST, adjust_input(api, key), as_="hq_admin")
    assert [(e["field"], e["code"]) for e in answer["adjustPoints"]["errors"]] == [(["input", "idempotencyKey"], code)]
    assert await api.fingerprint() == before


async def test_a_wrong_proof_is_recorded_and_leaves_the_key_free_for_the_right_one(api):
    # given staff reporting a card lost with a key and a wrong PIN: the failure is recorded
    wrong = {"cardNumber": LI_WEI_CARD, "proof": {"cardPin": "975310"}, "idempotencyKey": "call-7"}
    assert error_codes(await api.data(LOST, {"input": wrong}, as_="agent")) == [
        (["input", "proof.cardPin"], "INVALID_CREDENTIALS")
    ]
    assert [e["action"] for e in (await history(api))["history"]].count("PROOF_FAILED") == 1
    # when the same key is retried with the same wrong PIN, then with the right proof
    again = await api.data(LOST, {"input": wrong}, as_="agent")
    right = {"cardNumber": LI_WEI_CARD, "proof": {"idDocumentNumber": LI_WEI_ID}, "idempotencyKey": "call-7"}
    answer = await api.data(LOST, {"input": right}, as_="agent")
    # then the retry is refused and recorded again, and the right proof reports the card lost
    assert error_codes(again) == [(["input", "proof.cardPin"], "INVALID_CREDENTIALS")]
    assert first(answer)["errors"] == [] and first(answer)["card"]["state"] == "LOST"
    # and a replay of the success answers as the first call did
    replay = await api.data(LOST, {"input": right}, as_="agent")
    assert first(replay)["errors"] == [] and first(replay)["card"]["state"] == "LOST"


def test_no_secret_reaches_the_digest_a_key_is_stored_with():
    # given every idempotent command
    for command in Idempotent.__subclasses__() + [c for s in Idempotent.__subclasses__() for c in s.__subclasses__()]:
        request = {f.name for f in dataclasses.fields(command)} - {"idempotency_key", *command.unrecorded}
        # then none of the fields it is remembered by carries a PIN, a password or a proof
        assert not request & {"proof", "pin", "password", "card_pin", "old_pin", "new_pin"}, command.__name__


def test_two_idempotent_commands_cannot_share_a_name_and_so_a_scope():
    with pytest.raises(AssertionError, match="two commands named AdjustPoints"):
        type("AdjustPoints", (Idempotent,), {"__module__": "elsewhere"})


async def test_messages_use_the_clients_names_but_quote_its_values_as_sent(api):
    # given a club whose code has underscores
    await api.data(CREATE, {"input": club_input(api, code="sz_vip_club")}, as_="administrator")
    # when another club is given the same code
    answer = await api.data(CREATE, {"input": club_input(api, code="sz_vip_club")}, as_="administrator")
    # then the message names the code as the client sent it
    (error,) = answer["createClub"]["errors"]
    assert error["code"] == "DUPLICATE" and "sz_vip_club" in error["message"]


async def test_a_global_id_with_leading_zeros_names_nothing(api):
    member = gid("Member", f"0{api.demo.members['Li Wei']}")  # a second spelling of the same key
    variables = {"input": {"memberId": member, "points": 1, "reason": "x", "idempotencyKey": "zeros"}}
    answer = await api.data(ADJUST, variables, as_="hq_admin")
    assert [(e["field"], e["code"]) for e in answer["adjustPoints"]["errors"]] == [(["input", "memberId"], "NOT_FOUND")]
