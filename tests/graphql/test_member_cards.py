"""A member's card: apply, hand over, loss with identity proofs, unfreeze, reissue, replace, cancel, PINs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain import clock, metrics
from tests.api import gid, top_codes

LI_WEI_CARD = "6211000000000001"
LI_WEI_ID = "440101198001010011"
CARD_FIELDS = "number state cardType locked replacesNumber replacedByNumber member { customer { name } }"


def card_mutation(name: str, input_type: str) -> str:
    return f"""mutation($input: {input_type}!) {{ {name}(input: $input) {{
        errors {{ field code message }} card {{ {CARD_FIELDS} }} }} }}"""


LOST = card_mutation("reportCardLost", "ReportCardLostInput")
UNFREEZE = card_mutation("unfreezeCard", "UnfreezeCardInput")
HAND_OVER = card_mutation("handOverCard", "HandOverCardInput")
REISSUE = card_mutation("reissueCard", "ReissueCardInput")
REPLACE = card_mutation("replaceCard", "ReplaceCardInput")
CANCEL = card_mutation("cancelCard", "CancelCardInput")
CHANGE_PIN = card_mutation("changeCardPin", "ChangeCardPinInput")
RESET_PIN = card_mutation("resetCardPin", "ResetCardPinInput")
APPLY = """mutation($input: ApplyForCardInput!) { applyForCard(input: $input) {
    errors { field code message } application { id status pickupAt pickupPlace cardNumber } } }"""
APPROVE = """mutation($input: ApproveCardApplicationInput!) { approveCardApplication(input: $input) {
    errors { field code message } application { status } } }"""
HISTORY = """query($number: String!) { card(number: $number) { state
    history { action stateBefore stateAfter channel reason detail staff { username } } } }"""


def first(answer: dict) -> dict:
    return next(iter(answer.values()))


def error_codes(answer: dict) -> list[tuple]:
    return [(e["field"], e["code"]) for e in first(answer)["errors"]]


async def history(api, number: str = LI_WEI_CARD) -> dict:
    return (await api.data(HISTORY, {"number": number}, as_="hq_admin"))["card"]


def shift_clock(monkeypatch, delta: timedelta) -> None:
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + delta)


# --- apply and hand over -------------------------------------------------------------------------


async def test_a_member_applies_and_books_a_pick_up_then_staff_approve_and_hand_over(api):
    # given Wang Fang (Emerald, no card) books a pick-up at a counter
    pickup_utc = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    pickup = pickup_utc.astimezone(timezone(timedelta(hours=8))).isoformat()  # sent in Beijing time
    await api.login("MEMBER", "13800000002")
    api._tokens["wang"] = (await api.login("MEMBER", "13800000002"))["accessToken"]
    applied = await api.gql(APPLY, {"input": {"pickupAt": pickup, "pickupPlace": "Futian counter"}}, as_="wang")
    application = first(applied["data"])["application"]
    assert (application["status"], application["pickupPlace"]) == ("REQUESTED", "Futian counter")
    assert application["pickupAt"] == pickup_utc.isoformat()  # answered in UTC, as every time
    # when staff approve it and hand over an Emerald card
    approved = await api.data(APPROVE, {"input": {"id": application["id"]}}, as_="agent")
    assert first(approved)["application"]["status"] == "APPROVED"
    handed = await api.data(HAND_OVER, {"input": {"memberId": gid("Member", api.demo.members["Wang Fang"]),
        "cardNumber": "6221000000000001", "receiverIdNumber": "440301198502020022", "receiverPhone": "13800000002",
        "pin": "135790"}}, as_="agent")  # fmt: skip
    # then the card is hers and active, and the application is fulfilled
    card = first(handed)["card"]
    assert (card["state"], card["member"]["customer"]["name"]) == ("ACTIVE", "Wang Fang")
    me = await api.gql("{ me { card { number state } } }", as_="wang")
    assert me["data"]["me"]["card"] == {"number": "6221000000000001", "state": "ACTIVE"}
    apps = await api.gql("{ cardApplications { edges { node { status cardNumber } } } }", as_="wang")
    assert apps["data"]["cardApplications"]["edges"][0]["node"] == {
        "status": "FULFILLED",
        "cardNumber": "6221000000000001",
    }
    event = (await history(api, "6221000000000001"))["history"][-1]
    assert event["action"] == "HAND_OVER"
    assert event["detail"] == {"receiverIdNumber": "440301198502020022", "receiverPhone": "13800000002"}


async def test_a_member_sees_their_cards_history_from_its_hand_over_on(api):
    # given a card issued to GD's customer manager, then handed over to Wang Fang
    issue = """mutation($input: IssueCardsInput!) { issueCards(input: $input) { errors { code } count } }"""
    issued = {"input": {"numbers": ["6221000000000001"], "receivedBy": "Mr X",
                        "toStaffId": gid("Staff", api.demo.staff["gd.manager"])}}  # fmt: skip
    assert (await api.data(issue, issued, as_="club_operator"))["issueCards"]["count"] == 1
    handed = await api.data(HAND_OVER, {"input": {"memberId": gid("Member", api.demo.members["Wang Fang"]),
        "cardNumber": "6221000000000001", "receiverIdNumber": "440301198502020022", "receiverPhone": "13800000002",
        "pin": "135790"}}, as_="agent")  # fmt: skip
    assert first(handed)["errors"] == []
    # when she and staff read the card's history
    api._tokens["wang"] = (await api.login("MEMBER", "13800000002"))["accessToken"]
    hers = (await api.data("{ me { card { history { action detail } } } }", as_="wang"))["me"]["card"]["history"]
    staffs = [
        {"action": e["action"], "detail": e["detail"]} for e in (await history(api, "6221000000000001"))["history"]
    ]
    # then staff see the stock's movements (for which customer manager), she sees the card as hers alone
    assert [e["action"] for e in staffs] == ["ISSUE", "HAND_OVER"]
    assert staffs[0]["detail"]["customerManager"] == "gd.manager"
    assert hers == staffs[1:]


@pytest.mark.parametrize(
    ("who", "changes", "field", "code"),
    [
        ("member", {}, "memberId", "MEMBER_HOLDS_CARD"),  # Li Wei holds a card
        ("agent", {"memberId": "Wang Fang", "pickupAt": "2020-01-01T10:00:00+00:00"}, "pickupAt", "OUT_OF_RANGE"),
        ("agent", {"memberId": "Wang Fang", "pickupPlace": "p" * 201}, "pickupPlace", "TOO_LONG"),
        ("agent", {"memberId": "Zhang Min"}, "memberId", "NOT_FOUND"),  # another branch's member
        ("other_member", {"memberId": "Wang Fang"}, "memberId", "NOT_FOUND"),  # a member names someone else
        ("member", {"memberId": "Wang Fang"}, "memberId", "NOT_FOUND"),  # ... whatever their own card
    ],
)
async def test_apply_refusals(api, who, changes, field, code):
    changes = {k: gid("Member", api.demo.members[v]) if k == "memberId" else v for k, v in changes.items()}
    await api.token(who)
    before = await api.fingerprint()
    assert error_codes(await api.data(APPLY, {"input": changes}, as_=who)) == [(["input", field], code)]
    assert await api.fingerprint() == before


async def test_a_member_applies_naming_themselves(api):
    # given Zhang Min (no card), when she applies naming her own memberId, then her application is made
    variables = {"input": {"memberId": gid("Member", api.demo.members["Zhang Min"])}}
    answer = first(await api.data(APPLY, variables, as_="other_member"))
    assert (answer["errors"], answer["application"]["status"]) == ([], "REQUESTED")


async def test_a_time_without_its_offset_from_utc_is_refused_at_the_edge(api):
    variables = {"input": {"memberId": gid("Member", api.demo.members["Wang Fang"]), "pickupAt": "2099-01-01T10:00:00"}}
    answer = await api.gql(APPLY, variables, as_="agent")
    assert top_codes(answer) == ["INVALID"] and "offset" in answer["errors"][0]["message"]


async def test_one_open_application_at_a_time_and_approval_once(api):
    variables = {"input": {"memberId": gid("Member", api.demo.members["Wang Fang"])}}
    application = first(await api.data(APPLY, variables, as_="agent"))["application"]
    assert error_codes(await api.data(APPLY, variables, as_="agent")) == [
        (["input", "memberId"], "CARD_APPLICATION_OPEN")
    ]
    await api.data(APPROVE, {"input": {"id": application["id"]}}, as_="agent")
    again = await api.data(APPROVE, {"input": {"id": application["id"]}}, as_="agent")
    assert error_codes(again) == [(["input", "id"], "CARD_APPLICATION_DECIDED")]
    unknown = await api.data(APPROVE, {"input": {"id": gid("CardApplication", 999)}}, as_="agent")
    assert error_codes(unknown) == [(["input", "id"], "NOT_FOUND")]


def hand_over_input(api, **changes):
    wang = gid("Member", api.demo.members["Wang Fang"])
    base = {"memberId": wang, "cardNumber": "6221000000000002", "receiverIdNumber": "440301198502020022"}
    return base | {"receiverPhone": "13800000002", "pin": "135790"} | changes


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        (
            {"cardNumber": "6211000000000002"},
            "cardNumber",
            "CARD_TYPE_NOT_OF_GRADE",
        ),  # a Diamond card for an Emerald member
        ({"cardNumber": LI_WEI_CARD}, "cardNumber", "CARD_NOT_IN_STOCK"),  # not in stock
        ({"cardNumber": "6299000000000001"}, "cardNumber", "NOT_FOUND"),
        ({"cardNumber": "6220000000000001"}, "cardNumber", "NOT_FOUND"),  # HQ's stock, outside GD's subtree
        ({"pin": "123456"}, "pin", "INVALID"),
        ({"pin": "111111"}, "pin", "INVALID"),
        ({"pin": "12345"}, "pin", "INVALID"),
        ({"receiverPhone": "phone"}, "receiverPhone", "INVALID"),
        ({"memberId": "<Li Wei>"}, "memberId", "MEMBER_HOLDS_CARD"),  # holds a card already
    ],
)
async def test_hand_over_refusals(api, changes, field, code):
    if changes.get("memberId") == "<Li Wei>":
        changes = {"memberId": gid("Member", api.demo.members["Li Wei"]), "cardNumber": "6211000000000002"}
    await api.token("agent")
    before = await api.fingerprint()
    answer = await api.data(HAND_OVER, {"input": hand_over_input(api, **changes)}, as_="agent")
    assert error_codes(answer) == [(["input", field], code)]
    assert await api.fingerprint() == before


async def test_a_stock_card_is_handed_over_through_its_validity_date_and_not_after(api):
    # given Wang Fang's card in stock, valid until yesterday
    card = "card SET valid_until = :day WHERE number = 6221000000000002 RETURNING 1"
    await api.scalar(f"UPDATE {card}", day=clock.today() - timedelta(days=1))
    await api.token("agent")
    before = await api.fingerprint()
    # when it is handed over, then it is refused as past its validity, and nothing is written
    answer = await api.data(HAND_OVER, {"input": hand_over_input(api)}, as_="agent")
    assert error_codes(answer) == [(["input", "cardNumber"], "CARD_EXPIRED")]
    assert await api.fingerprint() == before
    # when it is valid until today, then it is handed over
    await api.scalar(f"UPDATE {card}", day=clock.today())
    assert error_codes(await api.data(HAND_OVER, {"input": hand_over_input(api)}, as_="agent")) == []


async def test_two_agents_handing_out_one_card_at_once_give_it_to_one_member(api):
    import asyncio

    # given Wang Fang and a second Emerald member in GD's subtree
    await api.scalar(
        "UPDATE member SET grade_code = 'EMERALD' WHERE id = :id RETURNING 1", id=api.demo.members["Li Wei"]
    )
    await api.scalar("UPDATE card SET state = 'CANCELLED' WHERE number = :n RETURNING 1", n=int(LI_WEI_CARD))
    for who in ("agent", "club_operator"):
        await api.token(who)
    requests = [
        api.gql(HAND_OVER, {"input": hand_over_input(api, memberId=gid("Member", api.demo.members[name]))}, as_=who)
        for name, who in (("Wang Fang", "agent"), ("Li Wei", "club_operator"))
    ]
    answers = await asyncio.gather(*requests)
    outcomes = sorted(tuple(e["code"] for e in a["data"]["handOverCard"]["errors"]) for a in answers)
    assert outcomes == [(), ("CARD_NOT_IN_STOCK",)]


# --- loss and unfreeze -------------------------------------------------------------------------------


async def test_a_member_reports_their_own_card_lost_at_once(api):
    answer = await api.data(LOST, {"input": {"cardNumber": LI_WEI_CARD, "channel": "WAP"}}, as_="member")
    assert first(answer)["card"]["state"] == "LOST"
    event = (await history(api))["history"][-1]
    assert (event["action"], event["channel"], event["staff"]) == ("REPORT_LOST", "WAP", None)


@pytest.mark.parametrize(
    ("proof", "recorded"),
    [
        ({"idDocumentNumber": LI_WEI_ID}, "ID_DOCUMENT"),
        ({"idDocumentNumber": " ".join(LI_WEI_ID[i : i + 4] for i in range(0, 18, 4))}, "ID_DOCUMENT"),  # spaced
        ({"cardPin": "246810"}, "CARD_PIN"),
        ({"subscriberNumber": "13800000001", "password": "demo-password"}, "SUBSCRIBER_PASSWORD"),
    ],
)
async def test_the_hotline_reports_loss_and_unfreezes_with_each_proof(api, proof, recorded):
    lost = await api.data(
        LOST, {"input": {"cardNumber": LI_WEI_CARD, "proof": proof, "channel": "HOTLINE"}}, as_="agent"
    )
    assert first(lost)["card"]["state"] == "LOST"
    back = await api.data(UNFREEZE, {"input": {"cardNumber": LI_WEI_CARD, "proof": proof}}, as_="agent")
    assert first(back)["card"]["state"] == "ACTIVE"
    events = (await history(api))["history"][-2:]
    assert [(e["action"], e["channel"], e["detail"]["proof"]) for e in events] == [
        ("REPORT_LOST", "HOTLINE", recorded),
        ("UNFREEZE", "COUNTER", recorded),
    ]


@pytest.mark.parametrize(
    ("proof", "field", "code"),
    [
        ({"idDocumentNumber": "440101198001019999"}, "proof.idDocumentNumber", "INVALID_CREDENTIALS"),
        ({"cardPin": "975310"}, "proof.cardPin", "INVALID_CREDENTIALS"),
        (
            {"subscriberNumber": "13800000001", "password": "wrong-password"},
            "proof.subscriberNumber",
            "INVALID_CREDENTIALS",
        ),
        (
            {"subscriberNumber": "13800000002", "password": "demo-password"},
            "proof.subscriberNumber",
            "INVALID_CREDENTIALS",
        ),
        ({}, "proof", "REQUIRED"),
        ({"idDocumentNumber": " "}, "proof", "REQUIRED"),
        # exactly one complete proof: anything else is an input error, not a failed proof
        ({"idDocumentNumber": LI_WEI_ID, "cardPin": "246810"}, "proof", "INVALID"),
        ({"cardPin": "246810", "subscriberNumber": "13800000001", "password": "x"}, "proof", "INVALID"),
        ({"subscriberNumber": "13800000001"}, "proof.password", "REQUIRED"),
        ({"cardPin": "", "idDocumentNumber": "440101198001019999"}, "proof.idDocumentNumber", "INVALID_CREDENTIALS"),
        ({"subscriberNumber": "13800000001", "password": ""}, "proof.password", "REQUIRED"),
        ({"password": "demo-password"}, "proof.subscriberNumber", "REQUIRED"),
    ],
)
async def test_wrong_proofs_are_refused_recorded_and_counted(api, proof, field, code):
    answer = await api.data(LOST, {"input": {"cardNumber": LI_WEI_CARD, "proof": proof}}, as_="agent")
    assert error_codes(answer) == [(["input", field], code)]
    state = await history(api)
    assert state["state"] == "ACTIVE"
    failures = [e for e in state["history"] if e["action"] == "PROOF_FAILED"]
    assert len(failures) == (1 if code == "INVALID_CREDENTIALS" else 0)
    assert await api.scalar("SELECT failed_attempt_count FROM card WHERE number = :n", n=int(LI_WEI_CARD)) == len(
        failures
    )


@pytest.mark.parametrize(
    ("mutation", "given", "field"),
    [
        (LOST, {"proof": {"cardPin": "975310"}}, "proof.cardPin"),
        (LOST, {"proof": {"subscriberNumber": "13800000001", "password": "wrong-password"}}, "proof.subscriberNumber"),
        (RESET_PIN, {"idDocumentNumber": "440101198001019999", "newPin": "135792"}, "idDocumentNumber"),
    ],
)
async def test_an_account_throttled_for_wrong_proofs_proves_no_card_at_the_counter_either(api, mutation, given, field):
    # given Guo Peng's account entered wrong PINs for ten cards in the last half hour
    await api.scalar(
        """INSERT INTO staff_proof_failure (staff_id, card_number)
           SELECT :staff, 6299000000000000 + n FROM generate_series(1, 10) AS n RETURNING 1""",
        staff=api.demo.staff["gd.agent"],
    )
    before, throttled = await api.fingerprint(), metrics.THROTTLED.labels("card_presenter")._value.get()
    # when it gives Li Wei's card a proof at the counter, wrong or right, then it is refused, and nothing counted
    answer = await api.data(mutation, {"input": {"cardNumber": LI_WEI_CARD} | given}, as_="agent")
    assert error_codes(answer) == [(["input", field], "LOCKED")]
    right = await api.data(LOST, {"input": {"cardNumber": LI_WEI_CARD, "proof": {"idDocumentNumber": LI_WEI_ID}}},
                           as_="agent")  # fmt: skip
    assert error_codes(right) == [(["input", "proof.idDocumentNumber"], "LOCKED")]
    assert await api.fingerprint() == before
    assert metrics.THROTTLED.labels("card_presenter")._value.get() == throttled + 2


async def test_five_wrong_proofs_lock_the_card_for_half_an_hour(api, monkeypatch):
    # given five wrong ID documents shown for Li Wei's card
    wrong = {"input": {"cardNumber": LI_WEI_CARD, "proof": {"idDocumentNumber": "440101198001019999"}}}
    codes = [error_codes(await api.data(LOST, wrong, as_="agent"))[0][1] for _ in range(5)]
    assert codes == ["INVALID_CREDENTIALS"] * 4 + ["CARD_PIN_LOCKED"]
    # when his document or PIN is shown, then the lock holds against both
    right = {"input": {"cardNumber": LI_WEI_CARD, "proof": {"idDocumentNumber": LI_WEI_ID}}}
    assert error_codes(await api.data(LOST, right, as_="agent")) == [(["input", "cardNumber"], "CARD_PIN_LOCKED")]
    pin = {"input": {"cardNumber": LI_WEI_CARD, "proof": {"cardPin": "246810"}}}
    assert error_codes(await api.data(LOST, pin, as_="agent")) == [(["input", "cardNumber"], "CARD_PIN_LOCKED")]
    # and the member can still stop a card that may be in a thief's hands
    assert first(await api.data(LOST, {"input": {"cardNumber": LI_WEI_CARD}}, as_="member"))["card"]["state"] == "LOST"
    shift_clock(monkeypatch, timedelta(minutes=31))
    assert first(await api.data(UNFREEZE, right, as_="agent"))["card"]["state"] == "ACTIVE"


async def test_a_card_locked_by_wrong_pins_is_stopped_by_its_members_id_document(api):
    # given five wrong PINs typed for Li Wei's card (a thief can), locking it
    wrong = {"input": {"cardNumber": LI_WEI_CARD, "proof": {"cardPin": "975310"}}}
    codes = [error_codes(await api.data(LOST, wrong, as_="agent"))[0][1] for _ in range(5)]
    assert codes == ["INVALID_CREDENTIALS"] * 4 + ["CARD_PIN_LOCKED"]
    pin = {"input": {"cardNumber": LI_WEI_CARD, "proof": {"cardPin": "246810"}}}
    assert error_codes(await api.data(LOST, pin, as_="agent")) == [(["input", "cardNumber"], "CARD_PIN_LOCKED")]
    # when he calls the hotline and shows his ID document, then the card is stopped at once
    right = {"input": {"cardNumber": LI_WEI_CARD, "proof": {"idDocumentNumber": LI_WEI_ID}, "channel": "HOTLINE"}}
    assert first(await api.data(LOST, right, as_="agent"))["card"]["state"] == "LOST"


async def test_a_replayed_loss_report_answers_the_same_and_records_once(api):
    variables = {"input": {"cardNumber": LI_WEI_CARD, "idempotencyKey": "tap-1"}}
    answers = [await api.data(LOST, variables, as_="member") for _ in range(3)]
    assert [first(a)["errors"] for a in answers] == [[], [], []]
    assert [e["action"] for e in (await history(api))["history"]].count("REPORT_LOST") == 1
    other = {"input": {"cardNumber": "6211000000000002", "idempotencyKey": "tap-1"}}
    assert error_codes(await api.data(LOST, other, as_="member")) == [
        (["input", "idempotencyKey"], "IDEMPOTENCY_CONFLICT")
    ]
    no_key = {"input": {"cardNumber": LI_WEI_CARD}}
    assert error_codes(await api.data(LOST, no_key, as_="member")) == [(["input", "cardNumber"], "CARD_LOST")]


LOST_REPLAYED = """mutation($input: ReportCardLostInput!) { reportCardLost(input: $input) {
    errors { code } replayed card { number state } } }"""


@pytest.mark.parametrize(
    ("who", "proof"), [("member", None), ("agent", {"idDocumentNumber": LI_WEI_ID})]
)  # fmt: skip
async def test_a_replay_after_the_card_moved_on_answers_the_card_as_it_was_and_says_so(api, who, proof):
    # given a loss report, answered and recorded
    variables = {"input": {"cardNumber": LI_WEI_CARD, "idempotencyKey": "tap-1"} | ({"proof": proof} if proof else {})}
    reported = (await api.data(LOST_REPLAYED, variables, as_=who))["reportCardLost"]
    assert (reported["errors"], reported["replayed"], reported["card"]["state"]) == ([], False, "LOST")
    # and the card found again and unfrozen since
    await api.data(UNFREEZE, {"input": {"cardNumber": LI_WEI_CARD}}, as_="member")
    # when the client sends the same request again (a retry after a lost answer)
    again = (await api.data(LOST_REPLAYED, variables, as_=who))["reportCardLost"]
    # then it answers the card as the loss report left it, says it is a replay, and moves nothing
    assert (again["errors"], again["replayed"], again["card"]) == ([], True, reported["card"])
    assert (await history(api))["state"] == "ACTIVE"
    assert [e["action"] for e in (await history(api))["history"]].count("REPORT_LOST") == 1


async def test_concurrent_replays_of_a_loss_report_record_it_once(api):
    import asyncio

    await api.token("member")
    variables = {"input": {"cardNumber": LI_WEI_CARD, "idempotencyKey": "double-tap"}}
    answers = await asyncio.gather(*(api.data(LOST, variables, as_="member") for _ in range(4)))
    assert all(first(a)["errors"] == [] for a in answers)
    assert [e["action"] for e in (await history(api))["history"]].count("REPORT_LOST") == 1


async def test_unfreeze_needs_a_lost_card(api):
    answer = await api.data(UNFREEZE, {"input": {"cardNumber": LI_WEI_CARD}}, as_="member")
    assert error_codes(answer) == [(["input", "cardNumber"], "CARD_NOT_LOST")]


# --- reissue, replace, cancel -------------------------------------------------------------------------


async def test_a_lost_card_is_reissued_and_the_pin_carries_over(api):
    await api.data(LOST, {"input": {"cardNumber": LI_WEI_CARD}}, as_="member")
    answer = await api.data(
        REISSUE, {"input": {"oldCardNumber": LI_WEI_CARD, "newCardNumber": "6211000000000002"}}, as_="agent"
    )
    new = first(answer)["card"]
    assert (new["number"], new["state"], new["replacesNumber"]) == ("6211000000000002", "ACTIVE", LI_WEI_CARD)
    old = await history(api)
    assert old["state"] == "RETIRED"
    assert old["history"][-1]["detail"] == {"replacedBy": "6211000000000002"}
    change = {"input": {"cardNumber": "6211000000000002", "oldPin": "246810", "newPin": "975310"}}
    assert first(await api.data(CHANGE_PIN, change, as_="member"))["errors"] == []
    me = await api.data("{ me { card { number } } }", as_="member")
    assert me["me"]["card"] == {"number": "6211000000000002"}


@pytest.mark.parametrize(
    ("mutation", "changes", "field", "code"),
    [
        (REISSUE, {}, "oldCardNumber", "CARD_NOT_LOST"),  # not lost
        (
            REPLACE,
            {"newCardNumber": "6221000000000002", "reason": "DAMAGED"},
            "newCardNumber",
            "CARD_TYPE_NOT_OF_GRADE",
        ),
        (REPLACE, {"reason": "GRADE_CHANGE"}, "reason", "CARD_ALREADY_OF_GRADE"),  # the grade has not changed
        (REPLACE, {"newCardNumber": "6211000000000011", "reason": "DAMAGED"}, "newCardNumber", "CARD_ENDED"),  # void
        (REPLACE, {"newCardNumber": "123", "reason": "DAMAGED"}, "newCardNumber", "INVALID"),
    ],
)
async def test_reissue_and_replace_refusals(api, mutation, changes, field, code):
    await api.data(VOID_ONE, {"input": {"numbers": ["6211000000000011"], "reason": "x"}}, as_="hq_admin")
    await api.token("agent")
    before = await api.fingerprint()
    variables = {"input": {"oldCardNumber": LI_WEI_CARD, "newCardNumber": "6211000000000002"} | changes}
    if mutation == REISSUE:
        variables["input"].pop("reason", None)
    assert error_codes(await api.data(mutation, variables, as_="agent")) == [(["input", field], code)]
    assert await api.fingerprint() == before


async def test_a_damaged_card_is_replaced_and_a_lost_one_is_not(api):
    # given Li Wei's card, in hand and active: when it is replaced as damaged, then he holds the new one
    variables = {"input": {"oldCardNumber": LI_WEI_CARD, "newCardNumber": "6211000000000002", "reason": "DAMAGED"}}
    new = first(await api.data(REPLACE, variables, as_="agent"))["card"]
    assert (new["number"], new["state"], new["replacesNumber"]) == ("6211000000000002", "ACTIVE", LI_WEI_CARD)
    assert (await history(api))["state"] == "RETIRED"


@pytest.mark.parametrize("reason", ["DAMAGED", "GRADE_CHANGE"])
async def test_a_lost_card_is_reissued_not_replaced(api, reason):
    # given Li Wei's card reported lost
    await api.data(LOST, {"input": {"cardNumber": LI_WEI_CARD}}, as_="member")
    await api.token("agent")
    before = await api.fingerprint()
    # when staff replace it instead of reissuing it
    variables = {"input": {"oldCardNumber": LI_WEI_CARD, "newCardNumber": "6211000000000002", "reason": reason}}
    answer = await api.data(REPLACE, variables, as_="agent")
    # then it is refused as lost, and nothing is written: the card stays LOST, the stock card in stock
    assert error_codes(answer) == [(["input", "oldCardNumber"], "CARD_LOST")]
    assert await api.fingerprint() == before
    assert (await history(api))["state"] == "LOST"


VOID_ONE = "mutation($input: VoidCardsInput!) { voidCards(input: $input) { errors { code } } }"


@pytest.mark.parametrize(
    ("who", "number", "answer"),
    [
        ("other_branch_admin", LI_WEI_CARD, "NOT_FOUND"),  # a card of another province: as if there were none
        ("auditor", LI_WEI_CARD, "FORBIDDEN"),
        ("member", LI_WEI_CARD, "FORBIDDEN"),
        ("agent", "9" * 23, "INVALID"),  # beyond any card number
    ],
)
async def test_a_grade_change_replacement_asks_who_and_which_card_first(api, who, number, answer):
    # given Li Wei's card, of his grade's type; when a grade-change replacement is asked by someone who may not
    # make it, or of a card that cannot be, then the answer says so, and not whether the card matches the grade
    await api.token(who)
    before = await api.fingerprint()
    variables = {"input": {"oldCardNumber": number, "newCardNumber": "6211000000000002", "reason": "GRADE_CHANGE"}}
    replied = await api.gql(REPLACE, variables, as_=who)
    codes = top_codes(replied) or [e["code"] for e in replied["data"]["replaceCard"]["errors"]]
    assert codes == [answer], replied
    assert await api.fingerprint() == before


async def test_a_grade_change_entitles_the_member_to_a_card_of_the_new_type(api):
    await api.scalar(
        "UPDATE member SET grade_code = 'EMERALD' WHERE id = :id RETURNING 1", id=api.demo.members["Li Wei"]
    )
    variables = {"input": {"oldCardNumber": LI_WEI_CARD, "newCardNumber": "6221000000000003", "reason": "GRADE_CHANGE"}}
    card = first(await api.data(REPLACE, variables, as_="club_operator"))["card"]
    assert (card["cardType"], card["state"]) == ("EMERALD", "ACTIVE")
    assert (await history(api))["history"][-1]["reason"] == "GRADE_CHANGE"


async def test_cancel_ends_a_card_for_good(api):
    answer = await api.data(CANCEL, {"input": {"cardNumber": LI_WEI_CARD, "reason": "Left the network"}}, as_="agent")
    assert first(answer)["card"]["state"] == "CANCELLED"
    for mutation, variables in (
        (CANCEL, {"cardNumber": LI_WEI_CARD, "reason": "again"}),
        (UNFREEZE, {"cardNumber": LI_WEI_CARD, "proof": {"idDocumentNumber": LI_WEI_ID}}),
        (LOST, {"cardNumber": LI_WEI_CARD, "proof": {"idDocumentNumber": LI_WEI_ID}}),
    ):
        assert error_codes(await api.data(mutation, {"input": variables}, as_="agent")) == [
            (["input", "cardNumber"], "CARD_ENDED")
        ]
    no_reason = await api.data(CANCEL, {"input": {"cardNumber": "6211000000000002", "reason": ""}}, as_="agent")
    assert error_codes(no_reason) == [(["input", "reason"], "REQUIRED")]


# --- PINs ---------------------------------------------------------------------------------------------


async def test_five_wrong_pins_lock_the_card_and_a_staff_reset_lifts_it(api, monkeypatch):
    wrong = {"input": {"cardNumber": LI_WEI_CARD, "oldPin": "975310", "newPin": "135790"}}
    codes = [error_codes(await api.data(CHANGE_PIN, wrong, as_="member"))[0] for _ in range(5)]
    assert codes == [(["input", "oldPin"], "INVALID_CREDENTIALS")] * 4 + [(["input", "oldPin"], "CARD_PIN_LOCKED")]
    right = {"input": {"cardNumber": LI_WEI_CARD, "oldPin": "246810", "newPin": "135790"}}
    assert error_codes(await api.data(CHANGE_PIN, right, as_="member")) == [
        (["input", "cardNumber"], "CARD_PIN_LOCKED")
    ]
    locked = await api.data("{ me { card { locked } } }", as_="member")
    assert locked["me"]["card"]["locked"] is True
    attempts = await api.scalar("SELECT count(*) FROM card_event WHERE action = 'PROOF_FAILED'")
    assert attempts == 5
    # when staff reset the PIN after checking the ID document
    reset = {"input": {"cardNumber": LI_WEI_CARD, "idDocumentNumber": LI_WEI_ID, "newPin": "135790"}}
    assert first(await api.data(RESET_PIN, reset, as_="agent"))["card"]["locked"] is False
    # then the new PIN works
    change = {"input": {"cardNumber": LI_WEI_CARD, "oldPin": "135790", "newPin": "975310"}}
    assert first(await api.data(CHANGE_PIN, change, as_="member"))["errors"] == []


async def test_wrong_id_documents_lock_the_reset_itself_until_the_lock_ends(api, monkeypatch):
    # given five wrong ID document numbers at a PIN reset: the card locks
    wrong = {"input": {"cardNumber": LI_WEI_CARD, "idDocumentNumber": "X1", "newPin": "135790"}}
    codes = [error_codes(await api.data(RESET_PIN, wrong, as_="agent"))[0] for _ in range(5)]
    assert codes == [(["input", "idDocumentNumber"], "INVALID_CREDENTIALS")] * 4 + [
        (["input", "idDocumentNumber"], "CARD_PIN_LOCKED")
    ]
    # when the reset is tried again, even with the right document, then it waits: no more guesses are taken
    right = {"input": {"cardNumber": LI_WEI_CARD, "idDocumentNumber": LI_WEI_ID, "newPin": "135790"}}
    before = await api.fingerprint()
    assert error_codes(await api.data(RESET_PIN, right, as_="agent")) == [(["input", "cardNumber"], "CARD_PIN_LOCKED")]
    assert await api.fingerprint() == before
    # and once the lock has ended, the right document resets the PIN
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(hours=2))
    assert first(await api.data(RESET_PIN, right, as_="agent"))["errors"] == []


async def test_a_card_reissued_keeps_the_pin_lock_of_the_lost_one(api):
    # given Li Wei's card locked by five wrong PINs, then reported lost
    wrong = {"input": {"cardNumber": LI_WEI_CARD, "oldPin": "975310", "newPin": "135790"}}
    for _ in range(5):
        await api.data(CHANGE_PIN, wrong, as_="member")
    await api.data(LOST, {"input": {"cardNumber": LI_WEI_CARD}}, as_="member")
    # when a new card takes its place, then the new card is locked as the old one was: no PIN is tried on it
    reissued = {"input": {"oldCardNumber": LI_WEI_CARD, "newCardNumber": "6211000000000002"}}
    assert first(await api.data(REISSUE, reissued, as_="agent"))["card"]["locked"] is True
    right = {"input": {"cardNumber": "6211000000000002", "oldPin": "246810", "newPin": "975310"}}
    assert error_codes(await api.data(CHANGE_PIN, right, as_="member")) == [
        (["input", "cardNumber"], "CARD_PIN_LOCKED")
    ]


async def test_a_pin_lock_ends_by_itself(api, monkeypatch):
    wrong = {"input": {"cardNumber": LI_WEI_CARD, "oldPin": "975310", "newPin": "135790"}}
    for _ in range(5):
        await api.data(CHANGE_PIN, wrong, as_="member")
    shift_clock(monkeypatch, timedelta(minutes=31))
    right = {"input": {"cardNumber": LI_WEI_CARD, "oldPin": "246810", "newPin": "135790"}}
    assert first(await api.data(CHANGE_PIN, right, as_="member"))["errors"] == []


@pytest.mark.parametrize(
    ("mutation", "who", "changes", "field", "code"),
    [
        (CHANGE_PIN, "member", {"newPin": "654321"}, "newPin", "INVALID"),
        (CHANGE_PIN, "member", {"cardNumber": "6211000000000002"}, "cardNumber", "NOT_FOUND"),  # not hers
        (RESET_PIN, "agent", {"idDocumentNumber": "X1"}, "idDocumentNumber", "INVALID_CREDENTIALS"),
        (RESET_PIN, "agent", {"newPin": "000000"}, "newPin", "INVALID"),
    ],
)
async def test_pin_refusals(api, mutation, who, changes, field, code):
    base = {"cardNumber": LI_WEI_CARD, "oldPin": "246810", "newPin": "135790", "idDocumentNumber": LI_WEI_ID}
    keys = {"oldPin"} if mutation == CHANGE_PIN else {"idDocumentNumber"}
    variables = {k: v for k, v in (base | changes).items() if k in keys | {"cardNumber", "newPin"}}
    answer = await api.data(mutation, {"input": variables}, as_=who)
    assert error_codes(answer) == [(["input", field], code)]


async def test_pins_are_stored_only_as_argon2id_hashes(api):
    stored = await api.scalar("SELECT pin_hash FROM card WHERE number = :n", n=int(LI_WEI_CARD))
    assert stored.startswith("$argon2id$") and "246810" not in stored


# --- history queries --------------------------------------------------------------------------------------

EVENTS = """query($filter: CardEventFilter) { cardEvents(filter: $filter, first: 50) { edges { node {
    cardNumber action stateAfter } } } }"""


async def test_card_operations_are_queryable_by_card_member_state_and_date(api):
    await api.data(LOST, {"input": {"cardNumber": LI_WEI_CARD}}, as_="member")
    today = clock.today().isoformat()
    by_member = {"memberId": gid("Member", api.demo.members["Li Wei"]), "states": ["LOST"], "occurredFrom": today,
                 "occurredTo": today}  # fmt: skip
    edges = (await api.data(EVENTS, {"filter": by_member}, as_="auditor"))["cardEvents"]["edges"]
    assert [e["node"]["action"] for e in edges] == ["REPORT_LOST"]
    by_card = (await api.data(EVENTS, {"filter": {"cardNumber": LI_WEI_CARD}}, as_="member"))["cardEvents"]["edges"]
    assert [e["node"]["action"] for e in by_card] == ["HAND_OVER", "REPORT_LOST"]
    past = {"occurredFrom": "2001-01-01", "occurredTo": "2001-01-31"}
    assert (await api.data(EVENTS, {"filter": past}, as_="auditor"))["cardEvents"]["edges"] == []
    assert top_codes(await api.gql(EVENTS, {"filter": {}}, as_="settlement_clerk")) == ["FORBIDDEN"]


RETURN = "mutation($input: ReturnCardsInput!) { returnCards(input: $input) { errors { field code } } }"
TRANSFER = "mutation($input: TransferCardsInput!) { transferCards(input: $input) { errors { field code } } }"


@pytest.mark.parametrize(
    ("given", "mutation", "variables", "field", "code"),
    [
        (None, RETURN, {"numbers": [LI_WEI_CARD]}, "numbers", "NO_PARENT_BRANCH"),  # HQ returns to nobody
        ("void", TRANSFER, {"numbers": ["6211000000000011"], "toClubId": "GD-CLUB"}, "numbers", "CARDS_NOT_MOVABLE"),
        ("cancel", REPLACE, {"oldCardNumber": LI_WEI_CARD, "newCardNumber": "6211000000000002", "reason": "DAMAGED"},
         "oldCardNumber", "CARD_ENDED"),
        ("reissue", REISSUE, {"oldCardNumber": LI_WEI_CARD, "newCardNumber": "6211000000000003"}, "oldCardNumber",
         "CARD_ENDED"),
        ("reissue", UNFREEZE, {"cardNumber": LI_WEI_CARD, "proof": {"idDocumentNumber": LI_WEI_ID}}, "cardNumber",
         "CARD_ENDED"),
        ("cancel", RESET_PIN, {"cardNumber": LI_WEI_CARD, "idDocumentNumber": LI_WEI_ID, "newPin": "135790"},
         "cardNumber", "CARD_ENDED"),
    ],
)  # fmt: skip
async def test_refused_transitions_change_nothing(api, given, mutation, variables, field, code):
    # given the card in the state the case needs
    if given == "void":
        await api.data(VOID_ONE, {"input": {"numbers": ["6211000000000011"], "reason": "x"}}, as_="hq_admin")
    if given == "cancel":
        await api.data(CANCEL, {"input": {"cardNumber": LI_WEI_CARD, "reason": "Left"}}, as_="hq_admin")
    if given == "reissue":  # the old card is RETIRED
        await api.data(LOST, {"input": {"cardNumber": LI_WEI_CARD}}, as_="member")
        await api.data(
            REISSUE, {"input": {"oldCardNumber": LI_WEI_CARD, "newCardNumber": "6211000000000002"}}, as_="agent"
        )
    if "toClubId" in variables:
        variables = variables | {"toClubId": gid("Club", api.demo.clubs[variables["toClubId"]])}
    await api.token("hq_admin")
    before = await api.fingerprint()
    # when an operation its state does not allow is tried
    answer = await api.data(mutation, {"input": variables}, as_="hq_admin")
    # then it is refused with the code that names why, and nothing changed
    assert [(e["field"], e["code"]) for e in first(answer)["errors"]] == [(["input", field], code)]
    assert await api.fingerprint() == before
