"""The annual review [G6]: by validity and qualification, a membership is extended, kept, put in grace or ended;
ending cancels the card and lets the points expire; once per date; every outcome in the grade history."""

from __future__ import annotations

from datetime import date, timedelta

from domain import clock
from domain.grades import review
from domain.grades.review import GradePolicy
from loyalty.database import make_sessions
from tests.graphql.test_grades import history, pays, standard_year
from tests.graphql.test_redemption import REDEEM, redeem_input
from tests.graphql.test_redemption_bookings import book, run_month


async def annual(api, policy: GradePolicy | None = None, as_of: date | None = None) -> dict:
    return await review.annual_review(make_sessions(api.engine), as_of or clock.today(), policy or GradePolicy(),
                                      chunk_customers=2)  # fmt: skip


async def valid_until(api, name: str, day: date) -> None:
    await api.scalar("UPDATE member SET valid_until = :d WHERE id = :m RETURNING 1", d=day, m=api.demo.members[name])


async def annual_a_month_later(api, policy: GradePolicy, today_is) -> None:
    later = clock.today() + timedelta(days=31)
    today_is(later)
    await annual(api, policy, as_of=later)


async def status_and_grace_end(api, name: str) -> str:
    return await api.scalar("SELECT status || ' ' || coalesce(grace_ends_on::text, '-') FROM member WHERE id = :m",
                            m=api.demo.members[name])  # fmt: skip


async def test_members_are_extended_kept_or_ended_by_validity_and_qualification(api):
    # given Li Wei valid for 30 more days and qualifying, Wang Fang's validity ended yesterday, and Zhang Min
    # qualifying for no grade (she paid nothing for two years) though valid until 2030
    today = clock.today()
    await standard_year(api)
    await pays(api, "Zhang Min", 0)
    await valid_until(api, "Li Wei", today + timedelta(days=30))
    await valid_until(api, "Wang Fang", today - timedelta(days=1))
    wang_lot = await api.scalar("SELECT points_move(:m, 'BONUS_PROMOTION', 'ISSUANCE', 100, :on, 'Gift', NULL)",
                                m=api.demo.members["Wang Fang"], on=today - timedelta(days=10))  # fmt: skip
    assert wang_lot is not None
    # when the annual review runs (memberships end at once: the default), twice
    first = await annual(api)
    again = await annual(api)
    # then Li Wei is extended by a year, Wang Fang and Zhang Min ended; the rerun changed nothing
    assert (first["members"], first["extended"], first["ended"]) == (3, 1, 2), first
    assert again["members"] == 0
    li, wang, zhang = [await history(api, n) for n in ("Li Wei", "Wang Fang", "Zhang Min")]
    li_until = await api.scalar("SELECT valid_until FROM member WHERE id = :m", m=api.demo.members["Li Wei"])
    ends = today + timedelta(days=30)
    assert li["status"] == "ACTIVE" and li_until == ends.replace(year=ends.year + 1)
    assert (wang["status"], zhang["status"]) == ("ENDED", "ENDED")
    assert [h["kind"] for h in (li["gradeHistory"][0], wang["gradeHistory"][0])] == ["ANNUAL_REVIEW"] * 2
    assert wang["gradeHistory"][0]["gradeTo"] is None and li["gradeHistory"][0]["gradeTo"] == "DIAMOND"
    # and Wang Fang's points stay, expiring 180 days after the review at the latest
    expiry = await api.scalar("SELECT max(expires_on) FROM points_lot WHERE member_id = :m",
                              m=api.demo.members["Wang Fang"])  # fmt: skip
    assert expiry <= today + timedelta(days=180)
    assert await api.violations() == []


async def test_an_ended_membership_cancels_the_card(api):
    # given Li Wei (who holds a card) qualifying for no grade
    await standard_year(api)
    await pays(api, "Li Wei", 0)
    # when the annual review runs
    await annual(api)
    # then his card is cancelled with the reason MEMBERSHIP_ENDED
    state, reason = (await api.scalar(
        """SELECT c.state || ' ' || e.reason FROM card c JOIN card_event e ON e.card_number = c.number
           WHERE c.member_id = :m ORDER BY e.id DESC LIMIT 1""", m=api.demo.members["Li Wei"])).split()  # fmt: skip
    assert (state, reason) == ("CANCELLED", "MEMBERSHIP_ENDED")


async def test_an_ended_membership_ends_its_bookings_at_once(api):
    # given Li Wei, qualifying for no grade, with a booking of minutes every month and a paused one
    await standard_year(api)
    await pays(api, "Li Wei", 0)
    assert (await book(api, "b-1"))["errors"] == []
    paused = (await book(api, "b-2", "MUSIC-MONTH"))["booking"]
    pause = """mutation($input: PauseAutoRedemptionInput!) { pauseAutoRedemption(input: $input) { errors { code } } }"""
    assert (await api.data(pause, {"input": {"id": paused["id"], "idempotencyKey": "p-1"}}, as_="member"))[
        "pauseAutoRedemption"]["errors"] == []  # fmt: skip
    # when the annual review ends his membership
    assert (await annual(api))["ended"] == 1
    # then both bookings end with it, saying why, before any run of the bookings; the run has nothing to skip
    assert await api.scalar(
        "SELECT string_agg(status || ':' || cancel_reason, ',' ORDER BY id) FROM auto_redemption"
    ) == "CANCELLED:MEMBERSHIP_ENDED,CANCELLED:MEMBERSHIP_ENDED"  # fmt: skip
    run = await run_month(api)
    assert (run.bookings, run.skipped) == (0, 0)
    assert await api.violations() == []


async def test_with_a_grace_a_membership_ends_at_the_review_after_the_grace(api, today_is):
    # given memberships ending after a grace of 3 months, and Zhang Min qualifying for no grade
    policy = GradePolicy(annual_grace_months=3)
    await standard_year(api)
    await pays(api, "Zhang Min", 0)
    today = clock.today()
    # when the annual review runs today, and again four months later
    first = await annual(api, policy)
    in_grace = await history(api, "Zhang Min")
    today_is(today + timedelta(days=122))
    later = await annual(api, policy, as_of=today + timedelta(days=122))
    # then she was in GRACE (still a member) after the first, and ENDED after the second
    assert first["grace"] == 1 and in_grace["status"] == "GRACE"
    assert in_grace["gradeHistory"][0]["reason"].startswith("In grace: the membership ends on ")
    assert later["ended"] == 1 and (await history(api, "Zhang Min"))["status"] == "ENDED"


async def test_a_grace_of_a_month_from_the_31st_lasts_all_of_the_next_month(api, today_is):
    # given the review on 31 January, a grace of one month, and Zhang Min qualifying for no grade
    today_is(date(2027, 1, 31))
    await standard_year(api)
    await pays(api, "Zhang Min", 0)
    # when the annual review runs
    await annual(api, GradePolicy(annual_grace_months=1))
    # then her grace ends on 1 March (February has no 31st): all of February is hers
    found = await api.scalar("SELECT grace_ends_on FROM member WHERE id = :m", m=api.demo.members["Zhang Min"])
    assert found == date(2027, 3, 1)


async def test_on_29_february_a_validity_ending_on_28_february_next_is_within_the_year(api, today_is):
    # given the review on 29 February 2028 and Li Wei, qualifying, valid until 28 February 2029
    today_is(date(2028, 2, 29))
    await standard_year(api)
    await valid_until(api, "Li Wei", date(2029, 2, 28))
    # when the annual review runs, then his validity is extended by a year: it ended before the anniversary
    # (1 March 2029, since 2029 has no 29 February)
    await annual(api)
    found = await api.scalar("SELECT valid_until FROM member WHERE id = :m", m=api.demo.members["Li Wei"])
    assert found == date(2030, 2, 28)


async def test_a_member_in_grace_who_qualifies_again_is_a_member_as_before(api, today_is):
    # given Zhang Min put in grace by a review, who then pays 100 yuan a month again
    policy = GradePolicy(annual_grace_months=3)
    await standard_year(api)
    await pays(api, "Zhang Min", 0)
    await annual(api, policy)
    await pays(api, "Zhang Min", 10_000)
    # when the next review (a month later) runs
    await annual_a_month_later(api, policy, today_is)
    # then she is ACTIVE again, her grace over
    assert await status_and_grace_end(api, "Zhang Min") == "ACTIVE -"


async def test_a_member_in_grace_for_an_ended_validity_spends_until_the_grace_ends(api, today_is):
    # given Li Wei, qualifying, whose validity ended yesterday, with a booking of minutes every month
    policy = GradePolicy(annual_grace_months=3)
    await standard_year(api)
    assert (await book(api, "b-1"))["errors"] == []
    await valid_until(api, "Li Wei", clock.today() - timedelta(days=1))
    # when the annual review puts him in grace
    assert (await annual(api, policy))["grace"] == 1
    grace_ends = await api.scalar("SELECT grace_ends_on FROM member WHERE id = :m", m=api.demo.members["Li Wei"])
    # then he redeems as an ACTIVE member does, on the web and by his booking
    made = await api.data(REDEEM, redeem_input(api, "g-1", ("MIN-60", 1)), as_="member")
    assert made["redeemPoints"]["errors"] == []
    run = await run_month(api)
    assert (run.redeemed, run.skipped) == (1, 0)
    # when his grace has ended, before any review, then he redeems no more, and is told why
    today_is(grace_ends)
    late = (await api.data(REDEEM, redeem_input(api, "g-2", ("MUSIC-MONTH", 1)), as_="member"))["redeemPoints"]
    assert [(e["code"], e["message"]) for e in late["errors"]] == [
        ("MEMBERSHIP_EXPIRED", f"The membership's grace ended on {grace_ends}.")]  # fmt: skip
    assert await api.violations() == []


async def test_a_review_after_a_grace_keeps_a_member_who_qualifies_with_a_validity_given_again(api, today_is):
    # given Li Wei, qualifying, in grace since his validity ended, and Zhang Min in grace for qualifying for no grade
    policy = GradePolicy(annual_grace_months=3)
    await standard_year(api)
    await pays(api, "Zhang Min", 0)
    await valid_until(api, "Li Wei", clock.today() - timedelta(days=1))
    assert (await annual(api, policy))["grace"] == 2
    # when staff give him a new validity, and the next review runs after the graces have ended
    await valid_until(api, "Li Wei", clock.today() + timedelta(days=400))
    later = clock.today() + timedelta(days=200)
    today_is(later)
    await annual(api, policy, as_of=later)
    # then he is ACTIVE again, his grace over, and she, qualifying no more, is ENDED
    assert await status_and_grace_end(api, "Li Wei") == "ACTIVE -"
    assert (await status_and_grace_end(api, "Zhang Min")).startswith("ENDED")
    assert await api.violations() == []


async def test_a_suspended_member_put_in_grace_stays_suspended(api):
    # given Zhang Min suspended and qualifying for no grade, and a grace of 3 months
    await standard_year(api)
    await pays(api, "Zhang Min", 0)
    await api.scalar(
        "UPDATE member SET status = 'SUSPENDED' WHERE id = :m RETURNING 1", m=api.demo.members["Zhang Min"]
    )
    # when the annual review runs
    await annual(api, GradePolicy(annual_grace_months=3))
    # then her membership keeps its suspension, with the grace's end
    found = await api.scalar("SELECT status || ' ' || (grace_ends_on IS NOT NULL) FROM member WHERE id = :m",
                             m=api.demo.members["Zhang Min"])  # fmt: skip
    assert found == "SUSPENDED true"
