"""Redeeming points [R2]: on every channel, each check's code, the ledger and the stock after it."""

from __future__ import annotations

import pytest

from tests.api import gid

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
    # given Zhang Min (Sapphire, Beijing, no points): the umbrella is for Diamond and Emerald members of GD
    asked = redeem_input(api, "p-1", ("GD-UMBRELLA", 1), ("BILL-10", 6))
    answer = (await api.data(REDEEM, asked, as_="other_member"))["redeemPoints"]
    codes = {(tuple(e["field"]), e["code"]) for e in answer["errors"]}
    assert codes == {
        (("input", "items.0.itemId"), "ITEM_NOT_IN_SCOPE"),
        (("input", "items.0.itemId"), "GRADE_NOT_ALLOWED"),
        (("input", "items.0.quantity"), "ITEM_OUT_OF_STOCK"),
        (("input", "items.1.quantity"), "MONTHLY_LIMIT_REACHED"),
        (("input", "items"), "INSUFFICIENT_POINTS"),
    }, answer


DELIVERED_OR_HANDED_OVER = [
    ("MUSIC-MONTH", "UPDATE fulfilment SET state = 'DELIVERED', delivered_at = now() RETURNING 1",
     "FULFILMENT_DELIVERED"),
    ("GD-UMBRELLA", "UPDATE gift_pickup SET state = 'HANDED_OVER', handed_over_at = now() RETURNING 1",
     "GIFT_HANDED_OVER"),
]  # fmt: skip


@pytest.mark.xfail(
    strict=True,
    reason="cancel_redemption (migration 0013) answers the refusal of a whole redemption at field 'items..itemId':"
    " format('items.%s.item_id', NULL) is 'items..item_id', not NULL, so its coalesce to 'redemption_id' never applies",
)
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
    # while headquarters may stock it anywhere
    stocked = await api.data(RECEIVE, {"input": asked | {"idempotencyKey": "r-3"}}, as_="hq_admin")
    assert stocked["receiveGiftStock"] == {
        "errors": [],
        "movement": {"quantity": 5, "balanceAfter": 5, "branch": {"code": "BJ"}},
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


@pytest.mark.xfail(
    strict=True,
    reason="ConsumptionRuleType.resolve_nodes (schema/redemption.py) reads the rules through list_consumption_rules,"
    " which refuses every caller but staff: node(id:) answers FORBIDDEN instead of null",
)
@pytest.mark.parametrize("who", ["member", "partner"])
async def test_a_consumption_rule_is_null_by_id_for_callers_who_may_not_see_it(api, who):
    # given the founding consumption rule
    rule = gid("ConsumptionRule", await api.scalar("SELECT min(id) FROM consumption_rule"))
    # when a member or a partner asks for it by its ID
    answer = await api.gql("query($id: ID!) { node(id: $id) { id } }", {"id": rule}, as_=who)
    # then there is nothing to see, as for any other object they may not read
    assert answer == {"data": {"node": None}}, answer
