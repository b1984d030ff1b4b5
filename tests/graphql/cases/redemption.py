"""The redemption mutations for the authorization matrix and the bad-input suite.

Who may do what (domain/access.py): the catalogue, gift stock, and deliveries failed or in doubt are for
administrators and club operators (REDEMPTION_CATALOGUE) within their subtree; redeeming, cancelling and handing
over gifts for every role that serves members (REDEMPTION_SERVE), for members of their subtree; consumption rules
for headquarters administrators only. Members redeem for themselves (WEB, WAP, SMS) and cancel their own.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from tests.api import Api, gid
from tests.graphql.cases import ADMINS, OTHER_BRANCH, Case, make, unique

CATALOGUE = ADMINS | {"club_operator"}
SERVE = CATALOGUE | {"customer_manager", "agent"}
MEMBERS = {"member", "other_member"}

ADJUST = "mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) { errors { code } } }"
KEYS = itertools.count(1)  # idempotency keys and codes of what a case prepares: new on every call

REDEEM = """mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) {
    errors { field code message } redemption { id fulfilments { id } pickups { id } } } }"""


def given(build: Callable[[Api, str], dict[str, Any]]) -> Callable[[Api, str], Awaitable[dict[str, Any]]]:
    """A case's input built from the demo's ids (rewards and branches by code)."""

    async def make_input(api: Api, who: str) -> dict[str, Any]:
        return build(api, who)

    return make_input


def item(api: Api, code: str) -> str:
    return gid("RewardItem", api.demo.rewards[code])


def branch(api: Api, code: str) -> str:
    return gid("Branch", api.demo.branches[code])


def counter_redemption(api: Api, code: str, key: str, member: str = "Li Wei") -> dict[str, Any]:
    """A redemption of one `code` for the member at the Guangzhou service hall, by staff."""
    return {
        "items": [{"itemId": item(api, code), "quantity": 1}],
        "channel": "COUNTER",
        "memberId": gid("Member", api.demo.members[member]),
        "outletId": gid("Outlet", api.demo.outlets["GD-COUNTER"]),
        "idempotencyKey": key,
    }


async def redeemed(api: Api, code: str, member: str = "Li Wei") -> dict[str, Any]:
    """A redemption made for the member at the Guangzhou counter by the headquarters administrator."""
    asked = counter_redemption(api, code, f"prepared-{next(KEYS)}", member)
    answer = (await api.data(REDEEM, {"input": asked}, as_="hq_admin"))["redeemPoints"]
    assert answer["errors"] == [], answer
    return answer["redemption"]


async def _draft(api: Api, who: str) -> dict[str, Any]:
    """A draft gift of Guangdong's, to be activated."""
    draft = await api.scalar(
        """INSERT INTO reward_item (code, name, kind, points_price, grade_codes, available_from, branch_id, staff_id)
           VALUES (:code, 'Draft gift', 'GIFT', 100, '["DIAMOND"]', '2000-01-01', :branch, :staff) RETURNING id""",
        code=f"DRAFT-{next(KEYS)}",
        branch=api.demo.branches["GD"],
        staff=api.demo.staff["admin"],
    )
    return {"id": gid("RewardItem", draft)}


async def _founding_rule(api: Api, who: str) -> dict[str, Any]:
    """The demo's founding rule is in effect: it can only be ended, on today or later."""
    rule = await api.scalar("SELECT min(id) FROM consumption_rule")
    return {"id": gid("ConsumptionRule", rule), "effectiveTo": "2030-12-31"}


async def _redeem(api: Api, who: str) -> dict[str, Any]:
    """Members redeem for themselves on the web; staff at the Guangzhou counter, for Li Wei."""
    if who in MEMBERS:
        return {"items": [{"itemId": item(api, "MIN-60"), "quantity": 1}], "channel": "WEB",
                "idempotencyKey": f"redeem-{who}"}  # fmt: skip
    return counter_redemption(api, "MIN-60", f"redeem-{who}")


async def _cancel(api: Api, who: str) -> dict[str, Any]:
    """A month of music redeemed for Li Wei at the counter, to cancel."""
    made = await redeemed(api, "MUSIC-MONTH")
    return {"redemptionId": made["id"], "reason": "Changed his mind", "idempotencyKey": f"cancel-{who}"}


async def _failed_delivery(api: Api, who: str) -> dict[str, Any]:
    """A month of music redeemed for Wang Fang (Shenzhen), whose delivery gave up after its attempts."""
    made = await redeemed(api, "MUSIC-MONTH", "Wang Fang")
    [delivery] = made["fulfilments"]
    await api.scalar(
        """UPDATE fulfilment SET state = 'FAILED', attempts = 5, last_error = 'Gateway down'
           WHERE id = (SELECT max(id) FROM fulfilment) RETURNING 1"""
    )
    return {"id": delivery["id"]}


async def _delivery_in_doubt(api: Api, who: str) -> dict[str, Any]:
    """Wang Fang's month of music (her points topped up to pay for it beside the retry's), whose delivery the
    gateway failed: the billing system may have applied it."""
    topped = {"memberId": gid("Member", api.demo.members["Wang Fang"]), "points": 300, "reason": "Goodwill",
              "idempotencyKey": f"top-up-{next(KEYS)}"}  # fmt: skip
    answer = await api.data(ADJUST, {"input": topped}, as_="hq_admin")
    assert answer["adjustPoints"]["errors"] == [], answer
    found = await _failed_delivery(api, who)
    await api.scalar("INSERT INTO fulfilment_doubt SELECT max(id) FROM fulfilment RETURNING 1")
    return {**found, "outcome": "APPLIED", "reference": f"BILL-{unique(who)}"}


async def _waiting_gift(api: Api, who: str) -> dict[str, Any]:
    """An umbrella redeemed for Li Wei at the Guangzhou counter: it waits for him there."""
    made = await redeemed(api, "GD-UMBRELLA")
    [pickup] = made["pickups"]
    return {"id": pickup["id"]}


def this_month() -> str:
    from domain import clock

    return f"{clock.today():%Y-%m}"


async def _booking_input(api: Api, who: str) -> dict[str, Any]:
    """60 minutes a month from this month: a member's own, or Li Wei's booked by staff."""
    booking = {"itemId": item(api, "MIN-60"), "quantity": 1, "startMonth": this_month(),
               "idempotencyKey": f"book-{unique(who)}-{next(KEYS)}"}  # fmt: skip
    if who not in MEMBERS:
        booking["memberId"] = gid("Member", api.demo.members["Li Wei"])
    return booking


def _booked(status: str) -> Callable[[Api, str], Awaitable[dict[str, Any]]]:
    """A booking of Li Wei's in `status`, written directly (the case is about the change, not the booking)."""

    async def make_input(api: Api, who: str) -> dict[str, Any]:
        booking = await api.scalar(
            """INSERT INTO auto_redemption (member_id, item_id, quantity, start_month, status)
               VALUES (:member, :item, 1, date_trunc('month', current_date), :status) RETURNING id""",
            member=api.demo.members["Li Wei"], item=api.demo.rewards["MIN-60"], status=status,
        )  # fmt: skip
        return {"id": gid("AutoRedemption", booking), "idempotencyKey": f"change-{unique(who)}-{next(KEYS)}"}

    return make_input


CASES = {
    "createRewardItem": Case(
        "createRewardItem",
        "CreateRewardItemInput",
        make(
            lambda i, who: {
                "branchId": i["GD"],
                "code": f"R{unique(who)}",
                "name": "Club cap",
                "kind": "GIFT",
                "pointsPrice": 400,
                "gradeCodes": ["DIAMOND", "EMERALD"],
                "availableFrom": "2026-01-01",
                "description": "A cap with the club's logo",
            }
        ),
        CATALOGUE,
        OTHER_BRANCH,
    ),
    "updateRewardItem": Case(
        "updateRewardItem",
        "UpdateRewardItemInput",
        given(lambda api, who: {"id": item(api, "GD-UMBRELLA"), "name": f"Umbrella {who}", "pointsPrice": 900}),
        CATALOGUE,
        OTHER_BRANCH,
    ),
    "activateRewardItem": Case("activateRewardItem", "ActivateRewardItemInput", _draft, CATALOGUE, OTHER_BRANCH),
    "retireRewardItem": Case(
        "retireRewardItem",
        "RetireRewardItemInput",
        given(lambda api, who: {"id": item(api, "GD-UMBRELLA")}),
        CATALOGUE,
        OTHER_BRANCH,
    ),
    "createConsumptionRule": Case(
        "createConsumptionRule",
        "CreateConsumptionRuleInput",
        given(
            lambda api, who: {
                "effectiveFrom": "2030-01-01",
                "gradeCode": "SAPPHIRE",
                "itemId": item(api, "GD-UMBRELLA"),
                "minimumAvailablePoints": 1000,
            }
        ),
        {"hq_admin"},
    ),
    "updateConsumptionRule": Case("updateConsumptionRule", "UpdateConsumptionRuleInput", _founding_rule, {"hq_admin"}),
    "receiveGiftStock": Case(
        "receiveGiftStock",
        "ReceiveGiftStockInput",
        given(
            lambda api, who: {
                "itemId": item(api, "GD-UMBRELLA"),
                "branchId": branch(api, "GD"),
                "quantity": 10,
                "reason": "Delivery",
                "idempotencyKey": f"receive-{who}",
            }
        ),
        CATALOGUE,
        OTHER_BRANCH,
    ),
    "adjustGiftStock": Case(
        "adjustGiftStock",
        "AdjustGiftStockInput",
        given(
            lambda api, who: {
                "itemId": item(api, "GD-UMBRELLA"),
                "branchId": branch(api, "GD"),
                "quantity": -2,
                "reason": "Count",
                "idempotencyKey": f"adjust-{who}",
            }
        ),
        CATALOGUE,
        OTHER_BRANCH,
    ),
    "transferGiftStock": Case(
        "transferGiftStock",
        "TransferGiftStockInput",
        given(
            lambda api, who: {
                "itemId": item(api, "GD-UMBRELLA"),
                "fromBranchId": branch(api, "GD"),
                "toBranchId": branch(api, "SZ"),
                "quantity": 3,
                "reason": "Shenzhen ran low",
                "idempotencyKey": f"transfer-{who}",
            }
        ),
        CATALOGUE,
        OTHER_BRANCH,
    ),
    "redeemPoints": Case(
        "redeemPoints",
        "RedeemPointsInput",
        _redeem,
        SERVE | MEMBERS,
        OTHER_BRANCH,
        {"other_member": "INSUFFICIENT_POINTS"},  # Zhang Min has no points
    ),
    "cancelRedemption": Case(
        "cancelRedemption", "CancelRedemptionInput", _cancel, SERVE | {"member"}, OTHER_BRANCH | {"other_member"}
    ),
    "retryFulfilment": Case("retryFulfilment", "RetryFulfilmentInput", _failed_delivery, CATALOGUE, OTHER_BRANCH),
    "settleFulfilment": Case(
        "settleFulfilment", "SettleFulfilmentInput", _delivery_in_doubt, CATALOGUE, OTHER_BRANCH
    ),  # fmt: skip
    "handOverGift": Case("handOverGift", "HandOverGiftInput", _waiting_gift, SERVE, OTHER_BRANCH),
    "bookAutoRedemption": Case(
        "bookAutoRedemption", "BookAutoRedemptionInput", _booking_input, SERVE | MEMBERS, OTHER_BRANCH
    ),  # fmt: skip
    "pauseAutoRedemption": Case(
        "pauseAutoRedemption",
        "PauseAutoRedemptionInput",
        _booked("ACTIVE"),
        SERVE | {"member"},
        OTHER_BRANCH | {"other_member"},
    ),  # fmt: skip
    "resumeAutoRedemption": Case(
        "resumeAutoRedemption",
        "ResumeAutoRedemptionInput",
        _booked("PAUSED"),
        SERVE | {"member"},
        OTHER_BRANCH | {"other_member"},
    ),  # fmt: skip
    "cancelAutoRedemption": Case(
        "cancelAutoRedemption",
        "CancelAutoRedemptionInput",
        _booked("ACTIVE"),
        SERVE | {"member"},
        OTHER_BRANCH | {"other_member"},
    ),  # fmt: skip
    "runAutoRedemption": Case(
        "runAutoRedemption", "RunAutoRedemptionInput", given(lambda api, who: {"month": this_month()}), {"hq_admin"}
    ),
}
