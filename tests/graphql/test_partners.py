"""Partner API keys: issue and refuse."""

from __future__ import annotations

import pytest

from tests.api import gid

CREATE = """mutation($input: CreatePartnerApiClientInput!) { createPartnerApiClient(input: $input) {
    errors { field code message } credential client { name keyId revokedAt partner { code } } } }"""


async def test_a_key_is_issued_once_and_stored_as_a_digest(api):
    answer = await api.data(
        CREATE, {"input": {"partnerId": api.demo_partner_id("SKY-MILES"), "name": "miles"}}, as_="hq_admin"
    )
    payload = answer["createPartnerApiClient"]
    assert payload["client"]["partner"] == {"code": "SKY-MILES"}
    key_id, secret = payload["credential"].split(".", 1)
    assert key_id == payload["client"]["keyId"] and len(secret) >= 40
    stored = await api.scalar("SELECT string_agg(t::text, '|') FROM partner_api_client t")
    assert secret not in stored


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"name": ""}, "name", "REQUIRED"),
        ({"name": "n" * 101}, "name", "TOO_LONG"),
        ({"partnerId": gid("Partner", 999)}, "partnerId", "NOT_FOUND"),
    ],
)
async def test_create_partner_api_client_refusals(api, changes, field, code):
    await api.token("hq_admin")
    before = await api.fingerprint()
    variables = {"input": {"partnerId": api.demo_partner_id("SKY-MILES"), "name": "miles"} | changes}
    answer = await api.data(CREATE, variables, as_="hq_admin")
    assert [(e["field"], e["code"]) for e in answer["createPartnerApiClient"]["errors"]] == [(["input", field], code)]
    assert answer["createPartnerApiClient"]["credential"] is None
    assert await api.fingerprint() == before


async def test_a_provincial_administrator_cannot_key_a_national_partner(api):
    # given a national partner, which every member of staff sees
    variables = {"input": {"partnerId": api.demo_partner_id("SKY-MILES"), "name": "miles"}}
    # when a provincial administrator asks for a key for it
    answer = await api.data(CREATE, variables, as_="administrator")
    # then it is refused as headquarters' partner, not as a missing branch
    errors = answer["createPartnerApiClient"]["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["input", "partnerId"], "FORBIDDEN")]
    assert "headquarters" in errors[0]["message"].lower() and "branch in your scope" not in errors[0]["message"]


async def test_a_partners_key_sees_its_own_partner_and_no_other(api):
    # given a key of the Guangdong mall
    key = await api.partner_key("GD-MALL")
    query = '{ node(id: "%s") { ... on Partner { code } } }'
    # when it asks for its partner and for the airline's
    own = (await api.post({"query": query % api.demo_partner_id("GD-MALL")}, key)).json()
    other = (await api.post({"query": query % api.demo_partner_id("SKY-MILES")}, key)).json()
    # then it sees its own, and the other as nothing
    assert own == {"data": {"node": {"code": "GD-MALL"}}}
    assert other == {"data": {"node": None}}


async def test_a_partner_holds_at_most_ten_live_keys(api):
    # given the mall with ten keys, one of them revoked
    made = [await api.partner_key("GD-MALL") for _ in range(10)]
    first = await api.scalar("SELECT min(id) FROM partner_api_client")
    await api.scalar("UPDATE partner_api_client SET revoked_at = now() WHERE id = :i RETURNING 1", i=first)
    variables = {"input": {"partnerId": api.demo_partner_id("GD-MALL"), "name": "one more"}}
    # when two more are asked for, then the first is made (nine live) and the second refused, writing nothing
    assert (await api.data(CREATE, variables, as_="hq_admin"))["createPartnerApiClient"]["credential"]
    before = await api.fingerprint()
    refused = (await api.data(CREATE, variables, as_="hq_admin"))["createPartnerApiClient"]
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [
        (["input", "partnerId"], "API_CLIENT_LIMIT_REACHED")
    ]
    assert refused["credential"] is None and await api.fingerprint() == before
    assert len(made) == 10


KEYS = """{ partners { code apiClients { id name revokedAt } } }"""
REVOKE = """mutation($input: RevokePartnerApiClientInput!) { revokePartnerApiClient(input: $input) {
    errors { code } client { revokedAt } } }"""


async def keys_of(api, partner: str, as_: str) -> list[dict]:
    return next(p["apiClients"] for p in (await api.data(KEYS, as_=as_))["partners"] if p["code"] == partner)


async def test_the_administrators_who_manage_a_partners_keys_list_and_revoke_them(api):
    # given a key headquarters made for Guangdong's mall
    made = {"input": {"partnerId": api.demo_partner_id("GD-MALL"), "name": "checkout"}}
    assert (await api.data(CREATE, made, as_="hq_admin"))["createPartnerApiClient"]["errors"] == []
    # when Guangdong's administrator lists the mall's keys, then it is there, and they revoke it by its id
    (key,) = await keys_of(api, "GD-MALL", "administrator")
    assert (key["name"], key["revokedAt"]) == ("checkout", None)
    revoked = (await api.data(REVOKE, {"input": {"id": key["id"]}}, as_="administrator"))["revokePartnerApiClient"]
    assert revoked["errors"] == [] and revoked["client"]["revokedAt"]
    assert (await keys_of(api, "GD-MALL", "administrator"))[0]["revokedAt"] == revoked["client"]["revokedAt"]
    # and staff of another province, or who do not manage keys, see none
    assert await keys_of(api, "GD-MALL", "other_branch_admin") == []
    assert await keys_of(api, "GD-MALL", "agent") == []


async def test_a_live_key_is_listed_before_a_hundred_revoked_since(api):
    # given a live key of the mall, and a hundred keys made and revoked after it
    made = {"input": {"partnerId": api.demo_partner_id("GD-MALL"), "name": "the live one"}}
    assert (await api.data(CREATE, made, as_="hq_admin"))["createPartnerApiClient"]["errors"] == []
    await api.scalar(
        """INSERT INTO partner_api_client (partner_id, name, key_id, secret_sha256, created_by_staff_id, revoked_at)
           SELECT :p, 'rotated', 'pk_rotated_' || g, sha256(g::text::bytea), :s, now() FROM generate_series(1, 100) g
           RETURNING 1""",
        p=api.demo.partners["GD-MALL"], s=api.demo.staff["admin"],
    )  # fmt: skip
    # when Guangdong's administrator lists the mall's keys, then the live one leads the hundred listed
    listed = await keys_of(api, "GD-MALL", "administrator")
    assert (len(listed), listed[0]["name"], listed[0]["revokedAt"]) == (100, "the live one", None)
