"""Members: the member's own view, staff maintenance, lists and node lookups."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from domain import clock
from domain.grades.review import GradePolicy
from domain.points import accrual
from loyalty.database import make_sessions
from tests.api import gid, top_codes

MEMBER_FIELDS = """id memberNumber status joinedOn validUntil interests relations { kind name note }
    grade { code } club { code } branch { code } customer { name email phone } customerManager { username }
    accounts { accountNumber subscriberNumbers }"""
CREATE = f"""mutation($input: CreateMemberInput!) {{ createMember(input: $input) {{
    errors {{ field code message }} member {{ {MEMBER_FIELDS} }} }} }}"""
UPDATE = f"""mutation($input: UpdateMemberInput!) {{ updateMember(input: $input) {{
    errors {{ field code message }} member {{ {MEMBER_FIELDS} }} }} }}"""
PROFILE = f"""mutation($input: UpdateMyProfileInput!) {{ updateMyProfile(input: $input) {{
    errors {{ field code message }} member {{ {MEMBER_FIELDS} }} }} }}"""


def codes(answer, mutation):
    return [(e["field"], e["code"]) for e in answer[mutation]["errors"]]


def new_member(api, **changes):
    return {
        "customerId": gid("Customer", api.demo.customers["Pearl River Trading Co."]),
        "clubId": gid("Club", api.demo.clubs["SZ-CLUB"]),
        "gradeCode": "SAPPHIRE",
    } | changes


async def test_me_shows_profile_club_grade_number_and_accounts(api):
    me = (await api.data(f"{{ me {{ {MEMBER_FIELDS} }} }}", as_="member"))["me"]
    assert me["memberNumber"] == api.demo.member_numbers["Li Wei"]
    assert (me["grade"]["code"], me["club"]["code"], me["customer"]["name"]) == ("DIAMOND", "GD-CLUB", "Li Wei")
    assert me["accounts"] == [{"accountNumber": "80000001", "subscriberNumbers": ["13800000001"]}]


@pytest.mark.parametrize("who", ["anonymous", "hq_admin", "partner"])
async def test_me_is_for_members(api, who):
    assert top_codes(await api.gql("{ me { id } }", as_=who)) == [
        "UNAUTHENTICATED" if who == "anonymous" else "FORBIDDEN"
    ]


async def test_a_member_number_that_is_someones_line_is_skipped(api):
    # given the next member number already a subscriber's line (Li Wei's account, made so elsewhere)
    upcoming = await api.scalar("SELECT nextval('member_number_seq')")
    await api.scalar("SELECT setval('member_number_seq', CAST(:n AS bigint) - 1)", n=upcoming)
    await api.scalar("""INSERT INTO subscriber_number (number, account_id, customer_id, activated_on)
                        SELECT :n, a.id, a.customer_id, '2026-01-01' FROM account a WHERE a.account_number = '80000001'
                        RETURNING 1""", n=str(upcoming))  # fmt: skip
    # when a member is made, then the number after it is theirs: a login names one person
    answer = await api.data(CREATE, {"input": new_member(api)}, as_="club_operator")
    assert answer["createMember"]["errors"] == [], answer
    assert answer["createMember"]["member"]["memberNumber"] == str(upcoming + 1)


@pytest.mark.parametrize(
    ("today", "joined", "valid_until"),
    [
        ("2024-02-29", "2024-02-29", "2025-02-28"),  # no 29 February in 2025: the year ends with February
        ("2027-03-01", "2027-03-01", "2028-02-29"),  # the year ends on the leap day
        ("2026-01-31", "2026-01-31", "2027-01-30"),
        ("2026-12-06", "2026-01-01", "2026-12-31"),
        ("2026-12-06", "2025-12-07", "2026-12-06"),  # joined a year ago tomorrow: valid today still
    ],
)
async def test_a_membership_ends_the_day_before_the_anniversary_of_joining(api, today_is, today, joined, valid_until):
    # given the day is `today` (staff logged in before); when a member joins on `joined` with the default validity
    await api.token("club_operator")
    today_is(date.fromisoformat(today))
    answer = await api.data(CREATE, {"input": new_member(api, joinedOn=joined)}, as_="club_operator")
    # then the membership ends the day before the anniversary (the 1st of March for 29 February)
    assert answer["createMember"]["errors"] == []
    assert answer["createMember"]["member"]["validUntil"] == valid_until


async def test_a_membership_is_never_made_expired(api, today_is):
    # given today is 2026-12-06, and staff enter a member who joined on 2025-12-05 (a year of validity: ended
    # yesterday)
    await api.token("club_operator")
    today_is(date(2026, 12, 6))
    before = await api.fingerprint()
    # when the membership would take the default validity, or a validity given that has passed
    by_default = await api.data(CREATE, {"input": new_member(api, joinedOn="2025-12-05")}, as_="club_operator")
    passed = new_member(api, joinedOn="2025-12-05", validUntil="2026-12-05")
    given = await api.data(CREATE, {"input": passed}, as_="club_operator")
    # then each is refused, naming the date at fault and why, and nothing is written
    assert codes(by_default, "createMember") == [(["input", "joinedOn"], "OUT_OF_RANGE")]
    assert "would have ended on 2026-12-04" in by_default["createMember"]["errors"][0]["message"]
    assert codes(given, "createMember") == [(["input", "validUntil"], "OUT_OF_RANGE")]
    # and a validity that ends before joining today says so
    yesterday = await api.data(CREATE, {"input": new_member(api, validUntil="2026-12-05")}, as_="club_operator")
    assert yesterday["createMember"]["errors"][0]["message"] == "validUntil must not be before joining (2026-12-06)."
    assert await api.fingerprint() == before
    # and with a validity from today on, the member joining then is made
    kept = new_member(api, joinedOn="2025-12-05", validUntil="2026-12-06")
    member = (await api.data(CREATE, {"input": kept}, as_="club_operator"))["createMember"]["member"]
    assert (member["joinedOn"], member["validUntil"], member["status"]) == ("2025-12-05", "2026-12-06", "ACTIVE")


async def test_the_club_sets_number_and_default_validity(api, today_is):
    await api.token("club_operator")
    today_is(date(2026, 3, 1))
    answer = await api.data(
        CREATE, {"input": new_member(api, joinedOn="2026-03-01", password="first-login!")}, as_="club_operator"
    )
    member = answer["createMember"]["member"]
    assert answer["createMember"]["errors"] == []
    assert member["memberNumber"].isdigit() and member["memberNumber"] not in api.demo.member_numbers.values()
    assert (member["joinedOn"], member["validUntil"]) == ("2026-03-01", "2027-02-28")
    assert (member["branch"]["code"], member["status"]) == ("SZ", "ACTIVE")
    assert "accessToken" in await api.login("MEMBER", member["memberNumber"], "first-login!")


async def test_joining_defaults_to_today(api):
    member = (await api.data(CREATE, {"input": new_member(api)}, as_="hq_admin"))["createMember"]["member"]
    assert member["joinedOn"] == clock.today().isoformat()


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"customerId": None}, "customerId", "NOT_FOUND"),
        ({"clubId": None}, "clubId", "NOT_FOUND"),
        ({"gradeCode": "GOLD"}, "gradeCode", "NOT_FOUND"),
        ({"customerManagerId": None}, "customerManagerId", "NOT_FOUND"),
        ({"validUntil": "2020-01-01", "joinedOn": "2021-01-01"}, "validUntil", "OUT_OF_RANGE"),
        ({"joinedOn": "1970-01-01"}, "joinedOn", "OUT_OF_RANGE"),
        ({"password": "short"}, "password", "INVALID"),
        ({"interests": ["i"] * 21}, "interests", "OUT_OF_RANGE"),
        (
            {"relations": [{"kind": "FAMILY", "name": "Li Na"}, {"kind": "FAMILY", "name": ""}]},
            "relations.1.name",
            "REQUIRED",
        ),  # fmt: skip
    ],
)
async def test_create_member_refusals(api, changes, field, code):
    unknown = {"customerId": gid("Customer", 999), "clubId": gid("Club", 999), "customerManagerId": gid("Staff", 999)}
    changes = {k: unknown.get(k, v) if v is None else v for k, v in changes.items()}
    before = await api.fingerprint()
    answer = await api.data(CREATE, {"input": new_member(api, **changes)}, as_="club_operator")
    assert codes(answer, "createMember") == [(["input", field], code)]
    assert await api.fingerprint() == before


async def test_a_retired_grade_is_not_given_to_a_new_member(api):
    # given SAPPHIRE retired
    await api.scalar("UPDATE grade SET status = 'RETIRED' WHERE code = 'SAPPHIRE' RETURNING 1")
    before = await api.fingerprint()
    # when a customer joins as SAPPHIRE, then it is refused, and nothing is written
    answer = await api.data(CREATE, {"input": new_member(api, gradeCode="SAPPHIRE")}, as_="club_operator")
    assert codes(answer, "createMember") == [(["input", "gradeCode"], "GRADE_RETIRED")]
    assert await api.fingerprint() == before


async def test_a_customer_joins_once(api):
    duplicate = new_member(api, customerId=gid("Customer", api.demo.customers["Li Wei"]))
    answer = await api.data(CREATE, {"input": duplicate}, as_="club_operator")
    assert codes(answer, "createMember") == [(["input", "customerId"], "CUSTOMER_ALREADY_MEMBER")]


async def test_a_club_of_another_branch_is_not_found(api):
    answer = await api.data(
        CREATE, {"input": new_member(api, clubId=gid("Club", api.demo.clubs["BJ-CLUB"]))}, as_="club_operator"
    )
    assert codes(answer, "createMember") == [(["input", "clubId"], "NOT_FOUND")]


async def test_a_customer_joining_a_club_of_another_province_goes_there_too(api):
    # given a customer of Guangdong, and the head office, which sees every club
    customer = new_member(api)["customerId"]
    read = "query($id: ID!) { customer(id: $id) { branch { code } } }"
    # when the head office makes them a member of Beijing's club
    beijing = new_member(api, clubId=gid("Club", api.demo.clubs["BJ-CLUB"]))
    assert (await api.data(CREATE, {"input": beijing}, as_="hq_admin"))["createMember"]["errors"] == []
    # then Beijing serves the customer too, and Guangdong no longer does
    assert (await api.data(read, {"id": customer}, as_="other_branch_operator"))["customer"]["branch"] == {
        "code": "BJ"}  # fmt: skip
    assert (await api.data(read, {"id": customer}, as_="club_operator"))["customer"] is None


async def test_a_member_moved_to_another_province_takes_their_customer_along(api):
    # given Li Wei, a customer of Guangdong
    li, customer = gid("Member", api.demo.members["Li Wei"]), gid("Customer", api.demo.customers["Li Wei"])
    read = "query($id: ID!) { customer(id: $id) { name branch { code } } }"
    credit = "mutation($input: SetCreditLevelInput!) { setCreditLevel(input: $input) { errors { field code } } }"
    blacken = {"input": {"customerId": customer, "level": "BLACK", "reason": "Moved away"}}
    # when the head office moves him to a club of Shenzhen, then his customer stays Guangdong's
    in_province = {"input": {"id": li, "clubId": gid("Club", api.demo.clubs["SZ-CLUB"])}}
    assert (await api.data(UPDATE, in_province, as_="hq_admin"))["updateMember"]["errors"] == []
    assert (await api.data(read, {"id": customer}, as_="club_operator"))["customer"]["branch"] == {"code": "GD"}
    # when it moves him to Beijing's club, then Beijing serves the customer too, and Guangdong no longer does
    away = {"input": {"id": li, "clubId": gid("Club", api.demo.clubs["BJ-CLUB"])}}
    assert (await api.data(UPDATE, away, as_="hq_admin"))["updateMember"]["errors"] == []
    assert (await api.data(read, {"id": customer}, as_="other_branch_operator"))["customer"] == {
        "name": "Li Wei", "branch": {"code": "BJ"}}  # fmt: skip
    assert (await api.data(read, {"id": customer}, as_="club_operator"))["customer"] is None
    refused = (await api.data(credit, blacken, as_="club_operator"))["setCreditLevel"]["errors"]
    assert [e["code"] for e in refused] == ["NOT_FOUND"]


MANAGED = "mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { errors { field code } } }"
MANAGER = "query($id: ID!) { customer(id: $id) { branch { code } customerManager { username } } }"


@pytest.mark.parametrize(("manager_of", "kept"), [("GD", False), ("HQ", True)])
async def test_a_customer_taken_to_another_province_keeps_only_a_manager_who_sees_them_there(api, manager_of, kept):
    # given Li Wei's customer, of Guangdong, managed by a customer manager of Guangdong or of headquarters
    manager = gid("Staff", await api.add_staff("new.manager", "CUSTOMER_MANAGER", manager_of))
    li, customer = gid("Member", api.demo.members["Li Wei"]), gid("Customer", api.demo.customers["Li Wei"])
    managed = {"input": {"id": customer, "customerManagerId": manager}}
    assert (await api.data(MANAGED, managed, as_="hq_admin"))["updateCustomer"]["errors"] == []
    # when the head office moves him to a club of Shenzhen, in Guangdong, then the customer keeps the manager
    in_province = {"input": {"id": li, "clubId": gid("Club", api.demo.clubs["SZ-CLUB"])}}
    assert (await api.data(UPDATE, in_province, as_="hq_admin"))["updateMember"]["errors"] == []
    assert (await api.data(MANAGER, {"id": customer}, as_="new.manager"))["customer"] == {
        "branch": {"code": "GD"}, "customerManager": {"username": "new.manager"}}  # fmt: skip
    # when it moves him to Beijing's club, taking the customer along
    away = {"input": {"id": li, "clubId": gid("Club", api.demo.clubs["BJ-CLUB"])}}
    assert (await api.data(UPDATE, away, as_="hq_admin"))["updateMember"]["errors"] == []
    # then the customer keeps a manager who sees Beijing (headquarters'), and has none instead of one who does not
    found = (await api.data(MANAGER, {"id": customer}, as_="hq_admin"))["customer"]
    assert found == {"branch": {"code": "BJ"}, "customerManager": {"username": "new.manager"} if kept else None}
    assert (await api.data(MANAGER, {"id": customer}, as_="new.manager"))["customer"] == (found if kept else None)


async def test_a_customer_joining_a_club_of_another_province_leaves_a_manager_who_would_not_see_them(api):
    # given a customer of Guangdong managed by Guangdong's customer manager
    customer = new_member(api)["customerId"]
    managed = {"input": {"id": customer, "customerManagerId": gid("Staff", api.demo.staff["gd.manager"])}}
    assert (await api.data(MANAGED, managed, as_="hq_admin"))["updateCustomer"]["errors"] == []
    # when the head office makes them a member of Beijing's club
    beijing = new_member(api, clubId=gid("Club", api.demo.clubs["BJ-CLUB"]))
    assert (await api.data(CREATE, {"input": beijing}, as_="hq_admin"))["createMember"]["errors"] == []
    # then the customer, Beijing's now, has no manager
    assert (await api.data(MANAGER, {"id": customer}, as_="hq_admin"))["customer"] == {
        "branch": {"code": "BJ"}, "customerManager": None}  # fmt: skip


async def test_a_member_moved_to_headquarters_and_back_brings_the_customer_back(api):
    # given a club of headquarters, and Li Wei, a customer of Guangdong
    make = """mutation($input: CreateClubInput!) { createClub(input: $input) { errors { code } club { id } } }"""
    club = {"branchId": gid("Branch", api.demo.branches["HQ"]), "code": "HQ-CLUB", "category": "VIP",
            "name": "National Club"}  # fmt: skip
    hq_club = (await api.data(make, {"input": club}, as_="hq_admin"))["createClub"]["club"]["id"]
    li, customer = gid("Member", api.demo.members["Li Wei"]), gid("Customer", api.demo.customers["Li Wei"])
    read = "query($id: ID!) { customer(id: $id) { branch { code } } }"
    # when the head office moves him to its club, then the customer is headquarters' too
    to_hq = {"input": {"id": li, "clubId": hq_club}}
    assert (await api.data(UPDATE, to_hq, as_="hq_admin"))["updateMember"]["errors"] == []
    assert (await api.data(read, {"id": customer}, as_="hq_admin"))["customer"]["branch"] == {"code": "HQ"}
    # when it moves him back to Guangdong's club, then Guangdong serves the customer again
    back = {"input": {"id": li, "clubId": gid("Club", api.demo.clubs["GD-CLUB"])}}
    assert (await api.data(UPDATE, back, as_="hq_admin"))["updateMember"]["errors"] == []
    assert (await api.data(read, {"id": customer}, as_="club_operator"))["customer"]["branch"] == {"code": "GD"}


async def test_moving_a_member_to_another_club_moves_the_branch(api):
    variables = {
        "input": {
            "id": gid("Member", api.demo.members["Li Wei"]),
            "clubId": gid("Club", api.demo.clubs["SZ-CLUB"]),
            "customerManagerId": gid("Staff", api.demo.staff["gd.manager"]),
            "relations": [{"kind": "FAMILY", "name": "Li Na", "note": "spouse"}],
            "validUntil": "2031-12-31",
        }
    }
    member = (await api.data(UPDATE, variables, as_="club_operator"))["updateMember"]["member"]
    assert (member["club"]["code"], member["branch"]["code"], member["validUntil"]) == ("SZ-CLUB", "SZ", "2031-12-31")
    assert member["relations"] == [{"kind": "FAMILY", "name": "Li Na", "note": "spouse"}]
    assert member["customerManager"] == {"username": "gd.manager"}


@pytest.mark.parametrize(
    ("who", "sees_login"),
    [("member", False), ("agent", True), ("auditor", True), ("hq_admin", True)],
)
async def test_a_members_customer_manager_is_known_to_them_by_name_not_by_login(api, who, sees_login):
    # given Li Wei, whose customer manager is gd.manager
    manager = {"input": {"id": gid("Member", api.demo.members["Li Wei"]),
                         "customerManagerId": gid("Staff", api.demo.staff["gd.manager"])}}  # fmt: skip
    assert (await api.data(UPDATE, manager, as_="club_operator"))["updateMember"]["errors"] == []
    # when he, or staff, read the manager
    query = "query($id: ID!) { node(id: $id) { ... on Member { customerManager { username displayName role } } } }"
    read = await api.data(query, {"id": gid("Member", api.demo.members["Li Wei"])}, as_=who)
    # then he meets them by name and role; only staff see the name they log in with
    found = read["node"]["customerManager"]
    assert found["displayName"] and found["role"] == "CUSTOMER_MANAGER"
    assert found["username"] == ("gd.manager" if sees_login else None)


async def test_a_member_moved_to_another_branch_takes_their_card_along(api):
    # given Li Wei of GD and his active card
    member_id = gid("Member", api.demo.members["Li Wei"])
    number = (await api.data(CARD_OF, {"id": member_id}, as_="club_operator"))["node"]["card"]["number"]
    card = "query($n: String!) { card(number: $n) { number branch { code } } }"
    # when the head office moves him to Beijing's club
    moved = {"input": {"id": member_id, "clubId": gid("Club", api.demo.clubs["BJ-CLUB"])}}
    assert (await api.data(UPDATE, moved, as_="hq_admin"))["updateMember"]["errors"] == []
    # then his card is Beijing's to serve, no longer Guangdong's, and its history says why it moved
    assert (await api.data(card, {"n": number}, as_="other_branch_operator"))["card"]["branch"] == {"code": "BJ"}
    assert (await api.data(card, {"n": number}, as_="club_operator"))["card"] is None
    history = "SELECT action || ' ' || reason FROM card_event WHERE card_number = :n ORDER BY id DESC LIMIT 1"
    assert await api.scalar(history, n=int(number)) == "TRANSFER MEMBER_MOVED"
    # and its operations, listed, are Beijing's to read with it, from before the move too
    events = """query($m: ID!) { cardEvents(filter: {memberId: $m}) { edges { node { action } } } }"""
    listed = {who: [e["node"]["action"] for e in (await api.data(events, {"m": member_id}, as_=who))["cardEvents"][
        "edges"]] for who in ("other_branch_operator", "club_operator")}  # fmt: skip
    assert listed["club_operator"] == [] and listed["other_branch_operator"][-1] == "TRANSFER"
    assert len(listed["other_branch_operator"]) > 1


async def test_a_status_staff_set_ends_a_grace(api):
    # given Li Wei in the annual review's grace until the end of next month
    li = api.demo.members["Li Wei"]
    await api.scalar("UPDATE member SET status = 'GRACE', grace_ends_on = current_date + 40 WHERE id = :m RETURNING 1",
                     m=li)  # fmt: skip
    # when staff set him ACTIVE, then the grace's end goes with it: no later review ends his membership for it
    answer = await api.data(UPDATE, {"input": {"id": gid("Member", li), "status": "ACTIVE"}}, as_="club_operator")
    assert answer["updateMember"]["errors"] == []
    assert await api.scalar("SELECT status || ' ' || coalesce(grace_ends_on::text, '-') FROM member WHERE id = :m",
                            m=li) == "ACTIVE -"  # fmt: skip


async def test_an_ended_membership_cannot_be_changed(api):
    member_id = gid("Member", api.demo.members["Li Wei"])
    await api.data(UPDATE, {"input": {"id": member_id, "status": "ENDED"}}, as_="club_operator")
    before = await api.fingerprint()
    answer = await api.data(UPDATE, {"input": {"id": member_id, "interests": ["x"]}}, as_="club_operator")
    assert codes(answer, "updateMember") == [(["input", "id"], "MEMBERSHIP_ENDED")]
    assert await api.fingerprint() == before


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"id": gid("Member", 999)}, "id", "NOT_FOUND"),
        ({"clubId": gid("Club", 999)}, "clubId", "NOT_FOUND"),
        ({"validUntil": "2000-01-01"}, "validUntil", "OUT_OF_RANGE"),
        ({"validUntil": "2024-01-01"}, "validUntil", "OUT_OF_RANGE"),  # his first day: expired today
        ({"validUntil": None}, "validUntil", "REQUIRED"),  # was: a year from joining, long past
        ({"customerManagerId": gid("Staff", 999)}, "customerManagerId", "NOT_FOUND"),
        ({"status": None}, "status", "REQUIRED"),
        ({"status": "GRACE"}, "status", "INVALID"),
    ],
)
async def test_update_member_refusals(api, changes, field, code):
    before = await api.fingerprint()
    answer = await api.data(
        UPDATE, {"input": {"id": gid("Member", api.demo.members["Li Wei"])} | changes}, as_="club_operator"
    )
    assert codes(answer, "updateMember") == [(["input", field], code)]
    assert await api.fingerprint() == before


@pytest.mark.parametrize("text", ["a\u0007b", "\u202e evil", "tab\x1bescape", "\u2066isolate"])
async def test_a_profile_never_holds_control_characters_or_direction_overrides(api, text):
    before = await api.fingerprint()
    answer = await api.data(PROFILE, {"input": {"interests": ["golf", text]}}, as_="member")
    assert codes(answer, "updateMyProfile") == [(["input", "interests"], "INVALID")]
    assert await api.fingerprint() == before


async def test_a_member_updates_their_own_profile(api):
    changes = {
        "email": "david@example.com",
        "interests": ["golf", "tea"],
        "relations": [{"kind": "WORK", "name": "Acme Ltd"}],
    }
    member = (await api.data(PROFILE, {"input": changes}, as_="member"))["updateMyProfile"]["member"]
    assert member["customer"]["name"] == "Li Wei"
    assert member["customer"]["email"] == "david@example.com"
    assert member["interests"] == ["golf", "tea"]
    assert member["relations"] == [{"kind": "WORK", "name": "Acme Ltd", "note": None}]
    assert (member["memberNumber"], member["grade"]["code"]) == (api.demo.member_numbers["Li Wei"], "DIAMOND")


ADJUST = """mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) {
    errors { field code } transaction { points reason } } }"""
CARD_OF = """query($id: ID!) { node(id: $id) { ... on Member { card { number state } } } }"""


def adjustment(api, key: str, points: int, entry_type: str = "ADJUSTMENT") -> dict:
    return {"input": {"memberId": gid("Member", api.demo.members["Li Wei"]), "points": points, "reason": "Checked",
                      "entryType": entry_type, "idempotencyKey": key}}  # fmt: skip


async def test_ending_a_membership_cancels_its_card_in_the_same_change(api):
    # given Li Wei with an active card
    member_id = gid("Member", api.demo.members["Li Wei"])
    card = (await api.data(CARD_OF, {"id": member_id}, as_="club_operator"))["node"]["card"]
    assert card["state"] == "ACTIVE"
    # when the membership ends
    ended = await api.data(UPDATE, {"input": {"id": member_id, "status": "ENDED"}}, as_="club_operator")
    # then the card is cancelled with the reason, by the same change
    assert ended["updateMember"]["errors"] == []
    cancelled = await api.scalar(
        """SELECT c.state || ' ' || e.reason FROM card c JOIN card_event e ON e.card_number = c.number
           WHERE c.number = :n AND e.action = 'CANCEL'""",
        n=int(card["number"]),
    )
    assert cancelled == "CANCELLED MEMBERSHIP_ENDED"
    # and his points last 180 days from today at the latest, as the annual review's endings do
    latest = await api.scalar("SELECT max(expires_on) FROM points_lot WHERE member_id = :m AND remaining > 0",
                              m=api.demo.members["Li Wei"])  # fmt: skip
    assert latest <= clock.today() + timedelta(days=180)


@pytest.mark.parametrize("change", ["end", "move"])
async def test_a_membership_ending_while_a_card_is_handed_over_does_not_end_beside_it(api, change):
    # given Wang Fang, with no card, being handed one: the member held, the card given, not yet committed
    wang = api.demo.members["Wang Fang"]
    asked = {"status": "ENDED"} if change == "end" else {"clubId": gid("Club", api.demo.clubs["BJ-CLUB"])}
    async with api.engine.connect() as handing_over:
        await handing_over.execute(sa.text("SELECT 1 FROM member WHERE id = :m FOR UPDATE"), {"m": wang})
        await handing_over.execute(
            sa.text("UPDATE card SET member_id = :m, state = 'ACTIVE' WHERE number = 6211000000000002"), {"m": wang}
        )
        # when her membership is ended meanwhile
        await api.token("club_operator")
        ending = asyncio.create_task(api.data(UPDATE, {"input": {"id": gid("Member", wang)} | asked},
                                              as_="hq_admin"))  # fmt: skip
        for _ in range(500):
            if await api.scalar("SELECT count(*) FROM pg_locks WHERE NOT granted"):
                break
            await asyncio.sleep(0.01)
        await handing_over.commit()
    # then the change waited, saw the card, and asks to be tried again: no card stays usable beside an ended
    # membership, nor behind in the branch the member left
    assert codes(await ending, "updateMember") == [(["input", "id"], "CARD_GIVEN_MEANWHILE")]
    assert await api.scalar("SELECT status || ' ' || club_id FROM member WHERE id = :m", m=wang) == (
        f"ACTIVE {api.demo.clubs['SZ-CLUB']}"
    )


async def test_an_ended_membership_is_given_no_card(api):
    # given Wang Fang, with no card, whose membership ends after she applied for one
    wang = gid("Member", api.demo.members["Wang Fang"])
    apply = """mutation($input: ApplyForCardInput!) { applyForCard(input: $input) { application { id } } }"""
    application = (await api.data(apply, {"input": {"memberId": wang}}, as_="agent"))["applyForCard"]["application"]
    await api.data(UPDATE, {"input": {"id": wang, "status": "ENDED"}}, as_="club_operator")
    before = await api.fingerprint()
    # when staff approve the application, or hand her a card
    approve = """mutation($input: ApproveCardApplicationInput!) { approveCardApplication(input: $input) {
        errors { field code } } }"""
    approved = await api.data(approve, {"input": {"id": application["id"]}}, as_="agent")
    hand_over = """mutation($input: HandOverCardInput!) { handOverCard(input: $input) { errors { field code } } }"""
    handed = await api.data(hand_over, {"input": {"memberId": wang, "cardNumber": "6230000000000001",
        "receiverIdNumber": "x", "receiverPhone": "13800000002", "pin": "975310"}}, as_="agent")  # fmt: skip
    # then both are refused, and nothing is written
    assert approved["approveCardApplication"]["errors"] == [{"field": ["input", "id"], "code": "MEMBERSHIP_ENDED"}]
    assert handed["handOverCard"]["errors"] == [{"field": ["input", "memberId"], "code": "MEMBERSHIP_ENDED"}]
    assert await api.fingerprint() == before


@pytest.mark.parametrize(("status", "code"), [("ENDED", "MEMBERSHIP_ENDED"), ("SUSPENDED", "MEMBERSHIP_SUSPENDED")])
@pytest.mark.parametrize(("entry_type", "points"), [("BONUS_ACTIVITY", 100), ("PENALTY", -100)])
async def test_a_member_who_is_not_active_neither_earns_nor_is_penalised(api, status, code, entry_type, points):
    # given a membership that has ended or is suspended
    member_id = gid("Member", api.demo.members["Li Wei"])
    await api.data(UPDATE, {"input": {"id": member_id, "status": status}}, as_="club_operator")
    before = await api.fingerprint()
    # when staff award a bonus or a penalty
    answer = await api.data(ADJUST, adjustment(api, "b", points, entry_type), as_="club_operator")
    # then it is refused with the state's code, and nothing is written
    assert [(e["field"], e["code"]) for e in answer["adjustPoints"]["errors"]] == [(["input", "memberId"], code)]
    assert await api.fingerprint() == before


async def test_a_correction_of_an_ended_membership_is_possible_and_marked(api):
    # given an ended membership
    member_id = gid("Member", api.demo.members["Li Wei"])
    await api.data(UPDATE, {"input": {"id": member_id, "status": "ENDED"}}, as_="club_operator")
    # when staff correct its points with a reason
    answer = await api.data(ADJUST, adjustment(api, "c", -100), as_="club_operator")
    # then the correction is made, and its reason says it corrects an ended membership
    assert answer["adjustPoints"]["errors"] == []
    assert answer["adjustPoints"]["transaction"] == {
        "points": -100, "reason": "Correction of an ended membership: Checked"}  # fmt: skip
    # and a replay answers the same entry
    again = await api.data(ADJUST, adjustment(api, "c", -100), as_="club_operator")
    assert again["adjustPoints"]["transaction"] == answer["adjustPoints"]["transaction"]
    assert await api.violations() == []


async def test_points_credited_to_an_ended_membership_end_with_its_other_points(api):
    # given Li Wei's membership ended today: his points end on the day the grade policy names
    await api.data(UPDATE, {"input": {"id": gid("Member", api.demo.members["Li Wei"]), "status": "ENDED"}},
                   as_="club_operator")  # fmt: skip
    ends = GradePolicy().points_end(clock.today())
    # when staff credit him 100 points as a correction
    answer = await api.data(ADJUST, adjustment(api, "e", 100), as_="club_operator")
    assert answer["adjustPoints"]["errors"] == []
    # then they end with the rest, not a year-end later
    lots = "SELECT max(expires_on) FROM points_lot WHERE member_id = :m"
    assert await api.scalar(lots, m=api.demo.members["Li Wei"]) == ends
    assert await api.violations() == []


async def test_a_reversal_for_an_ended_membership_is_a_marked_correction(api):
    # given an entry of Li Wei, whose membership then ends
    entry = await api.scalar(
        "SELECT min(id) FROM ledger_transaction WHERE member_id = :m", m=api.demo.members["Li Wei"]
    )
    await api.data(UPDATE, {"input": {"id": gid("Member", api.demo.members["Li Wei"]), "status": "ENDED"}},
                   as_="club_operator")  # fmt: skip
    # when an administrator reverses the entry
    reverse = """mutation($input: ReversePointsTransactionInput!) { reversePointsTransaction(input: $input) {
        errors { code } transaction { reason } } }"""
    variables = {"input": {"transactionId": gid("PointsTransaction", entry), "reason": "Wrong", "idempotencyKey": "r"}}
    answer = (await api.data(reverse, variables, as_="administrator"))["reversePointsTransaction"]
    # then it is made, and marked as a correction of an ended membership
    assert answer == {"errors": [], "transaction": {"reason": "Correction of an ended membership: Wrong"}}
    assert await api.violations() == []


async def bills_earned_in_september(api) -> int:
    """Li Wei's paid September bill recorded and the month accrued: the entries it earned."""
    record = """mutation($input: RecordBillInput!) { recordBill(input: $input) { errors { code } } }"""
    bill = {"accountNumber": "80000001", "billingMonth": "2026-09", "amountBilledFen": 10_000,
            "amountPaidFen": 10_000, "dueDate": "2026-10-15", "paidDate": "2026-10-10"}  # fmt: skip
    assert (await api.data(record, {"input": bill}, as_="hq_admin"))["recordBill"]["errors"] == []
    await accrual.accrue_month(make_sessions(api.engine), date(2026, 9, 1))
    return await api.scalar("SELECT count(*) FROM ledger_transaction WHERE bill_id IS NOT NULL")


async def test_bills_of_months_before_joining_earn_nothing(api):
    # given a member who joined in November and a bill of September
    await api.scalar(
        "UPDATE member SET joined_on = '2026-11-01' WHERE id = :m RETURNING 1", m=api.demo.members["Li Wei"]
    )
    # when September is accrued, then the bill earns nothing
    assert await bills_earned_in_september(api) == 0


async def test_an_ended_membership_earns_nothing_from_its_bills(api):
    # given an ended membership with a paid bill of September
    member_id = gid("Member", api.demo.members["Li Wei"])
    await api.data(UPDATE, {"input": {"id": member_id, "status": "ENDED"}}, as_="club_operator")
    # when September is accrued, then no points were earned
    assert await bills_earned_in_september(api) == 0
    assert await api.violations() == []


async def test_a_cursor_from_another_list_is_refused(api):
    # given a cursor of the customers list
    customers = "{ customers(first: 1) { pageInfo { endCursor } } }"
    cursor = (await api.data(customers, as_="hq_admin"))["customers"]["pageInfo"]["endCursor"]
    # when it is used to page the members list
    answer = await api.gql(LIST, {"first": 5, "after": cursor}, as_="hq_admin")
    # then it is refused on `after`, not answered with a silently empty page
    assert top_codes(answer) == ["INVALID"] and "after" in answer["errors"][0]["message"]


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"phone": "x"}, "phone", "INVALID"),
        ({"birthDate": "2100-01-01"}, "birthDate", "OUT_OF_RANGE"),
        ({"email": "a" * 300 + "@example.com"}, "email", "TOO_LONG"),
    ],
)
async def test_update_my_profile_refusals(api, changes, field, code):
    before = await api.fingerprint()
    answer = await api.data(PROFILE, {"input": changes}, as_="member")
    assert codes(answer, "updateMyProfile") == [(["input", field], code)]
    assert await api.fingerprint() == before


@pytest.mark.parametrize("field", ["name", "idDocumentType", "idDocumentNumber"])
async def test_a_member_cannot_change_who_they_are(api, field):
    # given a member, whose ID document is a proof for reporting their card lost
    await api.token("member")
    before = await api.fingerprint()
    # when they try to change their name or ID document themselves
    value = {"name": "Someone Else", "idDocumentType": "PASSPORT", "idDocumentNumber": "E1234567"}[field]
    answer = await api.gql(PROFILE, {"input": {field: value}}, as_="member")
    # then the input is refused (only staff change it) and nothing is written
    assert top_codes(answer) == ["BAD_USER_INPUT"]
    assert await api.fingerprint() == before


LIST = """query($filter: MemberFilter, $first: Int, $after: String) {
    members(filter: $filter, first: $first, after: $after) {
        edges { node { customer { name } } } pageInfo { hasNextPage endCursor } } }"""


@pytest.mark.parametrize(
    ("who", "filter", "names"),
    [
        ("hq_admin", None, ["Li Wei", "Wang Fang", "Zhang Min"]),
        ("auditor", None, ["Li Wei", "Wang Fang"]),
        ("hq_admin", {"gradeCode": "EMERALD"}, ["Wang Fang"]),
        ("hq_admin", {"status": "SUSPENDED"}, []),
        ("hq_admin", {"search": "wang"}, ["Wang Fang"]),
        ("hq_admin", {"search": "13900000003"}, ["Zhang Min"]),
        ("hq_admin", {"search": "<Li Wei's member number>"}, ["Li Wei"]),
        ("agent", {"search": "Zhang"}, []),
    ],
)
async def test_members_filter_within_the_callers_subtree(api, who, filter, names):
    if filter and filter.get("search", "").startswith("<"):
        filter = {"search": api.demo.member_numbers["Li Wei"]}
    data = await api.data(LIST, {"filter": filter}, as_=who)
    assert [e["node"]["customer"]["name"] for e in data["members"]["edges"]] == names


async def test_members_filter_by_club_and_branch(api):
    by_club = {"clubId": gid("Club", api.demo.clubs["SZ-CLUB"])}
    by_branch = {"branchId": gid("Branch", api.demo.branches["GD"])}
    assert len((await api.data(LIST, {"filter": by_club}, as_="hq_admin"))["members"]["edges"]) == 1
    assert len((await api.data(LIST, {"filter": by_branch}, as_="hq_admin"))["members"]["edges"]) == 2


async def test_members_page_one_at_a_time(api):
    names, after = [], None
    for _ in range(4):
        page = (await api.data(LIST, {"first": 1, "after": after}, as_="hq_admin"))["members"]
        names += [e["node"]["customer"]["name"] for e in page["edges"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert names == ["Li Wei", "Wang Fang", "Zhang Min"]


BACKWARDS = """query($filter: MemberFilter, $last: Int, $before: String) {
    members(filter: $filter, last: $last, before: $before) {
        edges { node { customer { name } } } pageInfo { hasPreviousPage startCursor } } }"""


async def test_members_page_backwards_one_at_a_time(api):
    # given the last page of one, then the one before it, and so on
    names, before = [], None
    for _ in range(4):
        page = (await api.data(BACKWARDS, {"last": 1, "before": before}, as_="hq_admin"))["members"]
        names = [e["node"]["customer"]["name"] for e in page["edges"]] + names
        before = page["pageInfo"]["startCursor"]
        if not page["pageInfo"]["hasPreviousPage"]:
            break
    # then every member came, newest last, as forwards
    assert names == ["Li Wei", "Wang Fang", "Zhang Min"]


async def test_members_filtered_by_a_branch_outside_the_scope_or_unknown_are_none(api):
    # given an agent of Guangdong
    beijing = {"branchId": gid("Branch", api.demo.branches["BJ"])}
    headquarters = {"branchId": gid("Branch", api.demo.branches["HQ"])}
    unknown = {"branchId": gid("Branch", 10**12)}
    # when they ask for Beijing's members, or headquarters', or an unknown branch's
    found = [
        [e["node"]["customer"]["name"] for e in (await api.data(LIST, {"filter": f}, as_="agent"))["members"]["edges"]]
        for f in (beijing, headquarters, unknown)
    ]
    # then they see none of Beijing, their own subtree's of headquarters, and none of the unknown
    assert found == [[], ["Li Wei", "Wang Fang"], []]


async def test_members_filters_together_and_a_page_builds_its_statement_once_per_shape(api):
    # given every filter at once, and the statements the members list has built so far
    from domain.members.service import _MEMBERS

    every = {"branchId": gid("Branch", api.demo.branches["GD"]), "clubId": gid("Club", api.demo.clubs["SZ-CLUB"]),
             "gradeCode": "EMERALD", "status": "ACTIVE", "search": "wang"}  # fmt: skip
    built = dict(_MEMBERS.statements)
    # when the page is asked for twice, with other values the second time
    first = await api.data(LIST, {"filter": every}, as_="hq_admin")
    second = await api.data(LIST, {"filter": every | {"search": "li", "gradeCode": "DIAMOND"}}, as_="hq_admin")
    # then the filters narrow together, and the two pages of one shape built at most one statement between them
    assert [e["node"]["customer"]["name"] for e in first["members"]["edges"]] == ["Wang Fang"]
    assert second["members"]["edges"] == []
    assert len(_MEMBERS.statements) - len(built) <= 1
    assert all(_MEMBERS.statements[shape] is statement for shape, statement in built.items())


NODE = "query($id: ID!) { node(id: $id) { id ... on Member { memberNumber } ... on Customer { name } } }"


@pytest.mark.parametrize(
    ("who", "target", "visible"),
    [
        ("member", "Li Wei", True),
        ("member", "Zhang Min", False),
        ("other_member", "Li Wei", False),
        ("club_operator", "Li Wei", True),
        ("club_operator", "Zhang Min", False),
        ("settlement_clerk", "Li Wei", False),
        ("hq_admin", "Zhang Min", True),
        ("partner", "Li Wei", False),
        ("anonymous", "Li Wei", False),
    ],
)
async def test_node_obeys_the_same_rules_as_member(api, who, target, visible):
    member_id = gid("Member", api.demo.members[target])
    by_node = (await api.gql(NODE, {"id": member_id}, as_=who))["data"]["node"]
    by_field = (await api.gql("query($id: ID!) { member(id: $id) { id } }", {"id": member_id}, as_=who))["data"][
        "member"
    ]
    assert (by_node is not None, by_field is not None) == (visible, visible)


async def test_node_of_unknown_or_odd_ids_is_null(api):
    for node_id in (gid("Member", 999), gid("Member", "abc"), gid("Nothing", 1), gid("Member", "9" * 40)):
        assert (await api.gql(NODE, {"id": node_id}, as_="hq_admin"))["data"]["node"] is None


async def test_a_members_page_costs_the_same_statements_whatever_its_size(api, statements):
    # given 60 members in GD
    await api.scalar(
        """WITH c AS (INSERT INTO customer (branch_id, kind, name, id_document_type, id_document_number)
               SELECT :branch, 'INDIVIDUAL', 'Bulk ' || g, 'ID_CARD', 'BULK' || g FROM generate_series(1, 60) g
               RETURNING id),
           a AS (INSERT INTO account (customer_id, account_number, opened_on)
               SELECT id, '7' || lpad(id::text, 9, '0'), '2020-01-01' FROM c)
           INSERT INTO member (member_number, customer_id, club_id, branch_id, grade_code, joined_on, valid_until)
           SELECT '5' || lpad(id::text, 11, '0'), id, :club, :branch, 'EMERALD', '2024-01-01', '2030-01-01' FROM c
           RETURNING 1""",
        branch=api.demo.branches["GD"],
        club=api.demo.clubs["GD-CLUB"],
    )
    query = """query($first: Int) { members(first: $first) { edges { node {
        memberNumber grade { name } club { name branch { code } } customer { name }
        accounts { accountNumber subscriberNumbers } customerManager { username } } } } }"""
    await api.token("hq_admin")
    counts = {}
    for first in (5, 50):
        statements.clear()
        data = await api.data(query, {"first": first}, as_="hq_admin")
        assert len(data["members"]["edges"]) == first
        counts[first] = len(statements)
    assert counts[5] == counts[50], counts
    assert counts[50] <= 10


@pytest.mark.parametrize(("manager_of", "accepted"), [("SZ", True), ("GD", True), ("HQ", True), ("BJ", False)])
async def test_a_members_manager_is_of_the_members_branch_or_above_it(api, manager_of, accepted):
    # given a customer manager of some branch, and a member to be of Shenzhen's club
    manager = gid("Staff", await api.add_staff("new.manager", "CUSTOMER_MANAGER", manager_of))
    before = await api.fingerprint()
    # when the head office makes the member with that manager
    answer = await api.data(CREATE, {"input": new_member(api, customerManagerId=manager)}, as_="hq_admin")
    # then a manager who sees Shenzhen is taken; one of Beijing is refused, and nothing is written
    if accepted:
        assert answer["createMember"]["member"]["customerManager"] == {"username": "new.manager"}
    else:
        assert codes(answer, "createMember") == [(["input", "customerManagerId"], "INVALID")]
        assert await api.fingerprint() == before


@pytest.mark.parametrize(("manager_of", "kept"), [("GD", True), ("SZ", False), ("HQ", True)])
async def test_a_member_moved_keeps_only_a_manager_who_sees_their_new_branch(api, manager_of, kept):
    # given a member of Shenzhen's club managed by a customer manager of some branch
    manager = gid("Staff", await api.add_staff("new.manager", "CUSTOMER_MANAGER", manager_of))
    made = await api.data(CREATE, {"input": new_member(api, customerManagerId=manager)}, as_="hq_admin")
    member = made["createMember"]["member"]["id"]
    # when the head office moves them to Guangdong's club
    moved = {"input": {"id": member, "clubId": gid("Club", api.demo.clubs["GD-CLUB"])}}
    answer = (await api.data(UPDATE, moved, as_="hq_admin"))["updateMember"]
    # then a manager who sees Guangdong stays, and Shenzhen's is no longer named
    assert answer["errors"] == []
    assert answer["member"]["customerManager"] == ({"username": "new.manager"} if kept else None)


async def test_a_member_moved_with_a_manager_named_takes_one_who_sees_the_new_branch(api):
    # given a member of Shenzhen's club, and a customer manager of Shenzhen
    manager = gid("Staff", await api.add_staff("new.manager", "CUSTOMER_MANAGER", "SZ"))
    made = await api.data(CREATE, {"input": new_member(api)}, as_="hq_admin")
    before = await api.fingerprint()
    # when the head office moves them to Guangdong's club naming Shenzhen's manager
    moved = {"input": {"id": made["createMember"]["member"]["id"], "clubId": gid("Club", api.demo.clubs["GD-CLUB"]),
                       "customerManagerId": manager}}  # fmt: skip
    answer = await api.data(UPDATE, moved, as_="hq_admin")
    # then it is refused: that manager would not see the member there; nothing is written
    assert codes(answer, "updateMember") == [(["input", "customerManagerId"], "INVALID")]
    assert await api.fingerprint() == before
