"""Customers, credit levels and accounts."""

from __future__ import annotations

import pytest

from tests.api import gid, top_codes

CUSTOMER_FIELDS = """id kind name idDocumentType idDocumentNumber gender birthDate phone email address region industry
    creditLevel branch { code } customerManager { username }"""
CREATE = f"""mutation($input: CreateCustomerInput!) {{ createCustomer(input: $input) {{
    errors {{ field code message }} customer {{ {CUSTOMER_FIELDS} }} }} }}"""
UPDATE = f"""mutation($input: UpdateCustomerInput!) {{ updateCustomer(input: $input) {{
    errors {{ field code message }} customer {{ {CUSTOMER_FIELDS} }} }} }}"""
CREDIT = """mutation($input: SetCreditLevelInput!) { setCreditLevel(input: $input) {
    errors { field code message }
    customer { creditLevel creditHistory { levelBefore levelAfter reason changedBy { username } } } } }"""
ACCOUNT = """mutation($input: CreateAccountInput!) { createAccount(input: $input) {
    errors { field code message } account { accountNumber creditLimitFen status openedOn subscriberNumbers } } }"""


def new_customer(api, **changes):
    return {
        "branchId": gid("Branch", api.demo.branches["SZ"]),
        "kind": "INDIVIDUAL",
        "name": "Chen Jing",
        "idDocumentType": "ID_CARD",
        "idDocumentNumber": "440301199901010099",
    } | changes


def codes(answer, mutation):
    return [(e["field"], e["code"]) for e in answer[mutation]["errors"]]


async def test_staff_register_a_customer_with_a_manager(api):
    manager = gid("Staff", api.demo.staff["gd.manager"])
    details = {"gender": "FEMALE", "birthDate": "1999-01-01", "phone": "13700000009", "customerManagerId": manager}
    answer = await api.data(CREATE, {"input": new_customer(api, **details)}, as_="customer_manager")
    customer = answer["createCustomer"]["customer"]
    assert answer["createCustomer"]["errors"] == []
    assert customer["branch"]["code"] == "SZ"
    assert customer["customerManager"]["username"] == "gd.manager"
    assert (customer["creditLevel"], customer["birthDate"], customer["gender"]) == ("GREY", "1999-01-01", "FEMALE")


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"idDocumentNumber": "440101198001010011"}, "idDocumentNumber", "DUPLICATE"),  # Li Wei's
        ({"idDocumentNumber": "4401 0119 8001 0100 11"}, "idDocumentNumber", "DUPLICATE"),  # his, spaced
        ({"idDocumentNumber": "４４０１０１１９８００１０１００１１"}, "idDocumentNumber", "DUPLICATE"),  # full width
        ({"idDocumentNumber": "440101198001010011\u200b"}, "idDocumentNumber", "INVALID"),  # an invisible space
        ({"idDocumentNumber": "٤٤٠١٠١١٩٨٠٠١٠١٠٠١١"}, "idDocumentNumber", "DUPLICATE"),  # his, in Arabic-Indic digits
        ({"idDocumentNumber": "४४०१०११९८००१०१००११"}, "idDocumentNumber", "DUPLICATE"),  # and in Devanagari ones
        ({"idDocumentNumber": "44010119800101001\u0425"}, "idDocumentNumber", "INVALID"),  # a Cyrillic Х for an X
        ({"idDocumentNumber": "\u0395" + "1234567"}, "idDocumentNumber", "INVALID"),  # a Greek Ε for a passport's E
        ({"name": "\u3164"}, "name", "INVALID"),  # a Hangul filler: a name that prints as nothing
        ({"name": "\u2800"}, "name", "INVALID"),  # a Braille blank
        ({"name": "Chen\u200dYi"}, "name", "INVALID"),  # a zero-width joiner between Latin letters
        ({"name": "Chen\u00adYi"}, "name", "INVALID"),  # a soft hyphen
        ({"name": "Chen\u2028Yi"}, "name", "INVALID"),  # a line separator
        ({"idDocumentNumber": "4401-0119*8001"}, "idDocumentNumber", "INVALID"),
        ({"idDocumentNumber": "№" * 17}, "idDocumentNumber", "TOO_LONG"),  # 34 characters in plain form (No)
        ({"name": "   "}, "name", "REQUIRED"),
        ({"idDocumentNumber": "9" * 33}, "idDocumentNumber", "TOO_LONG"),
        ({"email": "chen@"}, "email", "INVALID"),
        ({"birthDate": "2199-01-01"}, "birthDate", "OUT_OF_RANGE"),
        ({"branchId": gid("Branch", 999)}, "branchId", "NOT_FOUND"),
        ({"customerManagerId": gid("Staff", 999)}, "customerManagerId", "NOT_FOUND"),
    ],
)
async def test_create_customer_refusals(api, changes, field, code):
    before = await api.fingerprint()
    answer = await api.data(CREATE, {"input": new_customer(api, **changes)}, as_="club_operator")
    assert codes(answer, "createCustomer") == [(["input", field], code)]
    assert await api.fingerprint() == before


async def test_an_id_document_number_is_kept_in_one_form(api):
    # given a passport number typed with spaces, in lower case and full-width digits
    typed = "e 1234５６７"
    # when a customer is created with it, then it is kept as the plain number, in upper case, without spaces
    answer = await api.data(CREATE, {"input": new_customer(api, idDocumentNumber=typed)}, as_="club_operator")
    assert answer["createCustomer"]["errors"] == []
    kept = await api.scalar("SELECT id_document_number FROM customer ORDER BY id DESC LIMIT 1")
    assert kept == "E1234567"
    # and the same number typed as it stands on the passport is another customer's
    again = await api.data(CREATE, {"input": new_customer(api, name="Chen Yi", idDocumentNumber="E1234567")},
                           as_="club_operator")  # fmt: skip
    assert codes(again, "createCustomer") == [(["input", "idDocumentNumber"], "DUPLICATE")]


@pytest.mark.parametrize("staff", ["bj.operator", "gd.auditor", "gd.agent"])
async def test_only_a_customer_manager_of_the_subtree_can_be_assigned(api, staff):
    # given staff of another branch, or of the subtree but not customer managers (members see and call them)
    manager = gid("Staff", api.demo.staff[staff])
    answer = await api.data(CREATE, {"input": new_customer(api, customerManagerId=manager)}, as_="club_operator")
    assert codes(answer, "createCustomer") == [(["input", "customerManagerId"], "NOT_FOUND")]


READ = "query($id: ID!) { customer(id: $id) { name customerManager { username } } }"


@pytest.mark.parametrize(("manager_of", "customer_of"), [("BJ", "SZ"), ("SZ", "GD")])  # beside it, below it
async def test_a_new_customers_manager_who_would_not_see_them_is_refused(api, manager_of, customer_of):
    # given a customer manager whom the head office sees, of a branch beside or below the customer's
    manager = gid("Staff", await api.add_staff("new.manager", "CUSTOMER_MANAGER", manager_of))
    before = await api.fingerprint()
    # when the head office registers the customer with them as manager
    customer = new_customer(api, branchId=gid("Branch", api.demo.branches[customer_of]), customerManagerId=manager)
    answer = await api.data(CREATE, {"input": customer}, as_="hq_admin")
    # then it is refused on the manager, saying why, and nothing is written
    assert codes(answer, "createCustomer") == [(["input", "customerManagerId"], "INVALID")]
    assert "does not see this customer" in answer["createCustomer"]["errors"][0]["message"]
    assert await api.fingerprint() == before


@pytest.mark.parametrize("manager_of", ["BJ", "SZ"])
async def test_a_customers_manager_who_would_not_see_them_is_refused(api, manager_of):
    # given Li Wei, a customer of Guangdong, and a customer manager of Beijing or of Shenzhen (below Guangdong)
    manager = gid("Staff", await api.add_staff("new.manager", "CUSTOMER_MANAGER", manager_of))
    li_wei = gid("Customer", api.demo.customers["Li Wei"])
    before = await api.fingerprint()
    # when the head office makes them his manager
    answer = await api.data(UPDATE, {"input": {"id": li_wei, "customerManagerId": manager}}, as_="hq_admin")
    # then it is refused on the manager, nothing is written, and the manager still does not see him
    assert codes(answer, "updateCustomer") == [(["input", "customerManagerId"], "INVALID")]
    assert await api.fingerprint() == before
    assert (await api.data(READ, {"id": li_wei}, as_="new.manager"))["customer"] is None


@pytest.mark.parametrize("manager_of", ["SZ", "GD", "HQ"])
async def test_a_customer_manager_of_the_customers_branch_or_above_manages_them(api, manager_of):
    # given a customer manager of Shenzhen, of Guangdong above it, or of headquarters
    manager = gid("Staff", await api.add_staff("new.manager", "CUSTOMER_MANAGER", manager_of))
    # when the head office registers a customer of Shenzhen with them as manager
    answer = await api.data(CREATE, {"input": new_customer(api, customerManagerId=manager)}, as_="hq_admin")
    assert answer["createCustomer"]["errors"] == []
    # then the manager reads the customer they manage
    customer = answer["createCustomer"]["customer"]["id"]
    read = await api.data(READ, {"id": customer}, as_="new.manager")
    assert read["customer"] == {"name": "Chen Jing", "customerManager": {"username": "new.manager"}}


async def test_update_customer_changes_given_fields(api):
    variables = {
        "input": {"id": gid("Customer", api.demo.customers["Li Wei"]), "address": "1 Tianhe Rd", "gender": "MALE"}
    }
    customer = (await api.data(UPDATE, variables, as_="customer_manager"))["updateCustomer"]["customer"]
    assert (customer["name"], customer["address"], customer["gender"]) == ("Li Wei", "1 Tianhe Rd", "MALE")


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"idDocumentNumber": "110101199003030033"}, "idDocumentNumber", "DUPLICATE"),  # Zhang Min's
        ({"idDocumentType": None}, "idDocumentType", "REQUIRED"),
        ({"name": None}, "name", "REQUIRED"),
        ({"id": gid("Customer", 999)}, "id", "NOT_FOUND"),
    ],
)
async def test_update_customer_refusals(api, changes, field, code):
    before = await api.fingerprint()
    variables = {"input": {"id": gid("Customer", api.demo.customers["Li Wei"])} | changes}
    answer = await api.data(UPDATE, variables, as_="club_operator")
    assert codes(answer, "updateCustomer") == [(["input", field], code)]
    assert await api.fingerprint() == before


IDENTITY = """query($id: ID!) { node(id: $id) { ... on Customer {
    identityChanges { before after changedAt changedBy { username } } } } }"""


async def test_a_change_of_identity_by_staff_is_recorded_with_before_and_after(api):
    # given Li Wei, whose ID document is one of the proofs for reporting a card lost
    customer_id = gid("Customer", api.demo.customers["Li Wei"])
    # when staff, having checked a new document, change the ID document and the address
    variables = {"input": {"id": customer_id, "idDocumentType": "PASSPORT", "idDocumentNumber": "E7654321",
                           "address": "1 Tianhe Rd"}}  # fmt: skip
    assert (await api.data(UPDATE, variables, as_="club_operator"))["updateCustomer"]["errors"] == []
    # and then change only the address
    variables = {"input": {"id": customer_id, "address": "2 Tianhe Rd"}}
    assert (await api.data(UPDATE, variables, as_="club_operator"))["updateCustomer"]["errors"] == []
    # then one identity change is recorded: who, when, before and after
    changes = (await api.data(IDENTITY, {"id": customer_id}, as_="auditor"))["node"]["identityChanges"]
    assert len(changes) == 1
    assert changes[0]["before"] == {"name": "Li Wei", "idDocumentType": "ID_CARD",
                                    "idDocumentNumber": "440101198001010011"}  # fmt: skip
    assert changes[0]["after"] == {"name": "Li Wei", "idDocumentType": "PASSPORT", "idDocumentNumber": "E7654321"}
    assert changes[0]["changedBy"] == {"username": "gd.operator"} and changes[0]["changedAt"]


async def test_members_do_not_read_identity_changes(api):
    customer_id = gid("Customer", api.demo.customers["Li Wei"])
    answer = await api.gql(IDENTITY, {"id": customer_id}, as_="member")
    assert answer["data"]["node"] is None or top_codes(answer) == ["FORBIDDEN"]


async def test_credit_level_changes_are_kept_in_history(api):
    customer_id = gid("Customer", api.demo.customers["Li Wei"])
    await api.data(
        CREDIT, {"input": {"customerId": customer_id, "level": "RED", "reason": "Always on time"}}, as_="club_operator"
    )
    answer = await api.data(
        CREDIT, {"input": {"customerId": customer_id, "level": "BLACK", "reason": "Arrears"}}, as_="hq_admin"
    )
    customer = answer["setCreditLevel"]["customer"]
    assert customer["creditLevel"] == "BLACK"
    assert customer["creditHistory"] == [
        {"levelBefore": "RED", "levelAfter": "BLACK", "reason": "Arrears", "changedBy": {"username": "admin"}},
        {
            "levelBefore": "GREY",
            "levelAfter": "RED",
            "reason": "Always on time",
            "changedBy": {"username": "gd.operator"},
        },
    ]


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"level": "GREY"}, "level", "CREDIT_LEVEL_UNCHANGED"),
        ({"reason": ""}, "reason", "REQUIRED"),
        ({"reason": "r" * 501}, "reason", "TOO_LONG"),
        ({"customerId": gid("Customer", 999)}, "customerId", "NOT_FOUND"),
    ],
)
async def test_set_credit_level_refusals(api, changes, field, code):
    before = await api.fingerprint()
    variables = {
        "input": {"customerId": gid("Customer", api.demo.customers["Li Wei"]), "level": "RED", "reason": "x"} | changes
    }
    answer = await api.data(CREDIT, variables, as_="club_operator")
    assert codes(answer, "setCreditLevel") == [(["input", field], code)]
    assert await api.fingerprint() == before


async def test_a_customers_histories_are_staff_only_and_empty_to_a_member(api):
    # given Li Wei's credit level changed by staff
    change = {"input": {"customerId": gid("Customer", api.demo.customers["Li Wei"]), "level": "RED", "reason": "late"}}
    assert (await api.data(CREDIT, change, as_="club_operator"))["setCreditLevel"]["errors"] == []
    # when he asks for his customer's histories beside his member number
    query = "{ me { memberNumber customer { creditHistory { reason } identityChanges { before } } } }"
    answer = await api.gql(query, as_="member")
    # then they are empty to him, and the rest of the answer stands
    assert "errors" not in answer
    assert answer["data"]["me"]["customer"] == {"creditHistory": [], "identityChanges": []}


def new_account(api, **changes):
    customer_id = gid("Customer", api.demo.customers["Li Wei"])
    return {
        "customerId": customer_id,
        "accountNumber": "80000099",
        "creditLimitFen": 20_000,
        "openedOn": "2020-05-01",
        "subscriberNumbers": ["13800000098", "13800000099"],
    } | changes


async def test_an_account_is_opened_with_its_subscriber_numbers(api):
    answer = await api.data(ACCOUNT, {"input": new_account(api)}, as_="customer_manager")
    assert answer["createAccount"]["account"] == {
        "accountNumber": "80000099",
        "creditLimitFen": 20_000,
        "status": "ACTIVE",
        "openedOn": "2020-05-01",
        "subscriberNumbers": ["13800000098", "13800000099"],
    }
    # and the member can now log in with the new line
    assert "accessToken" in await api.login("MEMBER", "13800000099")


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"accountNumber": "80000001"}, "accountNumber", "DUPLICATE"),
        ({"openedOn": "1900-01-01"}, "openedOn", "OUT_OF_RANGE"),  # a century of tenure bonus
        ({"openedOn": "2100-01-01"}, "openedOn", "OUT_OF_RANGE"),
        ({"subscriberNumbers": ["13800000002"]}, "subscriberNumbers", "DUPLICATE"),  # Wang Fang's line
        ({"subscriberNumbers": ["13800000097", "13800000097"]}, "subscriberNumbers", "DUPLICATE"),
        ({"subscriberNumbers": [f"1380000{i:04d}" for i in range(21)]}, "subscriberNumbers", "OUT_OF_RANGE"),
        ({"subscriberNumbers": ["12ab"]}, "subscriberNumbers", "INVALID"),
        ({"accountNumber": "A-1"}, "accountNumber", "INVALID"),
        ({"creditLimitFen": -1}, "creditLimitFen", "OUT_OF_RANGE"),
        ({"customerId": gid("Customer", 999)}, "customerId", "NOT_FOUND"),
    ],
)
async def test_create_account_refusals(api, changes, field, code):
    before = await api.fingerprint()
    answer = await api.data(ACCOUNT, {"input": new_account(api, **changes)}, as_="club_operator")
    assert codes(answer, "createAccount") == [(["input", field], code)]
    assert await api.fingerprint() == before


@pytest.mark.parametrize(("who", "named"), [("club_operator", True), ("other_branch_operator", False)])
async def test_a_members_number_is_no_subscriber_number(api, who, named):
    # given Li Wei's member number (Guangdong); when staff of his province, or of another, open an account whose
    # subscriber number it is
    number = api.demo.member_numbers["Li Wei"]
    customer = "Li Wei" if who == "club_operator" else "Zhang Min"
    account = new_account(api, customerId=gid("Customer", api.demo.customers[customer]), subscriberNumbers=[number])
    await api.token(who)
    before = await api.fingerprint()
    answer = await api.data(ACCOUNT, {"input": account}, as_=who)
    # then it is refused as taken (the number named only to staff of the member's province), and nothing is written
    assert codes(answer, "createAccount") == [(["input", "subscriberNumbers"], "DUPLICATE")]
    assert (number in answer["createAccount"]["errors"][0]["message"]) == named
    assert await api.fingerprint() == before


UPDATE_ACCOUNT = """mutation($input: UpdateAccountInput!) { updateAccount(input: $input) {
    errors { field code message } account { accountNumber creditLimitFen status subscriberNumbers } } }"""


async def li_weis_account(api) -> str:
    return gid("Account", await api.scalar("SELECT id FROM account WHERE account_number = '80000001'"))


async def update_account(api, who: str = "club_operator", **changes) -> dict:
    answer = await api.data(UPDATE_ACCOUNT, {"input": {"id": await li_weis_account(api)} | changes}, as_=who)
    return answer["updateAccount"]


async def test_an_account_is_suspended_its_limit_changed_and_its_lines_moved(api):
    # given Li Wei's account, billed for his line 13800000001
    # when staff suspend it, lower its limit, add a line and take his old one off
    payload = await update_account(api, status="SUSPENDED", creditLimitFen=0, addSubscriberNumbers=["13800000077"],
                                   removeSubscriberNumbers=["13800000001"])  # fmt: skip
    # then the account says so, and he logs in with the new line only
    account = {"accountNumber": "80000001", "creditLimitFen": 0, "status": "SUSPENDED",
               "subscriberNumbers": ["13800000077"]}  # fmt: skip
    assert payload == {"errors": [], "account": account}
    assert "accessToken" in await api.login("MEMBER", "13800000077")
    assert [e["code"] for e in (await api.login("MEMBER", "13800000001"))["errors"]] == ["INVALID_CREDENTIALS"]
    # and reactivated, it is ACTIVE again
    assert (await update_account(api, status="ACTIVE"))["account"]["status"] == "ACTIVE"


async def test_a_closed_account_ends_its_lines_and_stays_closed(api):
    # when staff close Li Wei's account
    payload = await update_account(api, status="CLOSED")
    # then it is closed without lines, his line is free for another account, and the account changes no more
    assert (payload["account"]["status"], payload["account"]["subscriberNumbers"]) == ("CLOSED", [])
    moved = await api.data(ACCOUNT, {"input": new_account(api, subscriberNumbers=["13800000001"])}, as_="club_operator")
    assert moved["createAccount"]["errors"] == []
    before = await api.fingerprint()
    again = await update_account(api, status="ACTIVE")
    assert codes({"u": again}, "u") == [(["input", "id"], "ACCOUNT_CLOSED")]
    assert await api.fingerprint() == before


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"removeSubscriberNumbers": ["13800000002"]}, "removeSubscriberNumbers", "NOT_FOUND"),  # Wang Fang's
        ({"addSubscriberNumbers": ["13800000002"]}, "addSubscriberNumbers", "DUPLICATE"),
        ({"addSubscriberNumbers": ["13800000077", "13800000077"]}, "addSubscriberNumbers", "DUPLICATE"),
        ({"addSubscriberNumbers": [f"1390000{i:04d}" for i in range(20)]}, "addSubscriberNumbers", "OUT_OF_RANGE"),
        ({"addSubscriberNumbers": ["12ab"]}, "addSubscriberNumbers", "INVALID"),
        ({"addSubscriberNumbers": [""]}, "addSubscriberNumbers", "REQUIRED"),
        (
            {"addSubscriberNumbers": ["13800000001"], "removeSubscriberNumbers": ["13800000001"]},
            "addSubscriberNumbers",
            "INVALID",
        ),  # fmt: skip
        ({"status": "CLOSED", "addSubscriberNumbers": ["13800000077"]}, "addSubscriberNumbers", "INVALID"),
        ({"status": None}, "status", "REQUIRED"),
        ({"creditLimitFen": None}, "creditLimitFen", "REQUIRED"),
        ({"creditLimitFen": -1}, "creditLimitFen", "OUT_OF_RANGE"),
        ({"id": gid("Account", 999_999)}, "id", "NOT_FOUND"),
    ],
)
async def test_update_account_refusals(api, changes, field, code):
    await api.token("club_operator")
    before = await api.fingerprint()
    answer = await update_account(api, **changes)
    assert codes({"u": answer}, "u") == [(["input", field], code)], answer
    assert await api.fingerprint() == before


async def test_an_account_of_another_province_is_not_found(api):
    await api.token("other_branch_operator")
    before = await api.fingerprint()
    answer = await update_account(api, "other_branch_operator", creditLimitFen=1)
    assert codes({"u": answer}, "u") == [(["input", "id"], "NOT_FOUND")]
    assert await api.fingerprint() == before


LIST = """query($filter: CustomerFilter) { customers(filter: $filter, first: 10) { edges { node { name } } } }"""


@pytest.mark.parametrize(
    ("who", "filter", "names"),
    [
        ("club_operator", None, ["Li Wei", "Wang Fang", "Pearl River Trading Co."]),
        ("hq_admin", {"kind": "ENTERPRISE"}, ["Pearl River Trading Co."]),
        ("hq_admin", {"search": "zhang"}, ["Zhang Min"]),
        ("hq_admin", {"search": "13800000002"}, ["Wang Fang"]),
        ("hq_admin", {"search": "110101199003030033"}, ["Zhang Min"]),
        ("hq_admin", {"search": "1101 0119 9003 0300 33"}, ["Zhang Min"]),  # as a clerk may type it
        ("hq_admin", {"creditLevel": "RED"}, []),
        ("other_branch_operator", None, ["Zhang Min"]),
        ("other_branch_operator", {"search": "Li"}, []),
        ("auditor", {"search": "%"}, []),
    ],
)
async def test_customers_filter_within_the_callers_subtree(api, who, filter, names):
    data = await api.data(LIST, {"filter": filter}, as_=who)
    assert [e["node"]["name"] for e in data["customers"]["edges"]] == names


async def test_customers_filter_by_branch_subtree(api):
    data = await api.data(LIST, {"filter": {"branchId": gid("Branch", api.demo.branches["SZ"])}}, as_="hq_admin")
    assert [e["node"]["name"] for e in data["customers"]["edges"]] == ["Wang Fang"]


async def test_customer_by_id_obeys_scope(api):
    query = "query($id: ID!) { customer(id: $id) { name } }"
    zhang = gid("Customer", api.demo.customers["Zhang Min"])
    assert (await api.data(query, {"id": zhang}, as_="hq_admin"))["customer"] == {"name": "Zhang Min"}
    assert (await api.data(query, {"id": zhang}, as_="club_operator"))["customer"] is None
    assert (await api.data(query, {"id": gid("Member", 1)}, as_="hq_admin"))["customer"] is None
    assert top_codes(await api.gql(query, {"id": zhang}, as_="member")) == []  # null, not an error


@pytest.mark.parametrize(
    "name",
    ["张\ue000", "مهر\u200cناز", "Ali \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"],
    ids=["a rare character of the private use area", "a Persian name's non-joiner", "between Persian letters"],
)
async def test_names_real_people_have_are_kept(api, name):
    # when a customer is registered with a name only its own script writes so
    answer = await api.data(CREATE, {"input": new_customer(api, name=name)}, as_="club_operator")
    # then it is taken as it is
    assert answer["createCustomer"]["errors"] == []
    assert await api.scalar("SELECT name FROM customer ORDER BY id DESC LIMIT 1") == name
