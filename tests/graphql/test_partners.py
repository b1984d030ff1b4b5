"""Partner API keys: issue and refuse."""

from __future__ import annotations

import pytest

from tests.api import gid, top_codes

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


# --- the registry [X1] ---------------------------------------------------------------------------------------------

PARTNER_FIELDS = """errors { field code message } partner { code name kind nature status address legalRepresentative
    staffCount registeredCapitalYuan branch { code } }"""
CREATE_PARTNER = f"""mutation($input: CreatePartnerInput!) {{ createPartner(input: $input) {{ {PARTNER_FIELDS} }} }}"""
UPDATE_PARTNER = f"""mutation($input: UpdatePartnerInput!) {{ updatePartner(input: $input) {{ {PARTNER_FIELDS} }} }}"""
SET_CONTACT = """mutation($input: SetPartnerContactInput!) { setPartnerContact(input: $input) {
    errors { field code message } contact { id name position phone email branch { code } } } }"""
REMOVE_CONTACT = """mutation($input: RemovePartnerContactInput!) { removePartnerContact(input: $input) {
    errors { field code } contact { name } } }"""
CONTACTS = """{ partners { code contacts { name branch { code } } } }"""
ME = "{ me { memberNumber } }"
NODE = '{ node(id: "%s") { ... on Partner { code status contacts { name } } } }'


def branch_id(api, code: str) -> str:
    return gid("Branch", api.demo.branches[code])


def airline(api, **changes) -> dict:
    return {"branchId": branch_id(api, "HQ"), "code": "EAST-AIR", "name": "Eastern Skies", "kind": "AIRLINE",
            "nature": "STATE_OWNED", "address": "Hongqiao Road 2550", "legalRepresentative": "Liu Shaoyong",
            "staffCount": 80_000, "registeredCapitalYuan": 16_379_509_203} | changes  # fmt: skip


def problems(payload: dict) -> list[tuple[list[str], str]]:
    return [(e["field"], e["code"]) for e in payload["errors"]]


async def test_headquarters_registers_a_national_partner_with_its_details(api):
    # when headquarters' administrator registers an airline
    made = (await api.data(CREATE_PARTNER, {"input": airline(api)}, as_="hq_admin"))["createPartner"]
    # then it is active, maintained by headquarters, with every detail as given (a capital beyond an Int's)
    assert made["errors"] == []
    assert made["partner"] == {
        "code": "EAST-AIR", "name": "Eastern Skies", "kind": "AIRLINE", "nature": "STATE_OWNED", "status": "ACTIVE",
        "address": "Hongqiao Road 2550", "legalRepresentative": "Liu Shaoyong", "staffCount": 80_000,
        "registeredCapitalYuan": 16_379_509_203, "branch": {"code": "HQ"},
    }  # fmt: skip


@pytest.mark.parametrize("capital", [2.99, True, "12", " 7 ", "1_000", 2**63], ids=repr)
async def test_a_long_takes_whole_numbers_only(api, capital):
    # given headquarters' administrator
    await api.token("hq_admin")
    before = await api.fingerprint()
    # when a partner's capital is sent as a fraction, a flag, text or past 64 bits
    answer = await api.gql(CREATE_PARTNER, {"input": airline(api, registeredCapitalYuan=capital)}, as_="hq_admin")
    # then the request is refused as a whole, saying what a Long is and nothing of the server's code; nothing is written
    [error] = answer["errors"]
    assert "A Long is a whole number of up to 64 bits." in error["message"] and "int()" not in error["message"]
    assert await api.fingerprint() == before


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"code": "gd-mall"}, "code", "DUPLICATE"),  # the mall's, in another case
        ({"code": ""}, "code", "REQUIRED"),
        ({"code": "EAST AIR"}, "code", "INVALID"),
        ({"name": "  "}, "name", "REQUIRED"),
        ({"name": "n" * 101}, "name", "TOO_LONG"),
        ({"address": "a" * 201}, "address", "TOO_LONG"),
        ({"legalRepresentative": "l" * 101}, "legalRepresentative", "TOO_LONG"),
        ({"staffCount": -1}, "staffCount", "OUT_OF_RANGE"),
        ({"staffCount": 10_000_001}, "staffCount", "OUT_OF_RANGE"),
        ({"registeredCapitalYuan": -1}, "registeredCapitalYuan", "OUT_OF_RANGE"),
        ({"registeredCapitalYuan": 10**15 + 1}, "registeredCapitalYuan", "OUT_OF_RANGE"),
        ({"branchId": gid("Branch", 999_999)}, "branchId", "NOT_FOUND"),
    ],
)
async def test_create_partner_refusals_write_nothing(api, changes, field, code):
    # given a registration with one thing wrong
    await api.token("hq_admin")
    before = await api.fingerprint()
    # when headquarters sends it
    answer = (await api.data(CREATE_PARTNER, {"input": airline(api, **changes)}, as_="hq_admin"))["createPartner"]
    # then it is refused on that field, and nothing is written
    assert problems(answer) == [(["input", field], code)] and answer["partner"] is None
    assert await api.fingerprint() == before


async def test_a_province_registers_its_own_partners_and_not_national_ones(api):
    # when Guangdong's administrator registers a partner of Guangdong, and one of headquarters
    own = await api.data(CREATE_PARTNER, {"input": airline(api, branchId=branch_id(api, "GD"))}, as_="administrator")
    national = airline(api, code="WEST-AIR")
    refused = (await api.data(CREATE_PARTNER, {"input": national}, as_="administrator"))["createPartner"]
    # then the first is Guangdong's, and the second is refused as a branch outside their scope
    assert own["createPartner"]["partner"]["branch"] == {"code": "GD"}
    assert problems(refused) == [(["input", "branchId"], "NOT_FOUND")]


async def test_a_partner_is_updated_by_the_administrators_of_its_branch_or_above(api):
    # given Guangdong's mall
    mall = api.demo_partner_id("GD-MALL")
    change = {"input": {"id": mall, "address": "Tianhe Road 208", "kind": "MALL", "staffCount": 450,
                        "legalRepresentative": None}}  # fmt: skip
    # when Guangdong's administrator changes its address, and Beijing's and Guangdong's try the national airline
    updated = (await api.data(UPDATE_PARTNER, change, as_="administrator"))["updatePartner"]
    airline_change = {"input": {"id": api.demo_partner_id("SKY-MILES"), "name": "Renamed"}}
    by_province = (await api.data(UPDATE_PARTNER, airline_change, as_="administrator"))["updatePartner"]
    # then the mall changed only in what was given, and the airline is headquarters' to change
    assert updated["errors"] == []
    assert updated["partner"] | {"branch": None} == {
        "code": "GD-MALL", "name": "Guangdong Online Mall", "kind": "MALL", "nature": "OTHER", "status": "ACTIVE",
        "address": "Tianhe Road 208", "legalRepresentative": None, "staffCount": 450, "registeredCapitalYuan": None,
        "branch": None,
    }  # fmt: skip
    assert problems(by_province) == [(["input", "id"], "FORBIDDEN")]
    assert "Headquarters" in by_province["errors"][0]["message"]


@pytest.mark.parametrize("field", ["name", "kind", "nature", "status"])
async def test_a_required_detail_is_not_cleared(api, field):
    # given the mall; when its administrator sends null for a detail it must have
    await api.token("administrator")
    before = await api.fingerprint()
    change = {"input": {"id": api.demo_partner_id("GD-MALL"), field: None}}
    answer = (await api.data(UPDATE_PARTNER, change, as_="administrator"))["updatePartner"]
    # then it is refused, and nothing changed
    assert problems(answer) == [(["input", field], "REQUIRED")]
    assert await api.fingerprint() == before


async def test_a_suspended_partners_keys_are_refused_until_it_is_active_again(api):
    # given a key of the mall, known (a member's field is forbidden to it, not unauthenticated)
    key = await api.partner_key("GD-MALL")
    assert top_codes((await api.post({"query": ME}, key)).json()) == ["FORBIDDEN"]
    suspend = {"input": {"id": api.demo_partner_id("GD-MALL"), "status": "SUSPENDED"}}
    # when headquarters suspends the mall
    assert (await api.data(UPDATE_PARTNER, suspend, as_="hq_admin"))["updatePartner"]["partner"][
        "status"
    ] == "SUSPENDED"
    # then its key is refused like a revoked one, on its next request
    assert top_codes((await api.post({"query": ME}, key)).json()) == ["UNAUTHENTICATED"]
    # and once the mall is active again, the key is known again
    resume = {"input": {"id": api.demo_partner_id("GD-MALL"), "status": "ACTIVE"}}
    assert (await api.data(UPDATE_PARTNER, resume, as_="hq_admin"))["updatePartner"]["errors"] == []
    assert top_codes((await api.post({"query": ME}, key)).json()) == ["FORBIDDEN"]


async def test_a_terminated_partnership_stays_so_and_gets_no_keys_or_contacts(api):
    # given the mall, terminated
    mall = api.demo_partner_id("GD-MALL")
    end = {"input": {"id": mall, "status": "TERMINATED"}}
    assert (await api.data(UPDATE_PARTNER, end, as_="hq_admin"))["updatePartner"]["errors"] == []
    before = await api.fingerprint()
    # when its status is set again, a key is asked for, and a contact set
    revived = await api.data(UPDATE_PARTNER, {"input": {"id": mall, "status": "ACTIVE"}}, as_="hq_admin")
    key = await api.data(CREATE, {"input": {"partnerId": mall, "name": "checkout"}}, as_="hq_admin")
    contact = {"input": {"partnerId": mall, "branchId": branch_id(api, "GD"), "name": "Deng Hui"}}
    contacted = await api.data(SET_CONTACT, contact, as_="hq_admin")
    # then each is refused as a partnership ended, and nothing is written; its details may still be corrected
    assert problems(revived["updatePartner"]) == [(["input", "status"], "PARTNER_TERMINATED")]
    assert problems(key["createPartnerApiClient"]) == [(["input", "partnerId"], "PARTNER_TERMINATED")]
    assert problems(contacted["setPartnerContact"]) == [(["input", "partnerId"], "PARTNER_TERMINATED")]
    assert await api.fingerprint() == before
    corrected = {"input": {"id": mall, "address": "Tianhe Road 1", "status": "TERMINATED"}}
    assert (await api.data(UPDATE_PARTNER, corrected, as_="hq_admin"))["updatePartner"]["errors"] == []


async def test_a_province_keeps_its_own_contact_at_a_national_partner(api):
    # given the national airline and headquarters' contact there
    airline_id = api.demo_partner_id("SKY-MILES")
    ours = {"input": {"partnerId": airline_id, "branchId": branch_id(api, "HQ"), "name": "Wu Gang"}}
    assert (await api.data(SET_CONTACT, ours, as_="hq_admin"))["setPartnerContact"]["errors"] == []
    # when Guangdong's administrator sets Guangdong's contact there, then replaces it
    gd = {"partnerId": airline_id, "branchId": branch_id(api, "GD"), "name": "Deng Hui", "position": "Key accounts",
          "phone": "020-87654321", "email": "deng@sky.example"}  # fmt: skip
    first = (await api.data(SET_CONTACT, {"input": gd}, as_="administrator"))["setPartnerContact"]
    replaced = {"input": gd | {"name": "Xu Ming", "email": None}}
    second = (await api.data(SET_CONTACT, replaced, as_="administrator"))["setPartnerContact"]
    # then Guangdong holds one contact, the last one set, and the airline's own details are untouched
    assert first["errors"] == [] and second["errors"] == []
    assert second["contact"]["id"] == first["contact"]["id"]
    assert second["contact"] == {"id": first["contact"]["id"], "name": "Xu Ming", "position": "Key accounts",
                                 "phone": "020-87654321", "email": None, "branch": {"code": "GD"}}  # fmt: skip
    assert (
        await api.scalar("SELECT count(*) FROM partner_contact WHERE branch_id = :gd", gd=api.demo.branches["GD"]) == 1
    )
    # and Guangdong sees headquarters' contact and its own; Beijing sees headquarters' only
    listed = {p["code"]: p["contacts"] for p in (await api.data(CONTACTS, as_="administrator"))["partners"]}
    assert listed["SKY-MILES"] == [{"name": "Wu Gang", "branch": {"code": "HQ"}},
                                   {"name": "Xu Ming", "branch": {"code": "GD"}}]  # fmt: skip
    beijing = {p["code"]: p["contacts"] for p in (await api.data(CONTACTS, as_="other_branch_admin"))["partners"]}
    assert beijing["SKY-MILES"] == [{"name": "Wu Gang", "branch": {"code": "HQ"}}]


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"branchId": "BJ"}, "branchId", "NOT_FOUND"),  # Beijing is not Guangdong's
        ({"branchId": "HQ"}, "branchId", "NOT_FOUND"),  # nor headquarters
        ({"partnerId": gid("Partner", 999_999)}, "partnerId", "NOT_FOUND"),
        ({"name": ""}, "name", "REQUIRED"),
        ({"name": "n" * 101}, "name", "TOO_LONG"),
        ({"position": "p" * 101}, "position", "TOO_LONG"),
        ({"phone": "call me"}, "phone", "INVALID"),
        ({"email": "not an address"}, "email", "INVALID"),
    ],
)
async def test_set_partner_contact_refusals_write_nothing(api, changes, field, code):
    # given a contact for Guangdong at the airline with one thing wrong
    await api.token("administrator")
    before = await api.fingerprint()
    branch = changes.pop("branchId", "GD")
    given = {"partnerId": api.demo_partner_id("SKY-MILES"), "branchId": branch_id(api, branch), "name": "Deng Hui"}
    # when Guangdong's administrator sends it
    answer = (await api.data(SET_CONTACT, {"input": given | changes}, as_="administrator"))["setPartnerContact"]
    # then it is refused on that field, and nothing is written
    assert problems(answer) == [(["input", field], code)] and answer["contact"] is None
    assert await api.fingerprint() == before


async def test_a_contact_is_kept_on_the_partners_side_of_the_tree(api):
    # given Guangdong's mall; when headquarters sets Beijing's contact there
    await api.token("hq_admin")
    before = await api.fingerprint()
    given = {"partnerId": api.demo_partner_id("GD-MALL"), "branchId": branch_id(api, "BJ"), "name": "Deng Hui"}
    answer = (await api.data(SET_CONTACT, {"input": given}, as_="hq_admin"))["setPartnerContact"]
    # then it is refused: Beijing does not deal with Guangdong's partner; nothing is written
    assert problems(answer) == [(["input", "branchId"], "INVALID")]
    assert await api.fingerprint() == before
    # while Shenzhen, below Guangdong, keeps one
    shenzhen = given | {"branchId": branch_id(api, "SZ")}
    assert (await api.data(SET_CONTACT, {"input": shenzhen}, as_="hq_admin"))["setPartnerContact"]["errors"] == []


async def test_a_contact_is_removed_by_its_branchs_administrators_only(api):
    # given Guangdong's contact at the airline
    given = {"partnerId": api.demo_partner_id("SKY-MILES"), "branchId": branch_id(api, "GD"), "name": "Deng Hui"}
    made = (await api.data(SET_CONTACT, {"input": given}, as_="administrator"))["setPartnerContact"]["contact"]
    # when Beijing's administrator removes it, then Guangdong's
    by_beijing = await api.data(REMOVE_CONTACT, {"input": {"id": made["id"]}}, as_="other_branch_admin")
    by_guangdong = await api.data(REMOVE_CONTACT, {"input": {"id": made["id"]}}, as_="administrator")
    again = await api.data(REMOVE_CONTACT, {"input": {"id": made["id"]}}, as_="administrator")
    # then Beijing's finds none in its scope, Guangdong's removes it, and a second removal finds none
    assert problems(by_beijing["removePartnerContact"]) == [(["input", "id"], "NOT_FOUND")]
    assert by_guangdong["removePartnerContact"] == {"errors": [], "contact": {"name": "Deng Hui"}}
    assert problems(again["removePartnerContact"]) == [(["input", "id"], "NOT_FOUND")]
    assert await api.scalar("SELECT count(*) FROM partner_contact") == 0


async def test_partner_keys_and_members_see_no_contacts(api):
    # given Guangdong's contact at the mall
    given = {"partnerId": api.demo_partner_id("GD-MALL"), "branchId": branch_id(api, "GD"), "name": "Deng Hui"}
    assert (await api.data(SET_CONTACT, {"input": given}, as_="administrator"))["setPartnerContact"]["errors"] == []
    # when the mall's own key reads its partner's contacts
    key = await api.partner_key("GD-MALL")
    answer = (await api.post({"query": NODE % api.demo_partner_id("GD-MALL")}, key)).json()
    # then it sees none: whom the club's branches deal with is the club's
    assert answer["data"]["node"]["contacts"] == []
