"""Cancelling a redemption: points back to exactly the lots they came from, gifts back to the stock, once."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from domain import clock
from tests.api import gid
from tests.graphql.test_redemption import CANCEL, REDEEM, available, item, redeem_input

LOTS = "SELECT string_agg(expires_on || '=' || remaining, ',' ORDER BY expires_on) FROM points_lot WHERE member_id = :m"


async def redeemed(api, key: str, *items: tuple[str, int], who: str = "member", **more) -> dict:
    answer = (await api.data(REDEEM, redeem_input(api, key, *items, **more), as_=who))["redeemPoints"]
    assert answer["errors"] == [], answer
    return answer["redemption"]


def cancel_input(redemption_id: str, key: str, items: list[tuple[str, int]] | None = None, api=None) -> dict:
    data = {"redemptionId": redemption_id, "reason": "Asked by the member", "idempotencyKey": key}
    if items is not None:
        data["items"] = [{"itemId": item(api, code), "quantity": quantity} for code, quantity in items]
    return {"input": data}


async def cancel(api, redemption_id: str, key: str, items=None, who: str = "member") -> dict:
    return (await api.data(CANCEL, cancel_input(redemption_id, key, items, api), as_=who))["cancelRedemption"]


async def lots(api) -> str:
    return await api.scalar(LOTS, m=api.demo.members["Li Wei"])


def codes(answer: dict) -> list[tuple[list[str], str]]:
    return [(e["field"], e["code"]) for e in answer["errors"]]


async def test_a_part_of_a_redemption_goes_back_to_the_lots_it_came_from_latest_expiring_first(api):
    # given Li Wei's lots (1,200 ending 2026-12-31, 300 ending 2027-12-31) and bill credit and music for 1,300
    assert await lots(api) == "2026-12-31=1200,2027-12-31=300"
    made = await redeemed(api, "r-1", ("BILL-10", 1), ("MUSIC-MONTH", 1))
    assert await lots(api) == "2026-12-31=0,2027-12-31=200"
    # when the music is cancelled, then its 300 points go back to the lots the redemption drew on, the one
    # that lasts longer first
    answer = await cancel(api, made["id"], "c-1", [("MUSIC-MONTH", 1)])
    assert answer["errors"] == [], answer
    assert (answer["redemption"]["status"], answer["redemption"]["cancelledPoints"]) == ("PARTLY_CANCELLED", 300)
    assert await lots(api) == "2026-12-31=200,2027-12-31=300"
    # and the rest goes back when the whole is cancelled, until nothing is left to cancel
    rest = await cancel(api, made["id"], "c-2")
    assert (rest["redemption"]["status"], rest["redemption"]["cancelledPoints"]) == ("CANCELLED", 1_300)
    assert await lots(api) == "2026-12-31=1200,2027-12-31=300"
    assert codes(await cancel(api, made["id"], "c-3")) == [(["input", "redemptionId"], "REDEMPTION_ALREADY_CANCELLED")]
    assert await available(api) == 1_500
    assert await api.violations() == []


async def test_a_share_of_a_lot_that_expired_meanwhile_goes_on_to_breakage(api, today_is):
    # given a redemption on 2026-12-30 of 1,000 points from the lot that ends on 2026-12-31
    await api.token("member")
    today_is(date(2026, 12, 30))
    made = await redeemed(api, "e-1", ("MIN-60", 2))
    # when it is cancelled on 2027-01-02, after that lot ended
    today_is(date(2027, 1, 2))
    answer = await cancel(api, made["id"], "e-2")
    # then the 1,000 points went back to their lot and straight on to breakage: the member has what the lots
    # still hold (the expired lot's own 200, until the expiry run), and the ledger says so
    assert answer["errors"] == [], answer
    (cancellation,) = answer["redemption"]["cancellations"]
    assert (cancellation["points"], cancellation["expiredPoints"]) == (1_000, 1_000)
    assert await lots(api) == "2026-12-31=200,2027-12-31=300"
    entries = await api.scalar(
        "SELECT string_agg(entry_type || ' ' || points, ', ' ORDER BY id) FROM ledger_transaction"
        " WHERE member_id = :m AND id > (SELECT transaction_id FROM redemption)",
        m=api.demo.members["Li Wei"],
    )
    assert entries == "CANCELLATION 1000, EXPIRY -1000"
    assert await api.violations() == []


TOTALS = '{ redemptionTotals(from: "%s", to: "%s") { itemKind channel redemptions quantity points } }'


async def test_a_cancellation_counts_in_the_totals_of_the_day_it_was_made_and_a_month_over_stays(api, today_is):
    # given 1,000 points of minutes redeemed on 30 November, and November's totals as settled then
    await api.token("member"), await api.token("club_operator")
    today_is(date(2026, 11, 30))
    made = await redeemed(api, "m-1", ("MIN-60", 2))
    november = await api.data(TOTALS % ("2026-11-01", "2026-11-30"), as_="club_operator")
    # when one of the two is cancelled on 1 December
    today_is(date(2026, 12, 1))
    assert (await cancel(api, made["id"], "m-2", [("MIN-60", 1)]))["errors"] == []
    # then November's totals have not changed, and December's give the 500 points back, as the ledger does
    assert await api.data(TOTALS % ("2026-11-01", "2026-11-30"), as_="club_operator") == november
    assert november["redemptionTotals"] == [
        {"itemKind": "CALL_MINUTES", "channel": "WEB", "redemptions": 1, "quantity": 2, "points": 1_000}]  # fmt: skip
    december = await api.data(TOTALS % ("2026-12-01", "2026-12-31"), as_="club_operator")
    assert december["redemptionTotals"] == [
        {"itemKind": "CALL_MINUTES", "channel": "WEB", "redemptions": 0, "quantity": -1, "points": -500}]  # fmt: skip
    ledger = await api.data('{ pointsTotals(from: "2026-12-01", to: "2026-12-31") { entryType points } }',
                            as_="club_operator")  # fmt: skip
    assert {"entryType": "CANCELLATION", "points": 500} in ledger["pointsTotals"]
    both = await api.data(TOTALS % ("2026-11-01", "2026-12-31"), as_="club_operator")
    assert both["redemptionTotals"] == [
        {"itemKind": "CALL_MINUTES", "channel": "WEB", "redemptions": 1, "quantity": 1, "points": 500}]  # fmt: skip


async def test_more_than_is_left_of_a_reward_is_never_cancelled(api):
    made = await redeemed(api, "o-1", ("MIN-60", 2))
    assert (await cancel(api, made["id"], "o-2", [("MIN-60", 1)]))["errors"] == []
    over = await cancel(api, made["id"], "o-3", [("MIN-60", 2)])
    assert codes(over) == [(["input", "items.0.quantity"], "CANCELLATION_EXCEEDS_REDEMPTION")]
    other = await cancel(api, made["id"], "o-4", [("BILL-10", 1)])
    assert codes(other) == [(["input", "items.0.itemId"], "NOT_FOUND")]
    assert (await cancel(api, made["id"], "o-5", [("MIN-60", 1)]))["redemption"]["status"] == "CANCELLED"
    assert await available(api) == 1_500


async def test_a_redemption_is_cancelled_within_the_window_only(api, monkeypatch):
    made = await redeemed(api, "w-1", ("MUSIC-MONTH", 1))
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(days=8))
    before = await api.fingerprint()
    late = await cancel(api, made["id"], "w-2")
    assert codes(late) == [(["input", "redemptionId"], "CANCELLATION_WINDOW_CLOSED")]
    assert await api.fingerprint() == before


async def test_a_handed_over_gift_and_a_delivered_fulfilment_are_not_cancelled(api):
    member = gid("Member", api.demo.members["Li Wei"])
    made = await redeemed(api, "h-1", ("GD-UMBRELLA", 1), ("MIN-60", 1), who="agent", channel="COUNTER",
                          memberId=member)  # fmt: skip
    pickup = await api.scalar("SELECT id FROM gift_pickup")
    handed = await api.data("""mutation($input: HandOverGiftInput!) { handOverGift(input: $input) {
        errors { code } pickup { state handedOverBy { username } } } }""",
                            {"input": {"id": gid("GiftPickup", pickup)}}, as_="agent")  # fmt: skip
    assert handed["handOverGift"]["pickup"] == {"state": "HANDED_OVER", "handedOverBy": {"username": "gd.agent"}}
    await api.scalar("UPDATE fulfilment SET state = 'DELIVERED' RETURNING 1")
    before = await api.fingerprint()
    refused = await cancel(api, made["id"], "h-2", who="agent")
    assert sorted(codes(refused)) == [(["input", "redemptionId"], "FULFILMENT_DELIVERED"),
                                      (["input", "redemptionId"], "GIFT_HANDED_OVER")]  # fmt: skip
    assert await api.fingerprint() == before


async def _blocked(api) -> None:
    """Until a statement waits for a row lock (a cancellation behind a hand-over or a delivery under way)."""
    for _ in range(500):
        if await api.scalar("SELECT count(*) FROM pg_locks WHERE NOT granted"):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("nothing waits for a lock")


@pytest.mark.parametrize(
    ("goods", "done", "code"),
    [
        ("gift_pickup", "state = 'HANDED_OVER', handed_over_at = now()", "GIFT_HANDED_OVER"),
        ("fulfilment", "state = 'DELIVERED', delivered_at = now()", "FULFILMENT_DELIVERED"),
    ],
)
async def test_a_cancellation_waits_for_a_hand_over_or_delivery_under_way_and_then_refuses(api, goods, done, code):
    # given a gift and call minutes redeemed, and a hand-over (or the billing gateway's delivery) under way: its
    # row locked and changed, not yet committed
    member = gid("Member", api.demo.members["Li Wei"])
    made = await redeemed(api, "u-1", ("GD-UMBRELLA", 1), ("MIN-60", 1), who="agent", channel="COUNTER",
                          memberId=member)  # fmt: skip
    await api.token("agent")
    async with api.engine.connect() as under_way:
        await under_way.execute(sa.text(f"SELECT 1 FROM {goods} FOR UPDATE"))
        await under_way.execute(sa.text(f"UPDATE {goods} SET {done}"))
        # when the redemption is cancelled meanwhile
        cancelling = asyncio.create_task(cancel(api, made["id"], "u-2", who="agent"))
        await _blocked(api)
        await under_way.commit()
    # then the cancellation waited for it, and refuses what was handed over or delivered: no points come back
    before = await api.fingerprint()
    assert codes(await cancelling) == [(["input", "redemptionId"], code)]
    assert await api.fingerprint() == before
    assert await api.violations() == []


async def test_a_replayed_cancellation_answers_as_it_was_and_returns_points_once(api):
    made = await redeemed(api, "p-1", ("MIN-60", 2))
    first = await cancel(api, made["id"], "p-2", [("MIN-60", 1)])
    again = await cancel(api, made["id"], "p-2", [("MIN-60", 1)])
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["redemption"]["cancelledPoints"] == first["redemption"]["cancelledPoints"] == 500
    assert await available(api) == 1_000
    conflict = await cancel(api, made["id"], "p-2")
    assert codes(conflict) == [(["input", "idempotencyKey"], "IDEMPOTENCY_CONFLICT")]


async def test_the_branch_where_a_redemption_was_made_cancels_it_too(api):
    # given Li Wei (Guangdong) redeeming minutes at the Beijing POS, served by Beijing staff
    pos = {"outletId": gid("Outlet", api.demo.outlets["BJ-POS"]), "cardNumber": "6211000000000001",
           "cardPin": "246810"}  # fmt: skip
    made = await redeemed(api, "b-1", ("MIN-60", 1), who="other_branch_operator", channel="POS", **pos)
    # when he changes his mind at once and the Beijing counter cancels it
    answer = await cancel(api, made["id"], "b-2", who="other_branch_operator")
    # then it is cancelled and his points are back
    assert answer["errors"] == [], answer
    assert answer["redemption"]["status"] == "CANCELLED"
    assert await available(api) == 1_500
    assert await api.violations() == []


async def test_points_given_back_to_an_ended_member_end_with_the_membership(api):
    # given Li Wei's redemption of all his 1,500 points (both his lots emptied, the 2027-12-31 one too)
    made = await redeemed(api, "m-1", ("BILL-10", 1), ("MIN-60", 1))
    # and his membership ended by staff
    end = "mutation($input: UpdateMemberInput!) { updateMember(input: $input) { errors { code } } }"
    ended = await api.data(end, {"input": {"id": gid("Member", api.demo.members["Li Wei"]), "status": "ENDED"}},
                           as_="club_operator")  # fmt: skip
    assert ended["updateMember"]["errors"] == []
    # when the redemption is cancelled, then the points come back to lots that end 180 days on at the latest
    assert (await cancel(api, made["id"], "m-2", who="club_operator"))["errors"] == []
    latest = await api.scalar("SELECT max(expires_on) FROM points_lot WHERE member_id = :m AND remaining > 0",
                              m=api.demo.members["Li Wei"])  # fmt: skip
    assert latest <= clock.today() + timedelta(days=180)
    assert await api.violations() == []


@pytest.mark.parametrize("who", ["other_member", "other_branch_operator"])
async def test_another_members_or_branchs_redemption_reads_as_missing(api, who):
    made = await redeemed(api, "s-1", ("MIN-60", 1))
    before = await api.fingerprint()
    refused = await cancel(api, made["id"], "s-2", who=who)
    assert codes(refused) == [(["input", "redemptionId"], "NOT_FOUND")]
    assert await api.fingerprint() == before
