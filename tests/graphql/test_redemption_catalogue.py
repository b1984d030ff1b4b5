"""The reward catalogue, consumption rules, gift stock, and what follows a redemption (deliveries, pick-ups)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain import clock
from domain.redemption import fulfilment
from loyalty.database import make_sessions
from tests.api import gid
from tests.graphql.test_redemption import REDEEM, codes, redeem_input

CREATE = """mutation($input: CreateRewardItemInput!) { createRewardItem(input: $input) {
    errors { field code message } item { id code status kind pointsPrice branch { code } } } }"""
ACTIVATE = """mutation($input: ActivateRewardItemInput!) { activateRewardItem(input: $input) {
    errors { field code } item { status } } }"""
RETIRE = """mutation($input: RetireRewardItemInput!) { retireRewardItem(input: $input) {
    errors { field code } item { status } } }"""
UPDATE = """mutation($input: UpdateRewardItemInput!) { updateRewardItem(input: $input) {
    errors { field code } item { pointsPrice } } }"""
CATALOGUE = """{ me { catalogue { edges { node { item { code } affordable remainingToday remainingThisMonth } } } } }"""


def new_item(api, **changes) -> dict:
    return {"branchId": gid("Branch", api.demo.branches["GD"]), "code": "GD-MUG", "name": "Club mug", "kind": "GIFT",
            "pointsPrice": 400, "gradeCodes": ["DIAMOND"], "availableFrom": f"{clock.today()}"} | changes  # fmt: skip


async def test_an_item_is_created_as_a_draft_offered_once_active_and_gone_once_retired(api):
    # given a club operator of Guangdong adds a mug for Diamond members of the province
    created = (await api.data(CREATE, {"input": new_item(api)}, as_="club_operator"))["createRewardItem"]
    assert created["errors"] == [] and created["item"]["status"] == "DRAFT", created
    item = created["item"]["id"]

    async def offered() -> list[str]:
        edges = (await api.data(CATALOGUE, as_="member"))["me"]["catalogue"]["edges"]
        return [e["node"]["item"]["code"] for e in edges]

    assert "GD-MUG" not in await offered()
    # when it is activated, then Li Wei (Diamond, Guangdong) is offered it; retired, it is gone for good
    activated = (await api.data(ACTIVATE, {"input": {"id": item}}, as_="club_operator"))["activateRewardItem"]
    assert activated["item"]["status"] == "ACTIVE"
    assert "GD-MUG" in await offered()
    assert (await api.data(RETIRE, {"input": {"id": item}}, as_="club_operator"))["retireRewardItem"]["item"] == {
        "status": "RETIRED"
    }
    assert "GD-MUG" not in await offered()
    again = (await api.data(ACTIVATE, {"input": {"id": item}}, as_="club_operator"))["activateRewardItem"]
    assert codes(again) == [(["input", "id"], "ITEM_RETIRED")]
    changed = await api.data(UPDATE, {"input": {"id": item, "pointsPrice": 1}}, as_="club_operator")
    assert codes(changed["updateRewardItem"]) == [(["input", "id"], "ITEM_RETIRED")]


@pytest.mark.parametrize(
    ("state", "mutation", "code"),
    [
        ("ACTIVE", ACTIVATE, "ITEM_ALREADY_ACTIVE"),
        ("RETIRED", ACTIVATE, "ITEM_RETIRED"),
        ("RETIRED", RETIRE, "ITEM_RETIRED"),
        ("RETIRED", UPDATE, "ITEM_RETIRED"),
    ],
)
async def test_a_reward_refuses_a_change_its_state_does_not_take_by_that_state(api, state, mutation, code):
    # given a reward made ACTIVE, or ACTIVE and then RETIRED
    item = (await api.data(CREATE, {"input": new_item(api)}, as_="club_operator"))["createRewardItem"]["item"]["id"]
    for step in (ACTIVATE, RETIRE)[: ("ACTIVE", "RETIRED").index(state) + 1]:
        assert first(await api.data(step, {"input": {"id": item}}, as_="club_operator"))["errors"] == []
    before = await api.fingerprint()
    # when it is activated (or retired, or changed) again
    variables = {"input": {"id": item} | ({"pointsPrice": 1} if mutation == UPDATE else {})}
    answer = first(await api.data(mutation, variables, as_="club_operator"))
    # then the code says what the reward is, and nothing is written
    assert codes(answer) == [(["input", "id"], code)]
    assert await api.fingerprint() == before


def first(answer: dict) -> dict:
    return next(iter(answer.values()))


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"kind": "BILL_CREDIT"}, "benefitAmount", "REQUIRED"),
        ({"kind": "CONTENT"}, "contentCode", "REQUIRED"),
        ({"benefitAmount": 100}, "benefitAmount", "INVALID"),
        ({"kind": "PARTNER_COUPON"}, "kind", "ITEM_KIND_NOT_OFFERED"),
        ({"gradeCodes": ["GOLD"]}, "gradeCodes", "NOT_FOUND"),
        ({"gradeCodes": []}, "gradeCodes", "REQUIRED"),
        ({"pointsPrice": 0}, "pointsPrice", "OUT_OF_RANGE"),
        ({"pointsPrice": 10**9}, "pointsPrice", "OUT_OF_RANGE"),
        ({"dailyLimit": 0}, "dailyLimit", "OUT_OF_RANGE"),
        ({"availableTo": "2020-01-01"}, "availableTo", "INVALID"),
        ({"pictureUrl": "javascript:alert(1)"}, "pictureUrl", "INVALID"),
        ({"code": "BILL-10"}, "code", "DUPLICATE"),
        ({"code": "bill-10"}, "code", "DUPLICATE"),
        ({"branchId": "SZ"}, "branchId", "INVALID"),
        ({"branchId": "HQ"}, "branchId", "NOT_FOUND"),
        ({"name": " "}, "name", "REQUIRED"),
    ],
)
async def test_an_item_that_makes_no_sense_is_refused_and_nothing_is_written(api, changes, field, code):
    if "branchId" in changes:
        changes = changes | {"branchId": gid("Branch", api.demo.branches[changes["branchId"]])}
    await api.token("club_operator")
    before = await api.fingerprint()
    answer = (await api.data(CREATE, {"input": new_item(api, **changes)}, as_="club_operator"))["createRewardItem"]
    assert codes(answer) == [(["input", field], code)]
    assert await api.fingerprint() == before


async def test_a_new_price_never_rewrites_a_redemption_made(api):
    made = (await api.data(REDEEM, redeem_input(api, "p-1", ("MIN-60", 1)), as_="member"))["redeemPoints"]
    item = gid("RewardItem", api.demo.rewards["MIN-60"])
    assert (await api.data(UPDATE, {"input": {"id": item, "pointsPrice": 700}}, as_="hq_admin"))["updateRewardItem"][
        "item"
    ] == {"pointsPrice": 700}
    query = '{ node(id: "%s") { ... on Redemption { lines { unitPoints points } } } }'
    line = await api.data(query % made["redemption"]["id"], as_="member")
    assert line["node"]["lines"] == [{"unitPoints": 500, "points": 500}]


async def test_a_member_sees_what_they_may_redeem_today_and_what_is_left(api):
    li_wei = (await api.data(CATALOGUE, as_="member"))["me"]["catalogue"]["edges"]
    assert [e["node"] for e in li_wei] == [
        {"item": {"code": "BILL-10"}, "affordable": True, "remainingToday": None, "remainingThisMonth": 5},
        {"item": {"code": "MIN-60"}, "affordable": True, "remainingToday": None, "remainingThisMonth": None},
        {"item": {"code": "MUSIC-MONTH"}, "affordable": True, "remainingToday": None, "remainingThisMonth": None},
        {"item": {"code": "GD-UMBRELLA"}, "affordable": True, "remainingToday": 1, "remainingThisMonth": None},
    ]
    # Zhang Min (Sapphire, Beijing, no points): the national rewards only, none affordable
    zhang = (await api.data(CATALOGUE, as_="other_member"))["me"]["catalogue"]["edges"]
    assert [(e["node"]["item"]["code"], e["node"]["affordable"]) for e in zhang] == [
        ("BILL-10", False), ("MIN-60", False), ("MUSIC-MONTH", False)
    ]  # fmt: skip
    # after two bill credits this month, three are left
    await api.data(REDEEM, redeem_input(api, "c-1", ("MUSIC-MONTH", 1)), as_="member")
    after = (await api.data(CATALOGUE, as_="member"))["me"]["catalogue"]["edges"]
    assert [e["node"]["affordable"] for e in after] == [True, True, True, True]
    # and staff serving him see it too; staff of another branch do not
    member = gid("Member", api.demo.members["Li Wei"])
    query = f'{{ member(id: "{member}") {{ catalogue(first: 2) {{ edges {{ node {{ item {{ code }} }} }} }} }} }}'
    assert len((await api.data(query, as_="agent"))["member"]["catalogue"]["edges"]) == 2
    assert (await api.data(query, as_="other_branch_operator"))["member"] is None


RULE = """mutation($input: CreateConsumptionRuleInput!) { createConsumptionRule(input: $input) {
    errors { field code } rule { id gradeCode itemKind effectiveFrom changes { action } } } }"""
END_RULE = """mutation($input: UpdateConsumptionRuleInput!) { updateConsumptionRule(input: $input) {
    errors { field code } rule { effectiveTo changes { action changedBy { username } } } } }"""


async def test_consumption_rules_take_effect_from_tomorrow_and_are_only_ended_once_in_effect(api):
    today, tomorrow = clock.today(), clock.today() + timedelta(days=1)
    refused = (await api.data(RULE, {"input": {"effectiveFrom": f"{today}"}}, as_="hq_admin"))["createConsumptionRule"]
    assert codes(refused) == [(["input", "effectiveFrom"], "RULE_IN_EFFECT")]
    made = await api.data(RULE, {"input": {"effectiveFrom": f"{tomorrow}", "gradeCode": "SAPPHIRE",
                                           "itemKind": "GIFT"}}, as_="hq_admin")  # fmt: skip
    rule = made["createConsumptionRule"]["rule"]
    assert (rule["gradeCode"], rule["itemKind"], rule["changes"]) == ("SAPPHIRE", "GIFT", [{"action": "CREATE"}])
    # (an update that changes nothing records nothing in the rule's history)
    unchanged = await api.data(END_RULE, {"input": {"id": rule["id"]}}, as_="hq_admin")
    assert [c["action"] for c in unchanged["updateConsumptionRule"]["rule"]["changes"]] == ["CREATE"]
    founding = gid("ConsumptionRule", await api.scalar("SELECT min(id) FROM consumption_rule"))
    moved = await api.data(END_RULE, {"input": {"id": founding, "effectiveFrom": f"{tomorrow}"}}, as_="hq_admin")
    assert codes(moved["updateConsumptionRule"]) == [(["input", "effectiveFrom"], "RULE_IN_EFFECT")]
    past = await api.data(END_RULE, {"input": {"id": founding, "effectiveTo": "2020-01-01"}}, as_="hq_admin")
    assert codes(past["updateConsumptionRule"]) == [(["input", "effectiveTo"], "RULE_IN_EFFECT")]
    ended = await api.data(END_RULE, {"input": {"id": founding, "effectiveTo": f"{today}"}}, as_="hq_admin")
    assert ended["updateConsumptionRule"]["rule"]["effectiveTo"] == f"{today}"
    assert ended["updateConsumptionRule"]["rule"]["changes"][-1] == {"action": "RETIRE",
                                                                      "changedBy": {"username": "admin"}}  # fmt: skip
    for who in ("administrator", "club_operator"):  # rules are club-wide: headquarters keeps them
        assert (await api.gql(RULE, {"input": {"effectiveFrom": f"{tomorrow}"}}, as_=who))["errors"][0][
            "extensions"]["code"] == "FORBIDDEN"  # fmt: skip


RULE_ITEMS = "{ consumptionRules { id item { code status } } }"


async def test_a_rule_names_its_reward_only_to_staff_who_see_the_reward(api):
    # given a draft of Guangdong's, and a headquarters rule that lets it
    draft = await api.data(CREATE, {"input": new_item(api, code="GD-SECRET")}, as_="club_operator")
    item = draft["createRewardItem"]["item"]["id"]
    tomorrow = f"{clock.today() + timedelta(days=1)}"
    made = await api.data(RULE, {"input": {"itemId": item, "effectiveFrom": tomorrow}}, as_="hq_admin")
    rule = made["createConsumptionRule"]["rule"]["id"]

    async def named(who: str) -> dict | None:
        rules = (await api.data(RULE_ITEMS, as_=who))["consumptionRules"]
        return next(r["item"] for r in rules if r["id"] == rule)

    # when Guangdong's operator reads the rules, then the rule names the draft
    assert await named("club_operator") == {"code": "GD-SECRET", "status": "DRAFT"}
    # when Beijing's operator does, then the rule is listed but its reward is not: the list of rewards and
    # node(id:) hide it from them too
    assert await named("other_branch_operator") is None
    assert (await api.data(f'{{ node(id: "{item}") {{ id }} }}', as_="other_branch_operator"))["node"] is None


STOCK = """mutation($input: %sGiftStockInput!) { %sGiftStock(input: $input) {
    errors { field code } replayed movement { kind quantity balanceAfter branch { code } otherBranch { code } } } }"""
HISTORY = """query($item: ID!, $branch: ID!) { giftStockHistory(itemId: $item, branchId: $branch) {
    edges { node { kind quantity balanceAfter reason staff { username } } } } }"""


def stock_input(api, key: str, quantity: int, branch: str = "GD", **more) -> dict:
    return {"input": {"itemId": gid("RewardItem", api.demo.rewards["GD-UMBRELLA"]),
                      "branchId": gid("Branch", api.demo.branches[branch]), "quantity": quantity, "reason": "Count",
                      "idempotencyKey": key} | more}  # fmt: skip


async def test_gift_stock_is_received_adjusted_and_transferred_never_below_zero(api):
    received = await api.data(STOCK % ("Receive", "receive"), stock_input(api, "s-1", 10), as_="club_operator")
    assert received["receiveGiftStock"]["movement"]["balanceAfter"] == 30
    replay = await api.data(STOCK % ("Receive", "receive"), stock_input(api, "s-1", 10), as_="club_operator")
    assert replay["receiveGiftStock"]["replayed"] is True
    down = await api.data(STOCK % ("Adjust", "adjust"), stock_input(api, "s-2", -31), as_="club_operator")
    assert codes(down["adjustGiftStock"]) == [(["input", "quantity"], "ITEM_OUT_OF_STOCK")]
    transfer = stock_input(api, "s-3", 5)["input"]
    transfer = {k: v for k, v in transfer.items() if k != "branchId"} | {
        "fromBranchId": gid("Branch", api.demo.branches["GD"]), "toBranchId": gid("Branch", api.demo.branches["SZ"])
    }  # fmt: skip
    moved = await api.data(STOCK % ("Transfer", "transfer"), {"input": transfer}, as_="club_operator")
    expected = {"kind": "TRANSFER_IN", "quantity": 5, "balanceAfter": 10, "branch": {"code": "SZ"},
                "otherBranch": {"code": "GD"}}  # fmt: skip
    assert moved["transferGiftStock"]["movement"] == expected
    history = await api.data(HISTORY, {"item": gid("RewardItem", api.demo.rewards["GD-UMBRELLA"]),
                                       "branch": gid("Branch", api.demo.branches["GD"])}, as_="auditor")  # fmt: skip
    assert [(e["node"]["kind"], e["node"]["quantity"], e["node"]["balanceAfter"])
            for e in history["giftStockHistory"]["edges"]] == [
        ("RECEIVE", 20, 20), ("RECEIVE", 10, 30), ("TRANSFER_OUT", -5, 25)]  # fmt: skip
    abroad = transfer | {"toBranchId": gid("Branch", api.demo.branches["BJ"]), "idempotencyKey": "s-4"}
    assert codes((await api.data(STOCK % ("Transfer", "transfer"), {"input": abroad}, as_="club_operator"))[
        "transferGiftStock"]) == [(["input", "toBranchId"], "NOT_FOUND")]  # fmt: skip
    minutes = stock_input(api, "s-5", 1)
    minutes["input"]["itemId"] = gid("RewardItem", api.demo.rewards["MIN-60"])
    refused = await api.data(STOCK % ("Receive", "receive"), minutes, as_="club_operator")
    assert codes(refused["receiveGiftStock"]) == [(["input", "itemId"], "ITEM_KIND_NOT_OFFERED")]
    assert await api.violations() == []


async def test_a_gift_is_stocked_only_where_it_is_offered_and_up_to_a_bound(api):
    # given Guangdong's umbrella (GD and its cities), and headquarters, which reaches every branch
    umbrella = gid("RewardItem", api.demo.rewards["GD-UMBRELLA"])
    to_beijing = {"itemId": umbrella, "fromBranchId": gid("Branch", api.demo.branches["GD"]),
                  "toBranchId": gid("Branch", api.demo.branches["BJ"]), "quantity": 1, "reason": "x",
                  "idempotencyKey": "bj-1"}  # fmt: skip
    before = await api.fingerprint()
    # when headquarters sends some to Beijing, or receives some there, then it is not offered there
    moved = await api.data(STOCK % ("Transfer", "transfer"), {"input": to_beijing}, as_="hq_admin")
    assert codes(moved["transferGiftStock"]) == [(["input", "toBranchId"], "ITEM_NOT_IN_SCOPE")]
    received = await api.data(STOCK % ("Receive", "receive"), stock_input(api, "bj-2", 1, "BJ"), as_="hq_admin")
    assert codes(received["receiveGiftStock"]) == [(["input", "branchId"], "ITEM_NOT_IN_SCOPE")]
    # and when it sends some from Beijing, then Beijing is refused the same way (not as out of stock)
    from_beijing = to_beijing | {"fromBranchId": to_beijing["toBranchId"], "toBranchId": to_beijing["fromBranchId"],
                                 "idempotencyKey": "bj-3"}  # fmt: skip
    moved = await api.data(STOCK % ("Transfer", "transfer"), {"input": from_beijing}, as_="hq_admin")
    assert codes(moved["transferGiftStock"]) == [(["input", "fromBranchId"], "ITEM_NOT_IN_SCOPE")]
    assert {k: v for k, v in (await api.fingerprint()).items() if k != "audit_event"} == {
        k: v for k, v in before.items() if k != "audit_event"
    }
    # and a branch holds at most a thousand million of a gift (what clients read as an Int, with room)
    await api.scalar(
        "UPDATE gift_stock SET quantity = 999999990 WHERE branch_id = :b RETURNING 1", b=api.demo.branches["GD"]
    )
    over = await api.data(STOCK % ("Receive", "receive"), stock_input(api, "big", 11), as_="hq_admin")
    assert codes(over["receiveGiftStock"]) == [(["input", "quantity"], "OUT_OF_RANGE")]
    full = await api.data(STOCK % ("Receive", "receive"), stock_input(api, "top", 10), as_="hq_admin")
    assert full["receiveGiftStock"]["movement"]["balanceAfter"] == 1_000_000_000


class FailingSender:
    async def send(self, _fulfilment) -> None:
        raise ConnectionError("the billing system is down")


DELIVERIES = "{ fulfilments(filter: {state: %s}) { edges { node { id kind state attempts lastError } } } }"
RETRY = """mutation($input: RetryFulfilmentInput!) { retryFulfilment(input: $input) {
    errors { field code } fulfilment { state attempts } } }"""


async def test_deliveries_are_sent_retried_and_given_up_until_an_operator_retries(api):
    await api.data(REDEEM, redeem_input(api, "f-1", ("MIN-60", 1)), as_="member")
    sessions = make_sessions(api.engine)
    for _ in range(fulfilment.attempts_max):
        assert await fulfilment.deliver_pending(sessions, FailingSender()) in ((0, 0), (0, 1))
    (failed,) = (await api.data(DELIVERIES % "FAILED", as_="club_operator"))["fulfilments"]["edges"]
    assert (failed["node"]["attempts"], failed["node"]["lastError"]) == (
        5,
        "ConnectionError: the billing system is down",
    )
    retried = (await api.data(RETRY, {"input": {"id": failed["node"]["id"]}}, as_="club_operator"))["retryFulfilment"]
    assert retried["fulfilment"] == {"state": "PENDING", "attempts": 0}
    assert await fulfilment.deliver_pending(sessions, fulfilment.LogFulfilmentSender()) == (1, 0)
    (done,) = (await api.data(DELIVERIES % "DELIVERED", as_="club_operator"))["fulfilments"]["edges"]
    again = (await api.data(RETRY, {"input": {"id": done["node"]["id"]}}, as_="club_operator"))["retryFulfilment"]
    assert codes(again) == [(["input", "id"], "FULFILMENT_NOT_FAILED")]
