"""Redeeming points [R2]: on every channel, each check's code, the ledger and the stock after it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain import clock, metrics
from domain.points import service as points_service
from loyalty.database import make_sessions
from tests.api import gid, top_codes

REDEEM = """mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) {
    errors { field code message } replayed
    redemption { id channel points status crossBranch redeemedOn branch { code } homeBranch { code }
                 lines { item { code } quantity unitPoints points }
                 fulfilments { kind quantity amount state } pickups { quantity state branch { code } } } } }"""
POINTS = "{ me { points { available } } }"


def item(api, code: str) -> str:
    return gid("RewardItem", api.demo.rewards[code])


def redeem_input(api, key: str, *items: tuple[str, int], channel: str = "WEB", **more) -> dict:
    asked = [{"itemId": item(api, code), "quantity": quantity} for code, quantity in items]
    return {"input": {"items": asked, "channel": channel, "idempotencyKey": key} | more}


async def available(api, who: str = "member") -> int:
    return (await api.data(POINTS, as_=who))["me"]["points"]["available"]


async def test_a_member_redeems_minutes_on_the_web(api):
    # given Li Wei with 1,500 points
    assert await available(api) == 1_500
    # when he redeems two packs of 60 minutes
    answer = (await api.data(REDEEM, redeem_input(api, "k-1", ("MIN-60", 2)), as_="member"))["redeemPoints"]
    # then 1,000 points leave, the billing system has 120 minutes to deliver, and the ledger holds
    assert answer["errors"] == [], answer
    redemption = answer["redemption"]
    assert (redemption["points"], redemption["status"], redemption["crossBranch"]) == (1_000, "COMPLETED", False)
    assert redemption["lines"] == [{"item": {"code": "MIN-60"}, "quantity": 2, "unitPoints": 500, "points": 1_000}]
    assert redemption["fulfilments"] == [{"kind": "CALL_MINUTES", "quantity": 2, "amount": 120, "state": "PENDING"}]
    assert await available(api) == 500
    assert await api.violations() == []


async def test_a_redemption_is_of_the_clubs_day(api, monkeypatch):
    # given Li Wei signed in, and 01:00 on 7 December in Beijing (17:00 on the 6th in UTC)
    await api.token("member")
    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 12, 6, 17, 0, tzinfo=UTC))
    # when he redeems minutes, then the redemption and its ledger entry are of the 7th
    answer = (await api.data(REDEEM, redeem_input(api, "d-1", ("MIN-60", 1)), as_="member"))["redeemPoints"]
    assert answer["redemption"]["redeemedOn"] == "2026-12-07", answer
    assert await api.scalar("SELECT effective_on FROM ledger_transaction WHERE entry_type = 'REDEMPTION'") == date(
        2026, 12, 7
    )


async def test_a_refused_mutation_beside_a_redemption_hides_not_the_redemption(api):
    # given one document asking a redemption of Li Wei, then an adjustment members may not make
    both = """mutation($input: RedeemPointsInput!, $adjust: AdjustPointsInput!) {
        a: redeemPoints(input: $input) { errors { code } redemption { id points } }
        b: adjustPoints(input: $adjust) { errors { code } } }"""
    adjust = {"memberId": gid("Member", api.demo.members["Li Wei"]), "points": 10, "entryType": "ADJUSTMENT",
              "reason": "mine", "idempotencyKey": "b-1"}  # fmt: skip
    # when he sends it
    answer = await api.gql(both, redeem_input(api, "a-1", ("MIN-60", 1)) | {"adjust": adjust}, as_="member")
    # then the redemption, done, is answered, and only the adjustment is refused
    assert answer["data"]["a"]["errors"] == [] and answer["data"]["a"]["redemption"]["points"] == 500
    assert answer["data"]["b"] is None
    assert [(e["path"], e["extensions"]["code"]) for e in answer["errors"]] == [(["b"], "FORBIDDEN")]
    assert await available(api) == 1_000


CANCEL = """mutation($input: CancelRedemptionInput!) { cancelRedemption(input: $input) {
    errors { field code message } replayed
    redemption { id status points cancelledPoints
                 cancellations { points expiredPoints items { quantity points } } } } }"""


async def test_an_agent_redeems_a_gift_at_the_counter_and_cancels_it(api):
    # given Li Wei (Guangdong) at the Guangzhou counter, 20 umbrellas in GD's stock
    counter = gid("Outlet", api.demo.outlets["GD-COUNTER"])
    member = gid("Member", api.demo.members["Li Wei"])
    asked = redeem_input(api, "g-1", ("GD-UMBRELLA", 1), channel="COUNTER", memberId=member, outletId=counter)
    # when the agent redeems an umbrella for him
    answer = (await api.data(REDEEM, asked, as_="agent"))["redeemPoints"]
    # then it waits for him at GD, and the stock holds 19
    assert answer["errors"] == [], answer
    made = answer["redemption"]
    assert made["pickups"] == [{"quantity": 1, "state": "READY", "branch": {"code": "GD"}}]
    assert (
        await api.scalar(
            "SELECT quantity FROM gift_stock WHERE item_id = :i AND branch_id = :b",
            i=api.demo.rewards["GD-UMBRELLA"],
            b=api.demo.branches["GD"],
        )
        == 19
    )
    # when he changes his mind, then the points and the umbrella go back
    cancel = {"input": {"redemptionId": made["id"], "reason": "Changed his mind", "idempotencyKey": "c-1"}}
    cancelled = (await api.data(CANCEL, cancel, as_="agent"))["cancelRedemption"]
    assert cancelled["errors"] == [], cancelled
    assert (cancelled["redemption"]["status"], cancelled["redemption"]["cancelledPoints"]) == ("CANCELLED", 800)
    assert await available(api) == 1_500
    assert (
        await api.scalar(
            "SELECT quantity FROM gift_stock WHERE item_id = :i AND branch_id = :b",
            i=api.demo.rewards["GD-UMBRELLA"],
            b=api.demo.branches["GD"],
        )
        == 20
    )
    assert await api.violations() == []


async def test_every_independent_problem_is_answered_at_once(api):
    # given Zhang Min (Sapphire, Beijing, no points), served at the head office's counter: the umbrella is for
    # Diamond and Emerald members of GD
    member = gid("Member", api.demo.members["Zhang Min"])
    asked = redeem_input(api, "p-1", ("GD-UMBRELLA", 1), ("BILL-10", 6), channel="COUNTER", memberId=member)
    answer = (await api.data(REDEEM, asked, as_="hq_admin"))["redeemPoints"]
    codes = {(tuple(e["field"]), e["code"]) for e in answer["errors"]}
    assert codes == {
        (("input", "items.0.itemId"), "ITEM_NOT_IN_SCOPE"),
        (("input", "items.0.itemId"), "GRADE_NOT_ALLOWED"),
        (("input", "items.0.quantity"), "ITEM_OUT_OF_STOCK"),
        (("input", "items.1.quantity"), "MONTHLY_LIMIT_REACHED"),
        (("input", "items"), "INSUFFICIENT_POINTS"),
    }, answer


@pytest.mark.parametrize("unseen", ["a draft", "another province's"])
async def test_a_reward_the_member_does_not_see_is_not_found_and_named_nowhere(api, unseen):
    # given a reward Zhang Min (Beijing) cannot see: a draft of the head office, or GD's umbrella
    if unseen == "a draft":
        await api.scalar("UPDATE reward_item SET status = 'DRAFT' WHERE code = 'MIN-60' RETURNING 1")
    code = "MIN-60" if unseen == "a draft" else "GD-UMBRELLA"
    asked = redeem_input(api, "n-1", (code, 1))
    before = await api.fingerprint()
    # when she asks for a quote or redeems it, then it is not found, as `node` answers, and nothing names it
    quote_input = {k: v for k, v in asked["input"].items() if k != "idempotencyKey"}
    quote = await api.gql(QUOTE, {"input": quote_input}, as_="other_member")
    redeemed = (await api.data(REDEEM, asked, as_="other_member"))["redeemPoints"]
    node = await api.data("query($id: ID!) { node(id: $id) { id } }", {"id": item(api, code)}, as_="other_member")
    assert node == {"node": None}
    found = quote["data"]["quoteRedemption"]
    assert found["lines"] == [] and redeemed["redemption"] is None
    for answer in (found, redeemed):
        assert {(tuple(e["field"]), e["code"]) for e in answer["errors"]} >= {
            (("input", "items.0.itemId"), "NOT_FOUND")
        }
    names = await api.scalar("SELECT name FROM reward_item WHERE code = :c", c=code)
    assert names not in repr(quote) + repr(redeemed)
    assert await api.fingerprint() == before


async def test_a_reward_id_of_another_type_is_refused_at_its_place_in_the_list(api):
    # given two rewards asked for, the second named by a member's ID
    asked = redeem_input(api, "t-1", ("MIN-60", 1))
    asked["input"]["items"].append({"itemId": gid("Member", api.demo.members["Li Wei"]), "quantity": 1})
    before = await api.fingerprint()
    # when the member redeems, then the second's ID is refused where it stands, and nothing is written
    answer = (await api.data(REDEEM, asked, as_="member"))["redeemPoints"]
    assert codes(answer) == [(["input", "items.1.itemId"], "NOT_FOUND")]
    assert await api.fingerprint() == before


async def test_a_redemption_too_large_to_answer_is_out_of_range(api):
    # given the dearest gift a reward may be (100,000,000 points) offered nationally
    await api.scalar("UPDATE reward_item SET points_price = 100000000 WHERE code = 'MIN-60' RETURNING 1")
    asked = redeem_input(api, "o-1", ("MIN-60", 11))
    # when a member asks for eleven (1,100,000,000 points), then the quote and the redemption refuse the size
    quote_input = {k: v for k, v in asked["input"].items() if k != "idempotencyKey"}
    quote = (await api.data(QUOTE, {"input": quote_input}, as_="member"))["quoteRedemption"]
    assert codes(quote) == [(["input", "items"], "OUT_OF_RANGE")]
    before = await api.fingerprint()
    assert codes((await api.data(REDEEM, asked, as_="member"))["redeemPoints"]) == [
        (["input", "items"], "OUT_OF_RANGE")
    ]
    assert await api.fingerprint() == before


QUOTE = """query($input: QuoteRedemptionInput!) { quoteRedemption(input: $input) {
    errors { field code } points available availableAfter crossBranch
    lines { item { code } quantity unitPoints points } lots { expiresOn points } } }"""
POS = {"cardNumber": "6211000000000001", "cardPin": "246810"}


def at(api, outlet: str) -> str:
    return gid("Outlet", api.demo.outlets[outlet])


def codes(answer: dict) -> list[tuple[list[str], str]]:
    return [(e["field"], e["code"]) for e in answer["errors"]]


async def test_the_quote_says_what_the_redemption_then_does(api):
    # given a quote of bill credit and music for Li Wei
    asked = redeem_input(api, "q-1", ("BILL-10", 1), ("MUSIC-MONTH", 1))
    quote_input = {k: v for k, v in asked["input"].items() if k != "idempotencyKey"}
    before = await api.fingerprint()
    quote = (await api.data(QUOTE, {"input": quote_input}, as_="member"))["quoteRedemption"]
    # then it writes nothing, and says 1,300 points from the soonest-expiring lots, 200 left
    assert await api.fingerprint() == before
    assert (quote["errors"], quote["points"], quote["available"], quote["availableAfter"]) == ([], 1_300, 1_500, 200)
    assert quote["lots"] == [{"expiresOn": "2026-12-31", "points": 1_200}, {"expiresOn": "2027-12-31", "points": 100}]
    # and the redemption that follows does exactly that
    made = (await api.data(REDEEM, asked, as_="member"))["redeemPoints"]["redemption"]
    assert made["points"] == quote["points"]
    drawn = await api.scalar(
        "SELECT string_agg(l.expires_on || '=' || -m.amount, ',' ORDER BY l.expires_on) FROM lot_movement m"
        " JOIN points_lot l ON l.id = m.lot_id WHERE m.transaction_id = (SELECT transaction_id FROM redemption)"
    )
    assert drawn == "2026-12-31=1200,2027-12-31=100"
    assert await available(api) == quote["availableAfter"]


async def test_a_price_changed_since_the_quote_is_not_charged_when_the_member_names_what_they_agreed_to(api):
    # given a quote of 500 points for an hour of calls, and the reward's price raised to 700 since
    asked = redeem_input(api, "e-1", ("MIN-60", 1))
    quote_input = {k: v for k, v in asked["input"].items() if k != "idempotencyKey"}
    quoted = (await api.data(QUOTE, {"input": quote_input}, as_="member"))["quoteRedemption"]["points"]
    await api.scalar("UPDATE reward_item SET points_price = 700 WHERE code = 'MIN-60' RETURNING 1")
    await api.token("member")
    before = await api.fingerprint()
    # when Li Wei redeems it, naming the 500 points he agreed to
    agreed = {"input": asked["input"] | {"expectedPoints": quoted}}
    refused = (await api.data(REDEEM, agreed, as_="member"))["redeemPoints"]
    # then nothing is spent, and he is told what it costs now; the audit trail records the refusal
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [(["input", "expectedPoints"], "PRICE_CHANGED")]
    assert "700" in refused["errors"][0]["message"] and refused["redemption"] is None
    assert await api.fingerprint() == before
    assert await api.scalar("SELECT outcome FROM audit_event ORDER BY id DESC LIMIT 1") == "PRICE_CHANGED"
    # and with the same key, agreeing to the new price, it is made once
    made = (await api.data(REDEEM, {"input": asked["input"] | {"expectedPoints": 700}}, as_="member"))["redeemPoints"]
    again = (await api.data(REDEEM, {"input": asked["input"] | {"expectedPoints": 700}}, as_="member"))["redeemPoints"]
    assert (made["errors"], made["redemption"]["points"], again["replayed"]) == ([], 700, True)
    assert await available(api) == 800 and await api.violations() == []


@pytest.mark.parametrize(("expected", "code"), [(-1, "OUT_OF_RANGE"), (10**9 + 1, "OUT_OF_RANGE")])
async def test_expected_points_out_of_range_are_refused_before_anything_is_spent(api, expected, code):
    await api.token("member")
    before = await api.fingerprint()
    asked = redeem_input(api, "e-2", ("MIN-60", 1), expectedPoints=expected)
    answer = (await api.data(REDEEM, asked, as_="member"))["redeemPoints"]
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [(["input", "expectedPoints"], code)]
    assert await api.fingerprint() == before


async def test_points_whose_last_day_has_passed_are_never_spent(api, today_is):
    # given Li Wei's 1,200 points ending 2026-12-31 and 300 ending 2027-12-31, on 1 January before the expiry run
    await api.token("member")
    today_is(date(2027, 1, 1))
    lots = (
        "SELECT string_agg(expires_on || '=' || remaining, ',' ORDER BY expires_on) FROM points_lot"
        " WHERE member_id = :m"
    )
    li_wei = api.demo.members["Li Wei"]
    # when he asks what minutes for 500 would take, then only the 300 still valid are available
    asked = redeem_input(api, "e-1", ("MIN-60", 1))["input"]
    quote = (await api.data(QUOTE, {"input": {k: v for k, v in asked.items() if k != "idempotencyKey"}},
                            as_="member"))["quoteRedemption"]  # fmt: skip
    assert quote["available"] == 300 and "INSUFFICIENT_POINTS" in [code for _, code in codes(quote)]
    assert await available(api) == 300
    # and a quote of what he can have names the lot it will draw on, the one still valid
    music = redeem_input(api, "e-0", ("MUSIC-MONTH", 1))["input"]
    quote = (await api.data(QUOTE, {"input": {k: v for k, v in music.items() if k != "idempotencyKey"}},
                            as_="member"))["quoteRedemption"]  # fmt: skip
    assert quote["lots"] == [{"expiresOn": "2027-12-31", "points": 300}]
    # and a month of music (300) draws on the lot still valid alone
    made = (await api.data(REDEEM, redeem_input(api, "e-2", ("MUSIC-MONTH", 1)), as_="member"))["redeemPoints"]
    assert made["errors"] == [], made
    assert await api.scalar(lots, m=li_wei) == "2026-12-31=1200,2027-12-31=0"
    # and the day's expiry then moves the 1,200 to breakage, the ledger whole
    run = await points_service.expire(make_sessions(api.engine), date(2027, 1, 1))
    assert (run.members, run.points) == (1, 1_200)
    assert await api.violations() == []


async def test_a_quote_answers_every_problem_too(api):
    asked = redeem_input(api, "q-2", ("BILL-10", 6))["input"]
    quote = (await api.data(QUOTE, {"input": {k: v for k, v in asked.items() if k != "idempotencyKey"}},
                            as_="member"))["quoteRedemption"]  # fmt: skip
    assert sorted(code for _, code in codes(quote)) == ["INSUFFICIENT_POINTS", "MONTHLY_LIMIT_REACHED"]


async def test_a_card_and_pin_at_a_pos_in_another_province_redeem_across_branches(api):
    # given Li Wei (Guangdong, Diamond: national roaming) at the Beijing airport POS, run by Beijing staff
    asked = redeem_input(api, "x-1", ("MIN-60", 1), channel="POS", outletId=at(api, "BJ-POS"), **POS)
    answer = (await api.data(REDEEM, asked, as_="other_branch_operator"))["redeemPoints"]
    # then it is made at BJ, decided by GD, and marked across branches; both branches see it
    assert answer["errors"] == [], answer
    made = answer["redemption"]
    assert (made["crossBranch"], made["branch"]["code"], made["homeBranch"]["code"]) == (True, "BJ", "GD")
    listing = "{ redemptions(filter: {crossBranch: true}) { edges { node { id } } } }"
    for who in ("other_branch_operator", "club_operator"):
        assert [e["node"]["id"] for e in (await api.data(listing, as_=who))["redemptions"]["edges"]] == [made["id"]]
    mine = await api.data('{ me { redemptions(filter: {crossBranch: true}) { edges { node { branch { code } } } } } }',
                          as_="member")  # fmt: skip
    assert mine["me"]["redemptions"]["edges"] == [{"node": {"branch": {"code": "BJ"}}}]


async def test_a_grade_that_does_not_roam_redeems_in_its_home_province_only(api):
    # given Li Wei's grade changed to Sapphire (no national roaming)
    await api.scalar(
        "UPDATE member SET grade_code = 'SAPPHIRE' WHERE id = :m RETURNING 1", m=api.demo.members["Li Wei"]
    )
    # when he shows his card in Beijing, then it is refused; in Shenzhen (his province's city) it is not
    beijing = redeem_input(api, "g-1", ("MIN-60", 1), channel="POS", outletId=at(api, "BJ-POS"), **POS)
    refused = (await api.data(REDEEM, beijing, as_="other_branch_operator"))["redeemPoints"]
    assert codes(refused) == [(["input", "outletId"], "ROAMING_NOT_ALLOWED")]
    shenzhen = redeem_input(api, "g-2", ("MIN-60", 1), channel="POS", outletId=at(api, "SZ-POS"), **POS)
    assert (await api.data(REDEEM, shenzhen, as_="agent"))["redeemPoints"]["errors"] == []
    # and once he is Diamond again, Beijing serves him
    await api.scalar("UPDATE member SET grade_code = 'DIAMOND' WHERE id = :m RETURNING 1", m=api.demo.members["Li Wei"])
    again = redeem_input(api, "g-3", ("MIN-60", 1), channel="POS", outletId=at(api, "BJ-POS"), **POS)
    assert (await api.data(REDEEM, again, as_="other_branch_operator"))["redeemPoints"]["errors"] == []


async def test_a_wrong_pin_is_counted_and_reads_like_an_unknown_card(api):
    before = await api.fingerprint()
    wrong = redeem_input(api, "w-1", ("MIN-60", 1), channel="POS", outletId=at(api, "SZ-POS"),
                         cardNumber=POS["cardNumber"], cardPin="975310")  # fmt: skip
    unknown = redeem_input(api, "w-2", ("MIN-60", 1), channel="POS", outletId=at(api, "SZ-POS"),
                           cardNumber="6299000000000001", cardPin="975310")  # fmt: skip
    answers = [(await api.data(REDEEM, r, as_="agent"))["redeemPoints"]["errors"] for r in (wrong, unknown)]
    assert answers[0] == answers[1]
    assert [(e["field"], e["code"]) for e in answers[0]] == [(["input", "cardPin"], "INVALID_CREDENTIALS")]
    after = await api.fingerprint()
    assert {t for t in before if before[t] != after[t]} == {"card", "card_event", "staff_proof_failure"}  # recorded


async def test_an_account_that_entered_wrong_pins_for_too_many_cards_shows_none_for_a_while(api):
    shown = {"channel": "POS", "outletId": at(api, "SZ-POS")}

    async def show(key: str, number: str, pin: str, as_: str = "agent") -> list:
        asked = redeem_input(api, key, ("MIN-60", 1), cardNumber=number, cardPin=pin, **shown)
        return codes((await api.data(REDEEM, asked, as_=as_))["redeemPoints"])

    # given Guo Peng's account showed nine numbers that hold no card, each with some PIN (one of them twice)
    for n in [*range(9), 8]:
        assert await show(f"u-{n}", f"629900000000000{n}", "975310") == [(["input", "cardPin"], "INVALID_CREDENTIALS")]
    # when a wrong PIN is entered for a tenth card, a real one, it is counted as any wrong PIN
    assert await show("t-1", POS["cardNumber"], "975310") == [(["input", "cardPin"], "INVALID_CREDENTIALS")]
    # then the account shows no card, not even with the right PIN, nor a number that holds none, and writes nothing
    before, throttled = await api.fingerprint(), metrics.THROTTLED.labels("card_presenter")._value.get()
    asked = redeem_input(api, "t-2", ("MIN-60", 1), **POS, **shown)
    refused = (await api.data(REDEEM, asked, as_="agent"))["redeemPoints"]
    assert codes(refused) == [(["input", "cardPin"], "LOCKED")]
    oldest = await api.scalar("SELECT min(occurred_at) FROM staff_proof_failure")
    at_minute = (oldest + timedelta(minutes=30, seconds=59, microseconds=999_999)).replace(second=0, microsecond=0)
    assert refused["errors"][0]["message"].endswith(f"it proves cards again at {at_minute:%H:%M} UTC.")
    assert await show("t-3", "6299000000000100", "975310") == [(["input", "cardPin"], "LOCKED")]
    right = redeem_input(api, "t-4", ("MIN-60", 1), **POS, **shown)
    quote = {k: v for k, v in right["input"].items() if k != "idempotencyKey"}
    refused = (await api.data(QUOTE, {"input": quote}, as_="agent"))["quoteRedemption"]
    assert codes(refused) == [(["input", "cardPin"], "LOCKED")]
    assert await api.fingerprint() == before
    assert metrics.THROTTLED.labels("card_presenter")._value.get() == throttled + 3
    # and the card itself is not locked: another account serves its holder
    assert (await api.data(REDEEM, redeem_input(api, "t-5", ("MIN-60", 1), **POS, channel="POS",
                                                outletId=at(api, "BJ-POS")), as_="other_branch_operator")
            )["redeemPoints"]["errors"] == []  # fmt: skip
    # and a card that is locked answers the account as any other: it cannot tell one from the other
    lock = "UPDATE card SET locked_until = %s WHERE number = 6211000000000001 RETURNING 1"
    await api.scalar(lock % "now() + interval '1 hour'")
    assert await show("t-7", POS["cardNumber"], "975310") == [(["input", "cardPin"], "LOCKED")]
    await api.scalar(lock % "NULL")
    # and once the lock period has passed since the oldest of the newest ten, the account shows cards again
    await api.scalar(
        """UPDATE staff_proof_failure SET occurred_at = occurred_at - interval '30 minutes'
           WHERE card_number = 6299000000000000 RETURNING 1"""
    )
    assert await show("t-6", POS["cardNumber"], POS["cardPin"]) == []


async def test_a_member_mistyping_their_own_pin_again_and_again_shuts_no_account_out(api):
    # given a member at a terminal who gets his PIN wrong four times, then right, three times over
    shown = {"channel": "TERMINAL", "outletId": at(api, "SZ-POS")}
    quote = {k: v for k, v in redeem_input(api, "-", ("MIN-60", 1), **POS, **shown)["input"].items()
             if k != "idempotencyKey"}  # fmt: skip
    for _ in range(3):
        for _ in range(4):
            wrong = (await api.data(QUOTE, {"input": quote | {"cardPin": "975310"}}, as_="agent"))["quoteRedemption"]
            assert codes(wrong) == [(["input", "cardPin"], "INVALID_CREDENTIALS")]
        assert (await api.data(QUOTE, {"input": quote}, as_="agent"))["quoteRedemption"]["errors"] == []
    # then none of his wrong PINs is held against the terminal's account once he got it right, and while he
    # mistypes they count as one card
    assert await api.scalar("SELECT count(*) FROM staff_proof_failure") == 0
    for _ in range(3):
        await api.data(QUOTE, {"input": quote | {"cardPin": "975310"}}, as_="agent")
    assert await api.scalar("SELECT count(*) FROM staff_proof_failure") == 1
    # and once right here, even after the card's own count was cleared elsewhere (a PIN reset at the counter)
    await api.scalar("UPDATE card SET failed_attempt_count = 0 WHERE number = 6211000000000001 RETURNING 1")
    assert (await api.data(QUOTE, {"input": quote}, as_="agent"))["quoteRedemption"]["errors"] == []
    assert await api.scalar("SELECT count(*) FROM staff_proof_failure") == 0


async def test_a_retry_of_a_redemption_made_at_a_pos_answers_it_whatever_became_of_the_card_since(api):
    # given a redemption made at a POS with Li Wei's card, whose answer the POS did not receive
    asked = redeem_input(api, "p-1", ("MIN-60", 1), channel="POS", outletId=at(api, "SZ-POS"), **POS)
    made = (await api.data(REDEEM, asked, as_="agent"))["redeemPoints"]
    assert made["errors"] == [] and made["replayed"] is False, made
    card = f"card WHERE number = {POS['cardNumber']}"
    set_card = f"UPDATE card SET {{}} WHERE number = {POS['cardNumber']}"
    throttled = ("INSERT INTO staff_proof_failure (staff_id, card_number) SELECT id, n FROM staff,"
                 " generate_series(6299000000000000, 6299000000000009) n WHERE username = 'gd.agent'")  # fmt: skip
    since = {
        "CARD_PIN_LOCKED": [set_card.format("locked_until = now() + interval '1 hour'")],
        "LOCKED": [set_card.format("locked_until = NULL"), throttled],
        "CARD_EXPIRED": ["DELETE FROM staff_proof_failure", set_card.format("valid_until = current_date - 2")],
        "CARD_LOST": [set_card.format("state = 'LOST', failed_attempt_count = 2")],
    }
    for code, changes in since.items():
        # when the card or the account refuses since, as a new request finds
        for change in changes:
            await api.scalar(f"{change} RETURNING 1")
        fresh = redeem_input(api, f"n-{code}", ("MIN-60", 1), channel="POS", outletId=at(api, "SZ-POS"), **POS)
        assert codes((await api.data(REDEEM, fresh, as_="agent"))["redeemPoints"])[0][1] == code
        # then a retry with the same key answers the redemption made, as it was made
        again = (await api.data(REDEEM, asked, as_="agent"))["redeemPoints"]
        assert (again["errors"], again["replayed"], again["redemption"]) == ([], True, made["redemption"]), code
    # and nothing more was redeemed, and the right PIN's retry on the lost card changed nothing of it
    assert await api.scalar("SELECT count(*) FROM redemption") == 1
    assert await api.scalar(f"SELECT failed_attempt_count FROM {card}") == 2
    # and another request under the key is refused by the card, and a retry without a PIN is no retry
    other = redeem_input(api, "p-1", ("MIN-60", 2), channel="POS", outletId=at(api, "SZ-POS"), **POS)
    assert codes((await api.data(REDEEM, other, as_="agent"))["redeemPoints"])[0][1] == "CARD_LOST"
    for pin in (None, ""):
        unproved = await api.data(REDEEM, asked | {"input": asked["input"] | {"cardPin": pin}}, as_="agent")
        assert codes(unproved["redeemPoints"]) == [(["input", "cardPin"], "REQUIRED")]
    assert await api.violations() == []


async def test_a_retry_with_a_wrong_pin_answers_the_redemption_as_made_and_the_pin_is_counted(api):
    # given a redemption made at a terminal, then cancelled
    asked = redeem_input(api, "p-1", ("MIN-60", 1), channel="TERMINAL", outletId=at(api, "SZ-POS"), **POS)
    made = (await api.data(REDEEM, asked, as_="agent"))["redeemPoints"]
    cancel = {"input": {"redemptionId": made["redemption"]["id"], "reason": "Asked back", "idempotencyKey": "c-1"}}
    assert (await api.data(CANCEL, cancel, as_="agent"))["cancelRedemption"]["errors"] == []
    # when the terminal retries it with a wrong PIN
    again = await api.data(REDEEM, asked | {"input": asked["input"] | {"cardPin": "975310"}}, as_="agent")
    # then the answer is the redemption as it was made (its fulfilment as it is), and the wrong PIN is counted
    answer = again["redeemPoints"]
    assert (answer["errors"], answer["replayed"], answer["redemption"]["status"]) == ([], True, "COMPLETED")
    assert answer["redemption"]["id"] == made["redemption"]["id"]
    assert await api.scalar(f"SELECT failed_attempt_count FROM card WHERE number = {POS['cardNumber']}") == 1
    assert await api.scalar("SELECT count(*) FROM staff_proof_failure") == 1


async def test_a_lost_card_with_its_right_pin_is_told_it_is_lost(api):
    await api.data('mutation { reportCardLost(input: {cardNumber: "6211000000000001"}) { errors { code } } }',
                   as_="member")  # fmt: skip
    asked = redeem_input(api, "l-1", ("MIN-60", 1), channel="POS", outletId=at(api, "SZ-POS"), **POS)
    assert codes((await api.data(REDEEM, asked, as_="agent"))["redeemPoints"]) == [(["input", "cardNumber"],
                                                                                  "CARD_LOST")]  # fmt: skip


async def test_a_card_past_its_validity_date_is_told_so_with_its_right_pin_only(api):
    # given Li Wei's card, valid until yesterday
    card = f"card SET valid_until = :day WHERE number = {POS['cardNumber']} RETURNING 1"
    await api.scalar(f"UPDATE {card}", day=clock.today() - timedelta(days=1))
    before = await api.fingerprint()
    # when it is shown at a POS with its PIN, then it proves nothing, and says why, writing nothing
    asked = redeem_input(api, "e-1", ("MIN-60", 1), channel="POS", outletId=at(api, "SZ-POS"), **POS)
    refused = (await api.data(REDEEM, asked, as_="agent"))["redeemPoints"]
    assert codes(refused) == [(["input", "cardNumber"], "CARD_EXPIRED")]
    assert await api.fingerprint() == before
    # and with a wrong PIN it reads as any wrong PIN
    wrong = asked | {"input": asked["input"] | {"cardPin": "975310", "idempotencyKey": "e-2"}}
    assert codes((await api.data(REDEEM, wrong, as_="agent"))["redeemPoints"]) == [(["input", "cardPin"],
                                                                                  "INVALID_CREDENTIALS")]  # fmt: skip
    # when its validity ends today, then it is valid through the day
    await api.scalar(f"UPDATE {card}", day=clock.today())
    assert (await api.data(REDEEM, asked, as_="agent"))["redeemPoints"]["errors"] == []


@pytest.mark.parametrize(
    ("who", "more", "field", "code"),
    [
        ("member", {"channel": "COUNTER"}, "channel", "CHANNEL_NOT_ALLOWED"),
        ("member", {"channel": "PARTNER"}, "channel", "CHANNEL_NOT_ALLOWED"),
        ("member", {"channel": "BOOKING"}, "channel", "CHANNEL_NOT_ALLOWED"),
        ("member", {"outletId": "GD-COUNTER"}, "outletId", "INVALID"),
        ("agent", {"channel": "WEB"}, "channel", "CHANNEL_NOT_ALLOWED"),
        ("agent", {"channel": "COUNTER"}, "memberId", "REQUIRED"),
        ("agent", {"channel": "POS", "outletId": "SZ-POS"}, "cardNumber", "REQUIRED"),
        ("agent", {"channel": "TERMINAL", "cardNumber": "6211000000000001", "cardPin": "246810"}, "outletId",
         "REQUIRED"),
        ("agent", {"channel": "COUNTER", "memberId": "Zhang Min"}, "memberId", "NOT_FOUND"),
        ("agent", {"channel": "COUNTER", "memberId": "Li Wei", "outletId": "BJ-POS"}, "outletId", "NOT_FOUND"),
    ],
)  # fmt: skip
async def test_each_channel_takes_its_own_callers_and_details(api, who, more, field, code):
    data = redeem_input(api, "c-1", ("MIN-60", 1))["input"]
    for key, value in more.items():
        data[key] = {"memberId": lambda v: gid("Member", api.demo.members[v]), "outletId": lambda v: at(api, v)}.get(
            key, lambda v: v)(value)  # fmt: skip
    before = await api.fingerprint()
    answer = (await api.data(REDEEM, {"input": data}, as_=who))["redeemPoints"]
    assert codes(answer) == [(["input", field], code)]
    assert await api.fingerprint() == before


async def test_the_membership_must_be_active_and_valid(api):
    await api.token("member")
    await api.scalar("UPDATE member SET valid_until = '2020-12-31' WHERE id = :m RETURNING 1",
                     m=api.demo.members["Li Wei"])  # fmt: skip
    expired = (await api.data(REDEEM, redeem_input(api, "v-1", ("MIN-60", 1)), as_="member"))["redeemPoints"]
    # (a member redeeming for themselves sent no memberId: their membership's problems name no field)
    assert codes(expired) == [(None, "MEMBERSHIP_EXPIRED")]
    await api.scalar("UPDATE member SET valid_until = '2030-12-31', status = 'SUSPENDED' WHERE id = :m RETURNING 1",
                     m=api.demo.members["Li Wei"])  # fmt: skip
    suspended = (await api.data(REDEEM, redeem_input(api, "v-2", ("MIN-60", 1)), as_="member"))["redeemPoints"]
    assert codes(suspended) == [(None, "MEMBERSHIP_SUSPENDED")]
    asked = {"input": {"items": [{"itemId": item(api, "MIN-60"), "quantity": 1}], "channel": "WEB"}}
    quoted = (await api.data(QUOTE, asked, as_="member"))["quoteRedemption"]
    assert codes(quoted) == [(None, "MEMBERSHIP_SUSPENDED")]
    # and staff, who named the member, are told on memberId
    member = gid("Member", api.demo.members["Li Wei"])
    served = redeem_input(api, "v-4", ("MIN-60", 1), channel="HOTLINE", memberId=member)
    assert codes((await api.data(REDEEM, served, as_="agent"))["redeemPoints"]) == [
        (["input", "memberId"], "MEMBERSHIP_SUSPENDED")
    ]


async def top_up(api, points: int) -> None:
    bonus = {"memberId": gid("Member", api.demo.members["Li Wei"]), "points": points, "reason": "Top up",
             "idempotencyKey": f"top-{points}"}  # fmt: skip
    answer = await api.data("mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) { errors { code } } }",
                            {"i": bonus}, as_="hq_admin")  # fmt: skip
    assert answer["adjustPoints"]["errors"] == []


async def test_an_item_is_redeemed_while_active_and_in_its_window(api, today_is):
    await top_up(api, 5_000)
    await api.token("member")
    bill = api.demo.rewards["BILL-10"]
    await api.scalar("UPDATE reward_item SET available_to = '2026-12-31' WHERE id = :i RETURNING 1", i=bill)
    today_is(date(2026, 12, 31))  # the window's last day is in it
    assert (await api.data(REDEEM, redeem_input(api, "i-1", ("BILL-10", 1)), as_="member"))["redeemPoints"][
        "errors"] == []  # fmt: skip
    today_is(date(2027, 1, 1))
    after = (await api.data(REDEEM, redeem_input(api, "i-2", ("BILL-10", 1)), as_="member"))["redeemPoints"]
    assert codes(after) == [(["input", "items.0.itemId"], "ITEM_NOT_AVAILABLE")]
    await api.scalar("UPDATE reward_item SET status = 'RETIRED', available_to = NULL WHERE id = :i RETURNING 1", i=bill)
    retired = (await api.data(REDEEM, redeem_input(api, "i-3", ("BILL-10", 1)), as_="member"))["redeemPoints"]
    assert codes(retired) == [(["input", "items.0.itemId"], "ITEM_NOT_ACTIVE")]


async def test_limits_count_the_day_and_the_calendar_month_inclusively(api, today_is):
    # given 20,000 more points for Li Wei, and bill credit limited to 5 a month
    await top_up(api, 20_000)
    await api.token("member")
    today_is(date(2026, 12, 1))
    assert (await api.data(REDEEM, redeem_input(api, "m-1", ("BILL-10", 4)), as_="member"))["redeemPoints"][
        "errors"] == []  # fmt: skip
    today_is(date(2026, 12, 31))  # the same month, its last day: one is left
    over = (await api.data(REDEEM, redeem_input(api, "m-2", ("BILL-10", 2)), as_="member"))["redeemPoints"]
    assert codes(over) == [(["input", "items.0.quantity"], "MONTHLY_LIMIT_REACHED")]
    assert (await api.data(REDEEM, redeem_input(api, "m-3", ("BILL-10", 1)), as_="member"))["redeemPoints"][
        "errors"] == []  # fmt: skip
    today_is(date(2027, 1, 1))  # a new month
    assert (await api.data(REDEEM, redeem_input(api, "m-4", ("BILL-10", 5)), as_="member"))["redeemPoints"][
        "errors"] == []  # fmt: skip
    # and the umbrella, one a day
    assert (await api.data(REDEEM, redeem_input(api, "d-1", ("GD-UMBRELLA", 1)), as_="member"))["redeemPoints"][
        "errors"] == []  # fmt: skip
    second = (await api.data(REDEEM, redeem_input(api, "d-2", ("GD-UMBRELLA", 1)), as_="member"))["redeemPoints"]
    assert codes(second) == [(["input", "items.0.quantity"], "DAILY_LIMIT_REACHED")]
    today_is(date(2027, 1, 2))
    assert (await api.data(REDEEM, redeem_input(api, "d-3", ("GD-UMBRELLA", 1)), as_="member"))["redeemPoints"][
        "errors"] == []  # fmt: skip
    assert await api.violations() == []


async def test_consumption_rules_decide_who_may_redeem_what(api):
    await api.token("member")
    # given the founding rule (everyone, everything) replaced by one: Diamond members, minutes, from 2,000 points
    await api.scalar("UPDATE consumption_rule SET grade_code = 'DIAMOND', item_kind = 'CALL_MINUTES',"
                     " minimum_available_points = 2000 RETURNING 1")  # fmt: skip
    music = (await api.data(REDEEM, redeem_input(api, "r-1", ("MUSIC-MONTH", 1)), as_="member"))["redeemPoints"]
    assert codes(music) == [(["input", "items.0.itemId"], "GRADE_NOT_ALLOWED")]
    minutes = (await api.data(REDEEM, redeem_input(api, "r-2", ("MIN-60", 1)), as_="member"))["redeemPoints"]
    assert codes(minutes) == [(["input", "items.0.itemId"], "BELOW_MINIMUM_BALANCE")]


async def test_a_replayed_redemption_answers_as_it_was_and_another_request_is_a_conflict(api):
    first = (await api.data(REDEEM, redeem_input(api, "k-1", ("MIN-60", 1)), as_="member"))["redeemPoints"]
    again = (await api.data(REDEEM, redeem_input(api, "k-1", ("MIN-60", 1)), as_="member"))["redeemPoints"]
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["redemption"]["id"] == first["redemption"]["id"]
    other = (await api.data(REDEEM, redeem_input(api, "k-1", ("MIN-60", 2)), as_="member"))["redeemPoints"]
    assert codes(other) == [(["input", "idempotencyKey"], "IDEMPOTENCY_CONFLICT")]
    assert await available(api) == 1_000


@pytest.mark.parametrize(
    ("items", "field", "code"),
    [
        ([], "items", "REQUIRED"),
        ([("MIN-60", 0)], "items.0.quantity", "OUT_OF_RANGE"),
        ([("MIN-60", -1)], "items.0.quantity", "OUT_OF_RANGE"),
        ([("MIN-60", 101)], "items.0.quantity", "OUT_OF_RANGE"),
        ([("MIN-60", 1), ("MIN-60", 1)], "items.1.itemId", "INVALID"),
        ([("MIN-60", 1)] * 1_000, "items", "OUT_OF_RANGE"),
    ],
)
async def test_bad_lists_of_rewards_are_refused_and_nothing_is_written(api, items, field, code):
    await api.token("member")
    before = await api.fingerprint()
    answer = (await api.data(REDEEM, redeem_input(api, "b-1", *items), as_="member"))["redeemPoints"]
    assert codes(answer) == [(["input", field], code)]
    assert await api.fingerprint() == before


async def test_an_unknown_reward_and_a_huge_quantity_are_refused_cleanly(api):
    await api.token("member")
    before = await api.fingerprint()
    unknown = {"input": {"items": [{"itemId": gid("RewardItem", 999_999), "quantity": 1}], "channel": "WEB",
                         "idempotencyKey": "u-1"}}  # fmt: skip
    assert codes((await api.data(REDEEM, unknown, as_="member"))["redeemPoints"]) == [
        (["input", "items.0.itemId"], "NOT_FOUND")]  # fmt: skip
    huge = redeem_input(api, "u-2", ("MIN-60", 1))
    huge["input"]["items"][0]["quantity"] = 2**40
    assert top_codes(await api.gql(REDEEM, huge, as_="member")) == ["BAD_USER_INPUT"]
    assert await api.fingerprint() == before


async def test_staff_see_totals_by_kind_and_channel(api):
    await api.data(REDEEM, redeem_input(api, "t-1", ("MIN-60", 2), ("MUSIC-MONTH", 1)), as_="member")
    today = f"{clock.today()}"
    query = '{ redemptionTotals(from: "%s", to: "%s") { itemKind channel redemptions quantity points } }'
    totals = await api.data(query % (today, today), as_="club_operator")
    assert totals["redemptionTotals"] == [
        {"itemKind": "CALL_MINUTES", "channel": "WEB", "redemptions": 1, "quantity": 2, "points": 1_000},
        {"itemKind": "CONTENT", "channel": "WEB", "redemptions": 1, "quantity": 1, "points": 300},
    ]


DELIVERED_OR_HANDED_OVER = [
    ("MUSIC-MONTH", "UPDATE fulfilment SET state = 'DELIVERED', delivered_at = now() RETURNING 1",
     "FULFILMENT_DELIVERED"),
    ("GD-UMBRELLA", "UPDATE gift_pickup SET state = 'HANDED_OVER', handed_over_at = now() RETURNING 1",
     "GIFT_HANDED_OVER"),
]  # fmt: skip


@pytest.mark.parametrize(("reward", "done", "code"), DELIVERED_OR_HANDED_OVER, ids=["delivered", "handed-over"])
async def test_a_whole_cancellation_of_what_was_delivered_is_refused_at_the_redemption(api, reward, done, code):
    # given a redemption for Li Wei at the counter, whose reward the billing system delivered or he took home
    counter = gid("Outlet", api.demo.outlets["GD-COUNTER"])
    member = gid("Member", api.demo.members["Li Wei"])
    asked = redeem_input(api, "d-1", (reward, 1), channel="COUNTER", memberId=member, outletId=counter)
    made = (await api.data(REDEEM, asked, as_="agent"))["redeemPoints"]
    assert made["errors"] == [], made
    await api.scalar(done)
    # when the agent cancels the whole of it (no items named)
    cancel = {"input": {"redemptionId": made["redemption"]["id"], "reason": "Changed his mind", "idempotencyKey": "c"}}
    answer = (await api.data(CANCEL, cancel, as_="agent"))["cancelRedemption"]
    # then it is refused, and the refusal names the redemption (no item was named)
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [(["input", "redemptionId"], code)], answer


RECEIVE = """mutation($input: ReceiveGiftStockInput!) { receiveGiftStock(input: $input) {
    errors { field code message } movement { quantity balanceAfter branch { code } } } }"""


async def test_another_provinces_gift_is_stocked_by_nobody_outside_it(api):
    # given Guangdong's umbrella, which Beijing's staff do not see among the rewards, and a reward that does not exist
    bj = gid("Branch", api.demo.branches["BJ"])
    asked = {"itemId": item(api, "GD-UMBRELLA"), "branchId": bj, "quantity": 5, "reason": "Delivery"}
    missing = asked | {"itemId": gid("RewardItem", 987_654_321)}
    listed = await api.data("{ rewardItems(first: 10) { edges { node { code } } } }", as_="other_branch_admin")
    assert "GD-UMBRELLA" not in {e["node"]["code"] for e in listed["rewardItems"]["edges"]}
    before = await api.fingerprint()
    # when Beijing's administrator receives umbrellas at Beijing, and then the reward that does not exist
    answers = [
        (await api.data(RECEIVE, {"input": request | {"idempotencyKey": key}}, as_="other_branch_admin"))
        for request, key in ((asked, "r-1"), (missing, "r-2"))
    ]
    # then both are refused word for word alike, and nothing was written
    assert answers[0] == answers[1], answers
    assert answers[0]["receiveGiftStock"]["errors"] == [
        {"field": ["input", "itemId"], "code": "NOT_FOUND", "message": "No such reward."}
    ]
    assert await api.fingerprint() == before
    # and headquarters, which sees it, stocks it only where it is offered: not at Beijing, at Guangdong's city
    elsewhere = await api.data(RECEIVE, {"input": asked | {"idempotencyKey": "r-3"}}, as_="hq_admin")
    assert [e["code"] for e in elsewhere["receiveGiftStock"]["errors"]] == ["ITEM_NOT_IN_SCOPE"]
    at_sz = asked | {"branchId": gid("Branch", api.demo.branches["SZ"]), "idempotencyKey": "r-4"}
    stocked = await api.data(RECEIVE, {"input": at_sz}, as_="hq_admin")
    assert stocked["receiveGiftStock"] == {
        "errors": [],
        "movement": {"quantity": 5, "balanceAfter": 10, "branch": {"code": "SZ"}},
    }


NODE = """query($id: ID!) { node(id: $id) { ... on RewardItem { code status } } }"""
CREATE_ITEM = """mutation($input: CreateRewardItemInput!) { createRewardItem(input: $input) {
    errors { field code message } item { id status } } }"""
ACTIVATE_ITEM = """mutation($input: ActivateRewardItemInput!) { activateRewardItem(input: $input) {
    errors { field code message } item { status } } }"""


async def test_a_draft_reward_is_not_shown_to_members_until_it_is_offered(api):
    # given a national reward the headquarters administrator is preparing
    draft = {"branchId": gid("Branch", api.demo.branches["HQ"]), "code": "NEW-YEAR", "name": "New year minutes",
             "kind": "CALL_MINUTES", "pointsPrice": 200, "benefitAmount": 30, "gradeCodes": ["DIAMOND"],
             "availableFrom": "2026-01-01"}  # fmt: skip
    made = (await api.data(CREATE_ITEM, {"input": draft}, as_="hq_admin"))["createRewardItem"]
    assert made["errors"] == [] and made["item"]["status"] == "DRAFT", made
    # when Li Wei looks it up by its ID, then there is nothing to see (Guangdong's staff see the draft)
    assert (await api.data(NODE, {"id": made["item"]["id"]}, as_="member"))["node"] is None
    assert (await api.data(NODE, {"id": made["item"]["id"]}, as_="agent"))["node"]["status"] == "DRAFT"
    # when it is offered, then he sees it
    activated = await api.data(ACTIVATE_ITEM, {"input": {"id": made["item"]["id"]}}, as_="hq_admin")
    assert activated["activateRewardItem"] == {"errors": [], "item": {"status": "ACTIVE"}}
    shown = await api.data(NODE, {"id": made["item"]["id"]}, as_="member")
    assert shown["node"] == {"code": "NEW-YEAR", "status": "ACTIVE"}


@pytest.mark.parametrize("who", ["member", "partner"])
async def test_a_consumption_rule_is_null_by_id_for_callers_who_may_not_see_it(api, who):
    # given the founding consumption rule
    rule = gid("ConsumptionRule", await api.scalar("SELECT min(id) FROM consumption_rule"))
    # when a member or a partner asks for it by its ID
    answer = await api.gql("query($id: ID!) { node(id: $id) { id } }", {"id": rule}, as_=who)
    # then there is nothing to see, as for any other object they may not read
    assert answer == {"data": {"node": None}}, answer


@pytest.mark.parametrize("field", ["redemptionTotals", "pointsTotals"])
async def test_totals_are_of_periods_of_at_most_ten_years(api, field):
    query = '{ %s(from: "%s", to: "%s") { points } }'
    # when staff ask for a period longer than the audit trail's, or one that ends before it starts
    too_long = await api.gql(query % (field, "2000-01-01", "2026-12-31"), as_="club_operator")
    backwards = await api.gql(query % (field, "2026-12-31", "2026-01-01"), as_="club_operator")
    # then each is refused, saying why
    assert top_codes(too_long) == ["OUT_OF_RANGE"] and "3660 days" in too_long["errors"][0]["message"]
    assert top_codes(backwards) == ["INVALID"]
    answer = await api.gql(query % (field, "2017-01-01", "2026-12-31"), as_="club_operator")
    assert "errors" not in answer and isinstance(answer["data"][field], list)  # ten years are answered
