"""Pre-booked automatic redemption [R3]: bookings, their changes, and the monthly run that carries them out."""

from __future__ import annotations

import asyncio
import base64
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import clock
from domain.points.bills import next_month
from domain.redemption import bookings
from loyalty.database import make_sessions
from tests.api import gid, top_codes

BOOK = """mutation($input: BookAutoRedemptionInput!) { bookAutoRedemption(input: $input) {
    errors { field code message } replayed booking { id status quantity startMonth endMonth item { code } } } }"""
CHANGE = """mutation($input: %sAutoRedemptionInput!) { %sAutoRedemption(input: $input) {
    errors { field code message } replayed booking { id status } } }"""
RUN = """mutation($input: RunAutoRedemptionInput!) { runAutoRedemption(input: $input) {
    errors { field code message } run { id month status bookingsTotal } } }"""
MY_BOOKINGS = """{ me { points { available } autoRedemptions { status item { code }
    executions { month outcome reason redemption { channel points fulfilments { kind amount state } } } } } }"""


def this_month() -> str:
    return f"{clock.today():%Y-%m}"


def first_day() -> date:
    return clock.today().replace(day=1)


def book_input(api, key: str, code: str = "MIN-60", quantity: int = 1, **more) -> dict:
    item = gid("RewardItem", api.demo.rewards[code])
    return {"input": {"itemId": item, "quantity": quantity, "startMonth": this_month(), "idempotencyKey": key} | more}


async def book(api, key: str, code: str = "MIN-60", quantity: int = 1, as_: str = "member", **more) -> dict:
    answer = (await api.data(BOOK, book_input(api, key, code, quantity, **more), as_=as_))["bookAutoRedemption"]
    return answer


async def run_month(api) -> bookings.AutoRedemptionRun:
    return await bookings.auto_redeem_month(make_sessions(api.engine), first_day(), chunk_bookings=2)


async def test_a_booking_is_carried_out_once_a_month(api):
    # given Li Wei's booking of 60 minutes every month from this one
    booked = await book(api, "b-1")
    assert booked["errors"] == [] and booked["booking"]["status"] == "ACTIVE", booked
    # when the month's run goes, twice
    first = await run_month(api)
    again = await run_month(api)
    # then he got 60 minutes for 500 points once, through the BOOKING channel, and the second run did nothing
    assert (first.status, first.redeemed, first.skipped, first.points) == ("DONE", 1, 0, 500)
    assert (again.status, again.bookings) == ("DONE", 0)
    me = (await api.data(MY_BOOKINGS, as_="member"))["me"]
    assert me["points"]["available"] == 1_000
    (execution,) = me["autoRedemptions"][0]["executions"]
    assert (execution["month"], execution["outcome"], execution["reason"]) == (this_month(), "REDEEMED", None)
    assert execution["redemption"] == {
        "channel": "BOOKING",
        "points": 500,
        "fulfilments": [{"kind": "CALL_MINUTES", "amount": 60, "state": "PENDING"}],
    }
    assert await api.violations() == []


@pytest.mark.parametrize(("price", "outcome", "points"), [(1_500, "SKIPPED", 0), (400, "REDEEMED", 400)])
async def test_a_booking_is_charged_no_more_than_the_price_it_was_made_at(api, price, outcome, points):
    # given Li Wei's booking of 60 minutes at 500 points, and the reward's price changed since
    booked = await book(api, "p-1")
    assert booked["errors"] == [], booked
    await api.scalar("UPDATE reward_item SET points_price = :p WHERE id = :i RETURNING 1",
                     p=price, i=api.demo.rewards["MIN-60"])  # fmt: skip
    # when the month's run goes
    run = await run_month(api)
    # then a dearer month is skipped, saying why (he books again at the new price), and a cheaper one is charged
    assert run.points == points
    me = (await api.data(MY_BOOKINGS.replace("status item", "status unitPoints item"), as_="member"))["me"]
    [booking] = me["autoRedemptions"]
    [execution] = booking["executions"]
    assert (booking["unitPoints"], execution["outcome"]) == (500, outcome)
    assert execution["reason"] == ("PRICE_CHANGED" if outcome == "SKIPPED" else None)
    assert await api.violations() == []


async def test_a_booking_never_spends_points_whose_last_day_has_passed(api):
    # given Li Wei's booking of 60 minutes (500 points) and his 1,200 points ended yesterday, not yet expired
    booked = await book(api, "b-1")
    assert booked["errors"] == [], booked
    await api.scalar("UPDATE points_lot SET expires_on = :d WHERE member_id = :m AND remaining = 1200 RETURNING 1",
                     d=clock.today() - timedelta(days=1), m=api.demo.members["Li Wei"])  # fmt: skip
    # when the month's run goes, then it is skipped: only his 300 still valid count
    run = await run_month(api)
    assert (run.redeemed, run.skipped) == (0, 1)
    (execution,) = (await api.data(MY_BOOKINGS, as_="member"))["me"]["autoRedemptions"][0]["executions"]
    assert (execution["outcome"], execution["reason"]) == ("SKIPPED", "INSUFFICIENT_POINTS")
    assert await api.violations() == []


@pytest.mark.parametrize(
    ("changes", "due"),
    [((0, 34), False), ((34, 34), True), ((20, 32, 33, 34), False)],
    ids=["paused in the month", "paused after the month", "paused in the month, and again after it"],
)
async def test_a_month_is_charged_by_its_run_made_late_unless_the_booking_was_paused_at_its_end(
    api, today_is, changes, due
):
    # given Li Wei's booking from this month, paused and resumed on these days from the month's first
    month = first_day()
    await api.token("member")
    booked = (await book(api, "l-1"))["booking"]
    for n, day in enumerate(changes):
        verb = ("Pause", "Resume")[n % 2]
        today_is(month + timedelta(days=day))
        change = {"input": {"id": booked["id"], "idempotencyKey": f"l-{n}"}}
        answer = (await api.data(CHANGE % (verb, verb.lower()), change, as_="member"))[f"{verb.lower()}AutoRedemption"]
        assert answer["errors"] == []
    # when this month's run is made late, then it takes the booking only if it was not paused at the month's end
    late = await bookings.auto_redeem_month(make_sessions(api.engine), month, chunk_bookings=2)
    assert late.bookings == int(due)
    # and it is due again from next month's run
    assert (await run_month(api)).bookings == 1


async def test_a_booking_that_cannot_be_redeemed_is_skipped_with_its_reason(api):
    # given Wang Fang (500 points) books bill credit of 1,000 points, and Li Wei books minutes
    await book(api, "w-1", "BILL-10", as_="administrator", memberId=gid("Member", api.demo.members["Wang Fang"]))
    await book(api, "l-1")
    # when the run goes, then hers is skipped for want of points and his is redeemed; the run is DONE
    run = await run_month(api)
    assert (run.status, run.redeemed, run.skipped) == ("DONE", 1, 1)
    reasons = await api.scalar(
        "SELECT string_agg(outcome || ':' || coalesce(reason, '-'), ',' ORDER BY booking_id)"
        " FROM auto_redemption_execution"
    )
    assert reasons == "SKIPPED:INSUFFICIENT_POINTS,REDEEMED:-"
    assert await api.violations() == []


ADJUST = """mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) { errors { code } } }"""
EXECUTIONS = "SELECT string_agg(outcome || ':' || coalesce(reason, '-'), ',') FROM auto_redemption_execution"


async def credit_wang_fang(api, points: int) -> None:
    member = gid("Member", api.demo.members["Wang Fang"])
    change = {"memberId": member, "points": points, "reason": "Goodwill", "idempotencyKey": f"c-{points}"}
    assert (await api.data(ADJUST, {"input": change}, as_="administrator"))["adjustPoints"]["errors"] == []


async def test_a_skipped_month_is_tried_again_by_the_months_later_runs(api):
    # given Wang Fang (500 points) books bill credit of 1,000 points, and the month's run skips it
    await book(api, "w-1", "BILL-10", as_="administrator", memberId=gid("Member", api.demo.members["Wang Fang"]))
    assert ((await run_month(api)).bookings, await api.scalar(EXECUTIONS)) == (1, "SKIPPED:INSUFFICIENT_POINTS")
    # when the next day's run goes before her points come, then it tries her once more and skips her again
    again = await run_month(api)
    assert (again.bookings, again.redeemed, again.skipped) == (1, 0, 1)
    # when 600 points come and the next run goes, then her month is redeemed: one execution, of the last try
    await credit_wang_fang(api, 600)
    paid = await run_month(api)
    assert (paid.bookings, paid.redeemed, paid.points) == (1, 1, 1_000)
    assert await api.scalar(EXECUTIONS) == "REDEEMED:-"
    assert await api.scalar("SELECT count(*) FROM redemption WHERE booking_id IS NOT NULL") == 1
    # and a redeemed month is never tried again
    assert (await run_month(api)).bookings == 0
    assert await api.violations() == []


async def test_a_month_skipped_for_a_reason_that_stays_is_not_tried_again(api):
    # given Li Wei's booking skipped because its reward's window had closed, and the window opened again after
    await book(api, "l-1")
    item = api.demo.rewards["MIN-60"]
    await api.scalar("UPDATE reward_item SET available_to = :d WHERE id = :i RETURNING 1",
                     d=clock.today() - timedelta(days=1), i=item)  # fmt: skip
    assert (await run_month(api)).skipped == 1
    await api.scalar("UPDATE reward_item SET available_to = NULL WHERE id = :i RETURNING 1", i=item)
    # when the month's next run goes, then it leaves the skip as it was (only points, limits, a billing account
    # and a price may pass within the month)
    assert (await run_month(api)).bookings == 0
    assert await api.scalar(EXECUTIONS) == "SKIPPED:ITEM_NOT_AVAILABLE"


async def test_a_month_run_after_it_ended_tries_no_skip_again(api, today_is):
    # given Wang Fang's booking skipped in this month's run, and the points she lacked credited after it
    await book(api, "w-1", "BILL-10", as_="administrator", memberId=gid("Member", api.demo.members["Wang Fang"]))
    await run_month(api)
    await credit_wang_fang(api, 600)
    month = first_day()
    today_is(next_month(month) + timedelta(days=2))
    # when this month's run is made late, then it leaves her skip as it was: the month is over
    late = await bookings.auto_redeem_month(make_sessions(api.engine), month, chunk_bookings=2)
    assert (late.bookings, late.redeemed) == (0, 0)
    assert await api.scalar(EXECUTIONS) == "SKIPPED:INSUFFICIENT_POINTS"
    assert await api.violations() == []


async def test_a_members_bookings_go_in_order_each_seeing_what_the_earlier_left(api):
    # given Li Wei's 1,500 points and three bookings: 1,000, then 1,000, then 300 points
    await book(api, "o-1", "MIN-60", 2)
    await book(api, "o-2", "BILL-10", 1)
    await book(api, "o-3", "MUSIC-MONTH", 1)
    # when the run goes, then the first is redeemed, the second skipped, the third redeemed with what is left
    run = await run_month(api)
    assert (run.redeemed, run.skipped, run.points) == (2, 1, 1_300)
    outcomes = await api.scalar(
        "SELECT string_agg(outcome || ':' || coalesce(reason, '-'), ',' ORDER BY booking_id)"
        " FROM auto_redemption_execution"
    )
    assert outcomes == "REDEEMED:-,SKIPPED:INSUFFICIENT_POINTS,REDEEMED:-"
    assert await api.violations() == []


async def test_paused_and_cancelled_bookings_do_not_run_and_each_change_is_once_per_key(api):
    booked = (await book(api, "p-1"))["booking"]
    pause = {"input": {"id": booked["id"], "idempotencyKey": "pause-1"}}
    # when it is paused twice with one key, then the second answers the first
    first = (await api.data(CHANGE % ("Pause", "pause"), pause, as_="member"))["pauseAutoRedemption"]
    again = (await api.data(CHANGE % ("Pause", "pause"), pause, as_="member"))["pauseAutoRedemption"]
    assert (first["booking"]["status"], first["replayed"], again["replayed"]) == ("PAUSED", False, True)
    # and a paused booking is not run
    assert (await run_month(api)).bookings == 0
    # a second pause with a new key is refused; resuming runs it again
    refused = (await api.data(CHANGE % ("Pause", "pause"), {"input": {"id": booked["id"], "idempotencyKey": "pause-2"}},
                              as_="member"))["pauseAutoRedemption"]  # fmt: skip
    assert [e["code"] for e in refused["errors"]] == ["BOOKING_NOT_ACTIVE"]
    resumed = await api.data(CHANGE % ("Resume", "resume"), {"input": {"id": booked["id"], "idempotencyKey": "r-1"}},
                             as_="member")  # fmt: skip
    assert resumed["resumeAutoRedemption"]["booking"]["status"] == "ACTIVE"
    cancelled = await api.data(CHANGE % ("Cancel", "cancel"), {"input": {"id": booked["id"], "idempotencyKey": "c-1"}},
                               as_="member")  # fmt: skip
    assert cancelled["cancelAutoRedemption"]["booking"]["status"] == "CANCELLED"
    resumed = await api.data(CHANGE % ("Resume", "resume"), {"input": {"id": booked["id"], "idempotencyKey": "r-2"}},
                             as_="member")  # fmt: skip
    assert [e["code"] for e in resumed["resumeAutoRedemption"]["errors"]] == ["BOOKING_CANCELLED"]
    assert (await run_month(api)).bookings == 0


async def test_a_retired_rewards_bookings_end_saying_why(api):
    # given Li Wei's active booking of minutes, Wang Fang's paused one, and his own cancelled one of minutes
    mine = (await book(api, "r-1"))["booking"]
    hers = await book(api, "r-2", as_="administrator", memberId=gid("Member", api.demo.members["Wang Fang"]))
    await api.data(CHANGE % ("Pause", "pause"), {"input": {"id": hers["booking"]["id"], "idempotencyKey": "p-1"}},
                   as_="administrator")  # fmt: skip
    gone = (await book(api, "r-3"))["booking"]
    await api.data(CHANGE % ("Cancel", "cancel"), {"input": {"id": gone["id"], "idempotencyKey": "c-1"}},
                   as_="member")  # fmt: skip
    # when the reward is retired
    retire = """mutation($input: RetireRewardItemInput!) { retireRewardItem(input: $input) { errors { code } } }"""
    item = gid("RewardItem", api.demo.rewards["MIN-60"])
    assert (await api.data(retire, {"input": {"id": item}}, as_="hq_admin"))["retireRewardItem"]["errors"] == []
    # then the open bookings are cancelled because of it, the one he cancelled says nothing, and none runs
    ended = await api.scalar(
        "SELECT string_agg(status || ':' || coalesce(cancel_reason, '-'), ',' ORDER BY id) FROM auto_redemption"
    )
    assert ended == "CANCELLED:ITEM_RETIRED,CANCELLED:ITEM_RETIRED,CANCELLED:-"
    seen = (await api.data("{ me { autoRedemptions { id status cancelReason } } }", as_="member"))["me"]
    assert {(b["id"], b["status"], b["cancelReason"]) for b in seen["autoRedemptions"]} == {
        (mine["id"], "CANCELLED", "ITEM_RETIRED"),
        (gone["id"], "CANCELLED", None),
    }
    assert (await run_month(api)).bookings == 0


async def test_a_booking_made_while_its_reward_is_being_retired_waits_and_is_refused(api):
    # given the reward being retired in a transaction not yet committed
    retiring = "UPDATE reward_item SET status = 'RETIRED' WHERE id = :id"
    # when Li Wei books it meanwhile, then his booking waits for the retirement
    booking = await api.waits_for(retiring, book(api, "race-1"), id=api.demo.rewards["MIN-60"])
    # and, the reward retired, it is refused: no booking of a retired reward is left ACTIVE
    assert [e["code"] for e in booking["errors"]] == ["ITEM_NOT_ACTIVE"]
    assert await api.scalar("SELECT count(*) FROM auto_redemption") == 0


async def test_a_key_used_for_another_booking_is_a_conflict(api):
    assert (await book(api, "k-1"))["errors"] == []
    other = await book(api, "k-1", "MUSIC-MONTH")
    assert [(e["field"], e["code"]) for e in other["errors"]] == [(["input", "idempotencyKey"], "IDEMPOTENCY_CONFLICT")]
    assert await api.scalar("SELECT count(*) FROM auto_redemption") == 1


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"itemId": "GD-UMBRELLA"}, "itemId", "ITEM_KIND_NOT_OFFERED"),
        ({"itemId": "BILL-10", "quantity": 6}, "quantity", "MONTHLY_LIMIT_REACHED"),  # 5 a month: never carried out
        ({"quantity": 0}, "quantity", "OUT_OF_RANGE"),
        ({"quantity": 101}, "quantity", "OUT_OF_RANGE"),
        ({"startMonth": "2020-01"}, "startMonth", "OUT_OF_RANGE"),
        ({"endMonth": "2020-01"}, "endMonth", "INVALID"),
        ({"memberId": "OTHER"}, "memberId", "NOT_FOUND"),
    ],
)
async def test_a_booking_that_makes_no_sense_is_refused_and_nothing_is_written(api, changes, field, code):
    data = book_input(api, "bad-1")["input"]
    for key, value in changes.items():
        if key == "itemId":
            value = gid("RewardItem", api.demo.rewards[value])
        elif key == "memberId":
            value = gid("Member", api.demo.members["Zhang Min"])
        data[key] = value
    before = await api.fingerprint()
    answer = (await api.data(BOOK, {"input": data}, as_="member"))["bookAutoRedemption"]
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [(["input", field], code)]
    assert await api.fingerprint() == before


@pytest.mark.parametrize(
    ("rules_from_next_month", "end", "code"),
    [(False, None, "GRADE_NOT_ALLOWED"), (True, "this month", "GRADE_NOT_ALLOWED"), (True, None, None)],
    ids=["no rule after today", "a rule only after the booking ends", "a rule from next month"],
)
async def test_a_booking_is_of_a_reward_the_consumption_rules_let_the_grade_redeem_in_its_months(
    api, rules_from_next_month, end, code
):
    # given the founding consumption rule ended yesterday, and perhaps a rule for every grade from next month
    today = clock.today()
    await api.scalar("UPDATE consumption_rule SET effective_to = :d RETURNING 1", d=today - timedelta(days=1))
    if rules_from_next_month:
        await api.scalar("INSERT INTO consumption_rule (effective_from) VALUES (:d) RETURNING 1",
                         d=next_month(first_day()))  # fmt: skip
    before = await api.fingerprint()
    # when Li Wei books minutes from this month (to this month's end, or open)
    answer = await book(api, "g-1", **({"endMonth": this_month()} if end else {}))
    # then it is booked only when a rule lets his grade redeem them in a month booked; otherwise nothing is written
    assert [e["code"] for e in answer["errors"]] == ([code] if code else []), answer
    if code:
        assert answer["errors"][0]["field"] == ["input", "itemId"]
        assert await api.fingerprint() == before


async def test_a_reward_not_offered_to_the_members_grade_is_not_booked(api):
    # given the minutes are offered to the members of one other grade only
    grade = await api.scalar("SELECT grade_code FROM member WHERE id = :m", m=api.demo.members["Li Wei"])
    other = "SAPPHIRE" if grade != "SAPPHIRE" else "DIAMOND"
    await api.scalar("UPDATE reward_item SET grade_codes = jsonb_build_array(CAST(:g AS text)) WHERE id = :i"
                     " RETURNING 1", g=other, i=api.demo.rewards["MIN-60"])  # fmt: skip
    before = await api.fingerprint()
    # when he books them, then it is refused saying why, and nothing is written
    answer = await book(api, "g-2")
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [(["input", "itemId"], "GRADE_NOT_ALLOWED")]
    assert await api.fingerprint() == before


async def test_the_run_is_started_at_headquarters_for_a_month_that_has_begun(api):
    await book(api, "h-1")
    for who in ("administrator", "club_operator"):
        refused = await api.gql(RUN, {"input": {"month": this_month()}}, as_=who)
        assert top_codes(refused) == ["FORBIDDEN"], who
    later = f"{date(first_day().year + 1, 1, 1):%Y-%m}"
    future = (await api.data(RUN, {"input": {"month": later}}, as_="hq_admin"))["runAutoRedemption"]
    assert [e["code"] for e in future["errors"]] == ["MONTH_NOT_STARTED"]
    started = (await api.data(RUN, {"input": {"month": this_month()}}, as_="hq_admin"))["runAutoRedemption"]
    assert started["errors"] == [] and started["run"]["bookingsTotal"] == 1, started
    for _ in range(500):
        query = '{ node(id: "%s") { ... on AutoRedemptionRun { status redeemed } } }'
        state = await api.data(query % started["run"]["id"], as_="hq_admin")
        if state["node"]["status"] != "RUNNING":
            break
        await asyncio.sleep(0.01)
    assert state["node"] == {"status": "DONE", "redeemed": 1}


async def test_a_run_that_stopped_half_way_resumes_where_it_stopped(api, monkeypatch):
    # given three bookings, and a run whose second chunk (of one booking each) fails
    for n, code in enumerate(("MIN-60", "MUSIC-MONTH", "MIN-60")):
        who = ["member", "member", "administrator"][n]
        more = {"memberId": gid("Member", api.demo.members["Wang Fang"])} if who == "administrator" else {}
        assert (await book(api, f"r-{n}", code, as_=who, **more))["errors"] == []
    real, calls = bookings._CHUNK, []

    async def failing_scalar(self, statement, params=None, **kw):
        if statement is real:
            calls.append(params["first"])
            if len(calls) == 2:
                raise RuntimeError("the server went away")
        return await original(self, statement, params, **kw)

    original = AsyncSession.scalar
    monkeypatch.setattr(AsyncSession, "scalar", failing_scalar)
    sessions = make_sessions(api.engine)
    with pytest.raises(ExceptionGroup):
        await bookings.auto_redeem_month(sessions, first_day(), chunk_bookings=1, workers=1)
    monkeypatch.undo()
    # when the month is run again, then only what the failed run left is done, and all three are carried out once
    again = await bookings.auto_redeem_month(sessions, first_day(), chunk_bookings=1, workers=1)
    assert (again.status, again.bookings) == ("DONE", 2)
    assert await api.scalar("SELECT count(*) FROM auto_redemption_execution") == 3
    assert await api.scalar("SELECT status FROM job_run ORDER BY id LIMIT 1") == "FAILED"
    assert await api.violations() == []


@pytest.mark.parametrize("unseen", ["a draft", "another province's"])
async def test_a_reward_the_member_does_not_see_is_not_booked_nor_named(api, unseen):
    # given a reward Zhang Min (Beijing) cannot see: the head office's minutes as a draft, or music of GD's
    change = ("SET status = 'DRAFT' WHERE code = 'MIN-60'" if unseen == "a draft" else
              "SET branch_id = (SELECT id FROM branch WHERE code = 'GD') WHERE code = 'MUSIC-MONTH'")  # fmt: skip
    await api.scalar(f"UPDATE reward_item {change} RETURNING 1")
    code = "MIN-60" if unseen == "a draft" else "MUSIC-MONTH"
    before = await api.fingerprint()
    # when she books it, then it is not found, and the answer names nothing of it
    answer = await book(api, "u-1", code, as_="other_member")
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [(["input", "itemId"], "NOT_FOUND")]
    assert "minutes" not in repr(answer) and "music" not in repr(answer)
    assert await api.fingerprint() == before


async def test_staff_book_a_member_by_name_for_rewards_of_the_members_home(api):
    # given GD's music, which the head office sees, and Zhang Min of Beijing
    await api.scalar(
        "UPDATE reward_item SET branch_id = (SELECT id FROM branch WHERE code = 'GD') WHERE code = 'MUSIC-MONTH'"
        " RETURNING 1"
    )
    before = await api.fingerprint()
    # when the head office books without naming the member, or books GD's music for her
    unnamed = await book(api, "s-1", "MUSIC-MONTH", as_="hq_admin")
    elsewhere = await book(api, "s-2", "MUSIC-MONTH", as_="hq_admin",
                           memberId=gid("Member", api.demo.members["Zhang Min"]))  # fmt: skip
    # then the member is required, and the music is of another province than hers: nothing is booked
    assert [(e["field"], e["code"]) for e in unnamed["errors"]] == [(["input", "memberId"], "REQUIRED")]
    assert [(e["field"], e["code"]) for e in elsewhere["errors"]] == [(["input", "itemId"], "ITEM_NOT_IN_SCOPE")]
    assert await api.fingerprint() == before


async def test_a_booking_is_held_to_what_one_redemption_may_be(api):
    # given minutes of 100,000,000 a unit for 1 point: 10 units are a line of 1,000,000,000 minutes, 11 more
    await api.scalar("UPDATE reward_item SET points_price = 1, benefit_amount = 100000000 WHERE code = 'MIN-60'"
                     " RETURNING 1")  # fmt: skip
    before = await api.fingerprint()
    # when Li Wei books 11, then it is refused as a redemption of 11 would be, and nothing is written
    refused = await book(api, "big-1", quantity=11)
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [(["input", "quantity"], "OUT_OF_RANGE")]
    assert "At most 10 of" in refused["errors"][0]["message"]
    assert await api.fingerprint() == before
    # and a booking of 10 made before the reward grew is skipped by the run, never written beyond what is read
    assert (await book(api, "big-2", quantity=10))["errors"] == []
    await api.scalar("UPDATE reward_item SET benefit_amount = 200000000 WHERE code = 'MIN-60' RETURNING 1")
    run = await run_month(api)
    assert (run.redeemed, run.skipped) == (0, 1)
    (execution,) = (await api.data(MY_BOOKINGS, as_="member"))["me"]["autoRedemptions"][0]["executions"]
    assert (execution["outcome"], execution["reason"]) == ("SKIPPED", "OUT_OF_RANGE")
    assert await api.violations() == []


@pytest.mark.parametrize(
    ("status", "code"),
    [("ENDED", "MEMBERSHIP_ENDED"), ("SUSPENDED", "MEMBERSHIP_SUSPENDED"), ("EXPIRED", "MEMBERSHIP_EXPIRED")],
)
async def test_a_membership_that_may_not_spend_books_nothing(api, status, code):
    # given Li Wei's membership ended, suspended, or past its validity
    change = "valid_until = DATE '2020-01-01'" if status == "EXPIRED" else f"status = '{status}'"
    await api.scalar(f"UPDATE member SET {change} WHERE id = :m RETURNING 1", m=api.demo.members["Li Wei"])
    before = await api.fingerprint()
    # when staff book for him, then it is refused as his redemptions are, and nothing is written
    answer = await book(api, "s-1", as_="administrator", memberId=gid("Member", api.demo.members["Li Wei"]))
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [(["input", "memberId"], code)]
    assert await api.fingerprint() == before


async def test_a_membership_ended_ends_its_bookings(api):
    # given Li Wei's active booking and his paused one, and Wang Fang's
    mine = (await book(api, "e-1"))["booking"]
    paused = (await book(api, "e-2", "MUSIC-MONTH"))["booking"]
    await api.data(CHANGE % ("Pause", "pause"), {"input": {"id": paused["id"], "idempotencyKey": "p-1"}},
                   as_="member")  # fmt: skip
    await book(api, "e-3", as_="administrator", memberId=gid("Member", api.demo.members["Wang Fang"]))
    # when staff end his membership
    end = """mutation($input: UpdateMemberInput!) { updateMember(input: $input) { errors { code } } }"""
    ended = await api.data(end, {"input": {"id": gid("Member", api.demo.members["Li Wei"]), "status": "ENDED"}},
                           as_="hq_admin")  # fmt: skip
    assert ended["updateMember"]["errors"] == []
    # then both of his bookings end saying why, and hers runs
    assert (
        await api.scalar(
            "SELECT string_agg(status || ':' || coalesce(cancel_reason, '-'), ',' ORDER BY id) FROM auto_redemption"
        )
        == "CANCELLED:MEMBERSHIP_ENDED,CANCELLED:MEMBERSHIP_ENDED,ACTIVE:-"
    )
    assert (await run_month(api)).redeemed == 1
    assert mine["id"] != paused["id"]


async def test_a_run_cancels_the_bookings_of_a_membership_ended_without_them(api):
    # given Li Wei's booking, and his membership ended where nothing ended his bookings (as the annual review did
    # before migration 0043)
    assert (await book(api, "a-1"))["errors"] == []
    await api.scalar("UPDATE member SET status = 'ENDED' WHERE id = :m RETURNING 1", m=api.demo.members["Li Wei"])
    # when the month's run goes twice, then the booking is skipped once and ends; the second run has nothing
    first = await run_month(api)
    assert (first.redeemed, first.skipped) == (0, 1)
    assert (
        await api.scalar("SELECT status || ':' || cancel_reason FROM auto_redemption") == "CANCELLED:MEMBERSHIP_ENDED"
    )
    assert (await run_month(api)).bookings == 0


async def test_a_booking_made_while_the_membership_ends_is_refused(api):
    # given Li Wei's membership being ended by staff (its row held, not yet committed)
    ending = "UPDATE member SET status = 'ENDED' WHERE id = :m"
    # when he books meanwhile, then the booking waits for the ending
    booking = await api.waits_for(ending, book(api, "w-1"), m=api.demo.members["Li Wei"])
    # and is refused once it is committed: no booking outlives the membership
    assert [e["code"] for e in booking["errors"]] == ["MEMBERSHIP_ENDED"]
    assert await api.scalar("SELECT count(*) FROM auto_redemption") == 0


async def test_a_booking_cancelled_while_the_run_reads_it_is_not_redeemed(api):
    # given Li Wei's booking, and his cancellation under way (its row locked, not yet committed)
    booked = (await book(api, "c-1"))["booking"]
    cancelling = "UPDATE auto_redemption SET status = 'CANCELLED' WHERE id = :id"
    booking = int(base64.b64decode(booked["id"]).decode().partition(":")[2])
    # when the month's run goes meanwhile, then it waits for the cancellation
    run = await api.waits_for(cancelling, run_month(api), id=booking)
    # and redeems nothing once it is committed
    assert (run.redeemed, run.skipped) == (0, 0)
    assert await api.scalar("SELECT count(*) FROM redemption") == 0
    assert await api.violations() == []


async def test_a_paused_booking_of_a_membership_that_may_not_spend_is_not_resumed(api):
    # given Li Wei's paused booking, and his membership suspended since
    booked = (await book(api, "s-1"))["booking"]
    pause = {"input": {"id": booked["id"], "idempotencyKey": "p-1"}}
    assert (await api.data(CHANGE % ("Pause", "pause"), pause, as_="member"))["pauseAutoRedemption"]["errors"] == []
    await api.scalar("UPDATE member SET status = 'SUSPENDED' WHERE id = :m RETURNING 1", m=api.demo.members["Li Wei"])
    before = await api.fingerprint()
    # when staff resume it, then it is refused as a new booking would be, and it stays paused
    resume = {"input": {"id": booked["id"], "idempotencyKey": "r-1"}}
    answer = (await api.data(CHANGE % ("Resume", "resume"), resume, as_="administrator"))["resumeAutoRedemption"]
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [(["input", "id"], "MEMBERSHIP_SUSPENDED")]
    assert await api.fingerprint() == before


async def test_a_booking_resumed_and_cancelled_while_its_chunk_runs_is_left_alone(api):
    # given Li Wei's booking, and Wang Fang's paused one, in one chunk of the month's run
    li, wang = api.demo.members["Li Wei"], api.demo.members["Wang Fang"]
    assert (await book(api, "r-1"))["errors"] == []
    hers = (await book(api, "r-2", as_="administrator", memberId=gid("Member", wang)))["booking"]

    async def change(verb: str, key: str) -> dict:
        answer = await api.data(CHANGE % (verb, verb.lower()), {"input": {"id": hers["id"], "idempotencyKey": key}},
                                as_="administrator")  # fmt: skip
        return answer[f"{verb.lower()}AutoRedemption"]

    assert (await change("Pause", "k-1"))["errors"] == []
    async with api.engine.connect() as holding_li, api.engine.connect() as holding_wang:
        # when the run has locked the chunk's open bookings and waits for Li Wei's balance
        await holding_li.execute(sa.text("SELECT 1 FROM points_balance WHERE member_id = :m FOR UPDATE"), {"m": li})
        running = asyncio.ensure_future(run_month(api))
        await asyncio.sleep(0.7)
        assert not running.done()
        # and hers is resumed, then cancelled, while the chunk works
        assert (await change("Resume", "k-2"))["errors"] == []
        await holding_wang.execute(sa.text("SELECT 1 FROM points_balance WHERE member_id = :m FOR UPDATE"), {"m": wang})
        await holding_li.rollback()
        await asyncio.sleep(0.7)
        assert (await asyncio.wait_for(change("Cancel", "k-3"), 5))["booking"]["status"] == "CANCELLED"
        await holding_wang.rollback()
    run = await running
    # then the run redeemed his booking only: hers, not open when the chunk began, was left to the next run
    assert (run.redeemed, run.skipped) == (1, 0)
    assert await api.scalar("SELECT count(*) FROM auto_redemption_execution WHERE outcome = 'REDEEMED'") == 1
    assert await api.scalar("SELECT count(*) FROM redemption WHERE member_id = :m", m=wang) == 0
    assert await api.violations() == []
