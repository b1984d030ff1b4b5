"""Grades [G3]–[G5]: the figures and rules, the qualification review with its proposals and policies, approval,
manual and bulk changes, the grade history, a member's grade review and progress, and the card entitlement.

The demo's national rules over 12 whole months: DIAMOND 24 months in network and ARPU 300 yuan, or VIP;
EMERALD 12 months and 150 yuan; SAPPHIRE 6 months and 50 yuan. Every demo account opened on 2015-01-01.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from domain import clock
from domain.errors import DomainError
from domain.grades import review
from domain.grades.review import DowngradePolicy, GradePolicy
from domain.grades.tables import ProposalKind
from domain.work.jobs import JobRunner
from loyalty.database import make_sessions
from tests.api import gid
from tests.graphql.cases.grades import pending_upgrade

PROPOSALS = """query($filter: GradeProposalFilter) { gradeProposals(filter: $filter, first: 50) { edges { node {
    id kind state gradeFrom gradeTo asOf appliesOn reason customer { name } member { memberNumber grade { code } }
    club { code } rule { id grade { code } } figures { windowMonths monthsInNetwork arpuFen spendFen pointsEarned
    importance } } } } }"""
DECIDE = """mutation($input: DecideGradeProposalInput!) { decideGradeProposal(input: $input) {
    errors { field code message } proposal { state reason decidedBy { username } member { grade { code } } } } }"""
DECIDE_ALL = """mutation($input: DecideGradeProposalsInput!) { decideGradeProposals(input: $input) {
    errors { field code message } count } }"""
CHANGE = """mutation($input: ChangeMemberGradeInput!) { changeMemberGrade(input: $input) {
    errors { field code message } replayed member { grade { code } } } }"""
CHANGE_ALL = """mutation($input: ChangeMemberGradesInput!) { changeMemberGrades(input: $input) {
    errors { field code message } replayed count } }"""
HISTORY = """query($id: ID!) { member(id: $id) { grade { code } status gradeHistory { gradeFrom gradeTo kind reason
    staff { username } figures { arpuFen } } } }"""


def last_month_first_day() -> date:
    first = clock.today().replace(day=1)
    return first.replace(year=first.year - 1, month=12) if first.month == 1 else first.replace(month=first.month - 1)


async def pays(api, name: str, fen: int, months: int = 24) -> None:
    """`name`'s account paid `fen` in each of the last `months` whole months (as the billing system corrects)."""
    account = await api.scalar(
        "SELECT a.id FROM account a JOIN customer c ON c.id = a.customer_id WHERE c.name = :n ORDER BY a.id LIMIT 1",
        n=name,
    )
    await api.scalar(
        """INSERT INTO bill (account_id, billing_month, amount_billed_fen, amount_paid_fen, due_date, paid_date)
           SELECT :a, (CAST(:last AS date) - make_interval(months => g))::date, :fen, :fen,
                  (CAST(:last AS date) - make_interval(months => g))::date + 40,
                  (CAST(:last AS date) - make_interval(months => g))::date + 35
           FROM generate_series(0, CAST(:months AS int) - 1) g
           ON CONFLICT (account_id, billing_month) DO UPDATE SET amount_paid_fen = excluded.amount_paid_fen,
                                                                 amount_billed_fen = excluded.amount_billed_fen
           RETURNING 1""",
        a=account, last=last_month_first_day(), fen=fen, months=months,
    )  # fmt: skip


async def reviewed(api, policy: GradePolicy | None = None, as_of: date | None = None) -> review.GradeReviewRun:
    return await review.review_grades(make_sessions(api.engine), as_of or clock.today(), policy or GradePolicy(),
                                      chunk_customers=2)  # fmt: skip


async def proposals(api, as_: str = "hq_admin", **filter) -> list[dict]:
    answer = await api.data(PROPOSALS, {"filter": filter or None}, as_=as_)
    return [e["node"] for e in answer["gradeProposals"]["edges"]]


async def history(api, name: str, as_: str = "hq_admin") -> dict:
    return (await api.data(HISTORY, {"id": gid("Member", api.demo.members[name])}, as_=as_))["member"]


async def standard_year(api) -> None:
    """Li Wei pays 300 yuan a month (DIAMOND), Wang Fang 150 (EMERALD), Zhang Min 50 (SAPPHIRE): no change."""
    await pays(api, "Li Wei", 30_000)
    await pays(api, "Wang Fang", 15_000)
    await pays(api, "Zhang Min", 5_000)


async def test_a_review_of_members_who_keep_their_grades_proposes_nothing(api):
    # given every member paying what their grade asks
    await standard_year(api)
    # when the review runs as of today
    run = await reviewed(api)
    # then it reviewed the three members and proposed nothing
    assert (run.status, run.customers, run.proposals) == ("DONE", 3, 0), run
    assert await proposals(api) == []


async def test_an_upgrade_applies_at_once_with_its_figures_and_history_and_the_member_is_told(api):
    # given Zhang Min (SAPPHIRE) paying 150 yuan a month
    await standard_year(api)
    await pays(api, "Zhang Min", 15_000)
    # when the review runs
    run = await reviewed(api)
    # then one UPGRADE to EMERALD was proposed and applied by the run, with the figures that justify it
    assert (run.proposals, run.upgrade, run.applied) == (1, 1, 1)
    (found,) = await proposals(api)
    decided = (found["kind"], found["state"], found["gradeFrom"], found["gradeTo"])
    assert decided == ("UPGRADE", "APPLIED", "SAPPHIRE", "EMERALD")
    assert found["figures"] == {
        "windowMonths": 12,
        "monthsInNetwork": found["figures"]["monthsInNetwork"],
        "arpuFen": 15_000,
        "spendFen": 180_000,
        "pointsEarned": 0,
        "importance": "NORMAL",
    }
    assert found["figures"]["monthsInNetwork"] >= 12 * 11 and found["rule"]["grade"]["code"] == "EMERALD"
    zhang = await history(api, "Zhang Min")
    assert zhang["grade"]["code"] == "EMERALD"
    (entry,) = zhang["gradeHistory"]
    assert (entry["gradeFrom"], entry["gradeTo"], entry["kind"], entry["staff"]) == ("SAPPHIRE", "EMERALD",
                                                                                     "UPGRADE", None)  # fmt: skip
    told = await api.scalar("SELECT message FROM notification WHERE member_id = :m AND dedupe_key LIKE 'grade:%'",
                            m=api.demo.members["Zhang Min"])  # fmt: skip
    assert told == "Your club grade is now Emerald (it was Sapphire)."
    assert await api.violations() == []


async def test_figures_beyond_32_bits_are_answered(api):
    # given Zhang Min's company paying two million yuan a month (a year's spend beyond an `Int` of fen)
    await standard_year(api)
    await pays(api, "Zhang Min", 200_000_000)
    # when the review proposes her upgrade
    await reviewed(api)
    # then its figures are answered whole
    (found,) = await proposals(api)
    assert (found["figures"]["arpuFen"], found["figures"]["spendFen"]) == (200_000_000, 2_400_000_000)


async def test_a_rerun_of_the_same_date_proposes_nothing_new(api):
    # given a review that upgraded Zhang Min
    await standard_year(api)
    await pays(api, "Zhang Min", 15_000)
    await reviewed(api)
    # when it runs again as of the same date
    again = await reviewed(api)
    # then nothing new was proposed or applied
    assert (again.status, again.proposals, again.applied) == ("DONE", 0, 0)
    assert len(await proposals(api)) == 1


async def test_a_review_as_of_a_date_before_the_last_one_that_proposed_is_refused(api):
    # given a review as of today that upgraded Zhang Min
    await standard_year(api)
    await pays(api, "Zhang Min", 15_000)
    await reviewed(api)
    # when a review as of yesterday is asked, through the API or run
    yesterday = clock.today() - timedelta(days=1)
    run = "mutation($input: RunGradeReviewInput!) { runGradeReview(input: $input) { errors { field code } } }"
    answer = await api.data(run, {"input": {"asOf": f"{yesterday}"}}, as_="hq_admin")
    # then it is refused on its date, and nothing more was proposed: it would leave two proposals open
    assert answer["runGradeReview"]["errors"] == [{"field": ["input", "asOf"], "code": "LATER_REVIEW_DONE"}]
    with pytest.raises(DomainError) as refused:
        await reviewed(api, as_of=yesterday)
    assert refused.value.code == "LATER_REVIEW_DONE"
    assert len(await proposals(api)) == 1


async def test_a_review_of_another_date_is_refused_while_one_is_under_way(api):
    # given Li Wei paying nothing for a year, and the review as of yesterday begun (nothing proposed yet)
    await standard_year(api)
    await pays(api, "Li Wei", 0)
    sessions = make_sessions(api.engine)
    yesterday = clock.today() - timedelta(days=1)
    handed: list = []
    await JobRunner(sessions, hand_off=handed.append).start(review.GradeReviewJob(yesterday, chunk_customers=2))
    # when the review as of today is run meanwhile, then it is refused naming the one under way
    with pytest.raises(DomainError) as refused:
        await reviewed(api)
    assert refused.value.code == "GRADE_REVIEW_RUN_UNDER_WAY" and f"{yesterday}" in refused.value.problems[0].message
    # and once yesterday's has ended, Li Wei holds one open proposal, and today's review runs
    await handed[0]
    assert [p["asOf"] for p in await proposals(api, kind="REVOKE", state="PENDING")] == [f"{yesterday}"]
    assert (await reviewed(api)).status == "DONE"


async def test_arpu_one_fen_below_the_threshold_does_not_qualify_and_at_it_does(api):
    # given Zhang Min paying 149.99 yuan a month for a year, then a review; and 150.00 yuan a month, a day later
    await standard_year(api)
    await pays(api, "Zhang Min", 14_999)
    below = await reviewed(api)
    await pays(api, "Zhang Min", 15_000)
    yesterday = date.fromordinal(clock.today().toordinal() - 1)
    at = await reviewed(api, as_of=yesterday if yesterday.month == clock.today().month else None)
    # then only the second review upgrades her
    assert (below.upgrade, at.upgrade) == (0, 1), (below, at)


async def test_a_downgrade_is_suppressed_by_the_default_policy(api):
    # given Li Wei (DIAMOND) paying 150 yuan a month: EMERALD
    await standard_year(api)
    await pays(api, "Li Wei", 15_000)
    # when the review runs under the default policy
    run = await reviewed(api)
    # then the downgrade is recorded, SUPPRESSED_BY_POLICY, and Li Wei stays DIAMOND
    assert (run.downgrade, run.suppressed, run.applied) == (1, 1, 0)
    (found,) = await proposals(api, kind="DOWNGRADE")
    assert (found["state"], found["gradeTo"]) == ("SUPPRESSED_BY_POLICY", "EMERALD")
    assert (await history(api, "Li Wei"))["grade"]["code"] == "DIAMOND"


async def test_a_downgrade_in_grace_warns_the_member_and_applies_after_the_grace(api):
    # given downgrades applied after a grace of 3 months, and Li Wei paying 150 yuan a month
    policy = GradePolicy(automatic=frozenset({ProposalKind.UPGRADE, ProposalKind.DOWNGRADE}),
                         downgrades=DowngradePolicy.AFTER_GRACE, downgrade_grace_months=3)  # fmt: skip
    await standard_year(api)
    await pays(api, "Li Wei", 15_000)
    # when a review runs four months ago, and then today
    today = clock.today()
    earlier = date(today.year - 1, today.month + 8, 1) if today.month <= 4 else date(today.year, today.month - 4, 1)
    first = await reviewed(api, policy, as_of=earlier)
    warned = await api.scalar("SELECT message FROM notification WHERE dedupe_key LIKE 'grade-grace:%'")
    second = await reviewed(api, policy)
    # then the first put him in grace (warned), the second applied the downgrade
    assert (first.in_grace, first.applied, second.applied) == (1, 0, 1), (first, second)
    assert warned.startswith("Your club grade will change from Diamond to Emerald on ")
    states = sorted(p["state"] for p in await proposals(api))
    assert states == ["APPLIED", "SUPERSEDED"]  # the grace went on in the later proposal
    assert (await history(api, "Li Wei"))["grade"]["code"] == "EMERALD"


async def test_a_downgrade_graced_a_month_from_the_31st_applies_on_the_1st_after_next(api, today_is):
    # given the review on 31 January, downgrades after a grace of one month, and Li Wei paying 150 yuan a month
    policy = GradePolicy(downgrades=DowngradePolicy.AFTER_GRACE, downgrade_grace_months=1)
    today_is(date(2027, 1, 31))
    await standard_year(api)
    await pays(api, "Li Wei", 15_000)
    # when the review runs
    await reviewed(api, policy)
    # then the downgrade applies on 1 March (February has no 31st): all of February is in grace
    found = await api.scalar("SELECT state || ' ' || applies_on FROM grade_proposal WHERE kind = 'DOWNGRADE'")
    assert found == "IN_GRACE 2027-03-01"


async def booked(api, member: str) -> None:
    """Two bookings of minutes for the member: one ACTIVE, one PAUSED."""
    await api.scalar("""INSERT INTO auto_redemption (member_id, item_id, quantity, start_month, status)
                        VALUES (:m, :i, 1, :month, 'ACTIVE'), (:m, :i, 1, :month, 'PAUSED') RETURNING 1""",
                     m=api.demo.members[member], i=api.demo.rewards["MIN-60"],
                     month=clock.today().replace(day=1))  # fmt: skip


async def bookings_of(api, member: str) -> str:
    return await api.scalar("SELECT string_agg(status || ':' || coalesce(cancel_reason, '-'), ',' ORDER BY id)"
                            " FROM auto_redemption WHERE member_id = :m", m=api.demo.members[member])  # fmt: skip


async def test_a_member_who_qualifies_for_nothing_is_proposed_for_revocation_and_approval_ends_the_membership(api):
    # given Li Wei paying nothing for a year, with his bookings of minutes, one of them paused
    await standard_year(api)
    await pays(api, "Li Wei", 0)
    await booked(api, "Li Wei")
    run = await reviewed(api)
    (found,) = await proposals(api, kind="REVOKE")
    assert (run.revoke, found["state"]) == (1, "PENDING")
    # when the Guangdong club operator approves it
    answer = await api.data(DECIDE, {"input": {"id": found["id"], "decision": "APPROVE", "reason": "Left the club"}},
                            as_="club_operator")  # fmt: skip
    # then the membership ended, his card was cancelled, and the history says so
    decided = answer["decideGradeProposal"]
    assert decided["errors"] == [] and decided["proposal"]["state"] == "APPLIED", decided
    li = await history(api, "Li Wei")
    assert li["status"] == "ENDED" and li["gradeHistory"][0]["kind"] == "REVOKE"
    assert li["gradeHistory"][0]["staff"] == {"username": "gd.operator"}
    card = await api.scalar("SELECT state FROM card WHERE member_id = :m", m=api.demo.members["Li Wei"])
    assert card == "CANCELLED"
    assert await bookings_of(api, "Li Wei") == "CANCELLED:MEMBERSHIP_ENDED,CANCELLED:MEMBERSHIP_ENDED"
    # and his points last 180 days from today at the latest (the 2026-12-31 lot, if sooner, keeps its day)
    latest = await api.scalar("SELECT max(expires_on) FROM points_lot WHERE member_id = :m AND remaining > 0",
                              m=api.demo.members["Li Wei"])  # fmt: skip
    assert latest <= clock.today() + timedelta(days=180)
    assert await api.violations() == []


async def test_a_proposal_of_a_member_moved_to_another_province_lapses(api):
    # given Li Wei of Guangdong proposed for revocation by the review
    await standard_year(api)
    await pays(api, "Li Wei", 0)
    await reviewed(api)
    (found,) = await proposals(api, kind="REVOKE")
    # when headquarters move him to Beijing's club (his customer goes along)
    move = """mutation($input: UpdateMemberInput!) { updateMember(input: $input) { errors { code } } }"""
    moved = {
        "input": {"id": gid("Member", api.demo.members["Li Wei"]), "clubId": gid("Club", api.demo.clubs["BJ-CLUB"])}
    }
    assert (await api.data(move, moved, as_="hq_admin"))["updateMember"]["errors"] == []
    # then the proposal, made under Guangdong's rules, lapses: no one is left with it to decide
    (after,) = await proposals(api, kind="REVOKE")
    assert (after["id"], after["state"]) == (found["id"], "LAPSED")
    assert after["reason"] == "The member moved to another province since the review."
    assert (await history(api, "Li Wei"))["status"] == "ACTIVE"


async def test_a_proposal_of_a_member_moved_within_the_province_stays(api):
    # given Wang Fang of Shenzhen's club, whose customer is kept at Guangdong's branch, proposed for an upgrade
    await standard_year(api)
    await api.scalar("UPDATE customer SET branch_id = :b WHERE id = :c RETURNING 1",
                     b=api.demo.branches["GD"], c=api.demo.customers["Wang Fang"])  # fmt: skip
    await pays(api, "Wang Fang", 30_000)
    await reviewed(api, GradePolicy(automatic=frozenset()))
    (found,) = await proposals(api, kind="UPGRADE")
    # when headquarters move her to Guangdong's club, of the same province
    move = """mutation($input: UpdateMemberInput!) { updateMember(input: $input) { errors { code } } }"""
    moved = {
        "input": {"id": gid("Member", api.demo.members["Wang Fang"]), "clubId": gid("Club", api.demo.clubs["GD-CLUB"])}
    }
    assert (await api.data(move, moved, as_="hq_admin"))["updateMember"]["errors"] == []
    # then the proposal, made under Guangdong's rules that still hold for her, stays to be decided
    (after,) = await proposals(api, kind="UPGRADE")
    assert (after["id"], after["state"]) == (found["id"], "PENDING")


async def test_a_proposal_of_a_member_moved_to_another_city_of_the_province_is_that_citys_to_decide(api):
    # given Li Wei of Guangdong proposed for revocation, and an administrator of Shenzhen, a city of Guangdong
    await standard_year(api)
    await pays(api, "Li Wei", 0)
    await reviewed(api, GradePolicy(automatic=frozenset()))
    (found,) = await proposals(api, kind="REVOKE")
    await api.add_staff("sz.admin", "ADMINISTRATOR", "SZ")
    assert await proposals(api, as_="sz.admin") == []
    # when he is moved to Shenzhen's club
    move = """mutation($input: UpdateMemberInput!) { updateMember(input: $input) { errors { code } } }"""
    moved = {
        "input": {"id": gid("Member", api.demo.members["Li Wei"]), "clubId": gid("Club", api.demo.clubs["SZ-CLUB"])}
    }
    assert (await api.data(move, moved, as_="hq_admin"))["updateMember"]["errors"] == []
    # then Shenzhen's administrator sees the proposal, still pending under the province's rules, and decides it
    assert [(p["id"], p["state"]) for p in await proposals(api, as_="sz.admin")] == [(found["id"], "PENDING")]
    decided = await api.data(DECIDE, {"input": {"id": found["id"], "decision": "REJECT", "reason": "Pays again"}},
                             as_="sz.admin")  # fmt: skip
    assert decided["decideGradeProposal"]["errors"] == []


async def test_a_revocation_the_review_applies_itself_ends_the_points_too(api):
    # given Li Wei paying nothing for a year, his bookings, and revocations applied without a reviewer
    await standard_year(api)
    await pays(api, "Li Wei", 0)
    await booked(api, "Li Wei")
    policy = GradePolicy(automatic=frozenset({ProposalKind.UPGRADE, ProposalKind.REVOKE}))
    # when the review runs, then his membership ended and his points last 180 days from its date at the latest
    run = await reviewed(api, policy)
    assert (run.revoke, run.applied) == (1, 1)
    assert await bookings_of(api, "Li Wei") == "CANCELLED:MEMBERSHIP_ENDED,CANCELLED:MEMBERSHIP_ENDED"
    latest = await api.scalar("SELECT max(expires_on) FROM points_lot WHERE member_id = :m AND remaining > 0",
                              m=api.demo.members["Li Wei"])  # fmt: skip
    assert latest <= clock.today() + timedelta(days=180)
    assert await api.violations() == []


async def test_a_revocation_the_review_applies_ends_the_bookings_with_its_chunk_whatever_stops_the_run(
    api, monkeypatch
):
    # given Li Wei paying nothing for a year, his bookings, revocations applied without a reviewer, and a review
    # in chunks of one customer each, every chunk after Li Wei's failing
    await standard_year(api)
    await pays(api, "Li Wei", 0)
    await booked(api, "Li Wei")
    policy = GradePolicy(automatic=frozenset({ProposalKind.UPGRADE, ProposalKind.REVOKE}))
    li = await api.scalar("SELECT customer_id FROM member WHERE id = :m", m=api.demo.members["Li Wei"])
    assert await api.scalar("SELECT max(id) FROM customer") > li
    original = AsyncSession.scalar

    async def failing_scalar(self, statement, params=None, **kw):
        if statement is review._CHUNK and params["first"] > li:
            raise RuntimeError("the server went away")
        return await original(self, statement, params, **kw)

    monkeypatch.setattr(AsyncSession, "scalar", failing_scalar)
    # when the review runs and stops on that failure
    with pytest.raises(ExceptionGroup):
        await review.review_grades(make_sessions(api.engine), clock.today(), policy, chunk_customers=1, workers=1)
    monkeypatch.undo()
    # then his membership ended with its bookings, though the run did not finish
    assert await api.scalar("SELECT status FROM job_run WHERE kind = 'GRADE_REVIEW'") == "FAILED"
    assert await bookings_of(api, "Li Wei") == "CANCELLED:MEMBERSHIP_ENDED,CANCELLED:MEMBERSHIP_ENDED"
    assert await api.violations() == []


async def test_a_customer_who_qualifies_is_proposed_for_admission_and_approval_makes_the_member(api):
    # given the Guangdong prospect with an account since 2020, paying 300 yuan a month
    prospect = api.demo.customers["Pearl River Trading Co."]
    await api.scalar("""INSERT INTO account (customer_id, account_number, opened_on, credit_limit_fen)
                        VALUES (:c, '80000099', '2020-01-01', 0) RETURNING 1""", c=prospect)  # fmt: skip
    await standard_year(api)
    await pays(api, "Pearl River Trading Co.", 30_000)
    run = await reviewed(api)
    (found,) = await proposals(api, kind="ADMIT")
    assert (run.admit, found["state"], found["gradeTo"], found["club"]["code"]) == (1, "PENDING", "DIAMOND",
                                                                                   "GD-CLUB")  # fmt: skip
    # when headquarters approves every pending admission
    answer = await api.data(DECIDE_ALL, {"input": {"filter": {"kind": "ADMIT"}, "decision": "APPROVE",
                                                   "reason": "Welcome"}}, as_="hq_admin")  # fmt: skip
    # then the customer is a DIAMOND member of the Guangdong club with a member number and a points account
    assert answer["decideGradeProposals"] == {"errors": [], "count": 1}
    member = await api.scalar("SELECT grade_code || ' ' || length(member_number) FROM member WHERE customer_id = :c",
                              c=prospect)  # fmt: skip
    assert member == "DIAMOND 12"
    assert await api.violations() == []


async def test_a_rejected_proposal_keeps_the_grade_and_cannot_be_decided_again(api):
    # given a pending revocation of Li Wei
    await standard_year(api)
    await pays(api, "Li Wei", 0)
    await reviewed(api)
    (found,) = await proposals(api, kind="REVOKE")
    # when it is rejected, then approved
    reject = {"input": {"id": found["id"], "decision": "REJECT", "reason": "Billing outage"}}
    rejected = (await api.data(DECIDE, reject, as_="club_operator"))["decideGradeProposal"]
    again = await api.data(DECIDE, {"input": reject["input"] | {"decision": "APPROVE"}}, as_="club_operator")
    # then the first rejected it, the second was refused, and Li Wei is still a member
    assert rejected["proposal"]["state"] == "REJECTED"
    assert [e["code"] for e in again["decideGradeProposal"]["errors"]] == ["PROPOSAL_DECIDED"]
    assert (await history(api, "Li Wei"))["status"] == "ACTIVE"


async def test_reviewers_of_another_branch_see_and_decide_nothing_of_guangdong(api):
    # given a pending revocation of Li Wei (Guangdong)
    await standard_year(api)
    await pays(api, "Li Wei", 0)
    await reviewed(api)
    (found,) = await proposals(api, kind="REVOKE")
    before = await api.fingerprint()
    # when the Beijing operator lists and approves it
    seen = await proposals(api, as_="other_branch_operator")
    answer = await api.data(DECIDE, {"input": {"id": found["id"], "decision": "APPROVE", "reason": "x"}},
                            as_="other_branch_operator")  # fmt: skip
    # then they see none and the approval is NOT_FOUND, with nothing written
    assert seen == []
    assert [e["code"] for e in answer["decideGradeProposal"]["errors"]] == ["NOT_FOUND"]
    assert await api.fingerprint() == before


async def test_a_provinces_proposals_are_those_of_its_cities_too(api):
    # given a pending upgrade of Wang Fang, of the Shenzhen club (in Guangdong)
    await pending_upgrade(api)
    by_province = {"branchId": gid("Branch", api.demo.branches["GD"])}
    # when the Guangdong administrator lists Guangdong's proposals, then hers is among them
    assert [p["member"]["memberNumber"] for p in await proposals(api, as_="administrator", **by_province)] == [
        await api.scalar("SELECT member_number FROM member WHERE id = :m", m=api.demo.members["Wang Fang"])
    ]
    # and rejecting Guangdong's proposals rejects hers
    reject = {"input": {"filter": by_province, "decision": "REJECT", "reason": "Budget"}}
    assert (await api.data(DECIDE_ALL, reject, as_="administrator"))["decideGradeProposals"] == {
        "errors": [],
        "count": 1,
    }


async def test_a_manual_change_is_recorded_with_its_reason_and_figures_and_replays(api):
    # given Zhang Min (SAPPHIRE) in Beijing
    await standard_year(api)
    request = {"input": {"memberId": gid("Member", api.demo.members["Zhang Min"]), "gradeCode": "DIAMOND",
                         "reason": "Key account of the province", "idempotencyKey": "g-1"}}  # fmt: skip
    # when the Beijing operator changes her grade to DIAMOND, twice with the same key
    first = (await api.data(CHANGE, request, as_="other_branch_operator"))["changeMemberGrade"]
    again = (await api.data(CHANGE, request, as_="other_branch_operator"))["changeMemberGrade"]
    # then she is DIAMOND once, with the reason and her figures in the history
    assert first == {"errors": [], "replayed": False, "member": {"grade": {"code": "DIAMOND"}}}
    assert again["replayed"] is True
    (entry,) = (await history(api, "Zhang Min"))["gradeHistory"]
    assert (entry["kind"], entry["reason"], entry["figures"]) == ("MANUAL", "Key account of the province",
                                                                  {"arpuFen": 5_000})  # fmt: skip


async def test_a_manual_change_refuses_a_retired_or_unknown_grade_the_same_grade_and_an_empty_reason(api):
    await api.scalar("UPDATE grade SET status = 'RETIRED' WHERE code = 'EMERALD' RETURNING 1")
    member = gid("Member", api.demo.members["Li Wei"])
    cases = {
        "GRADE_RETIRED": {"gradeCode": "EMERALD"},
        "NOT_FOUND": {"gradeCode": "GOLD"},
        "GRADE_UNCHANGED": {"gradeCode": "DIAMOND"},
        "REQUIRED": {"gradeCode": "SAPPHIRE", "reason": "  "},
    }
    before = await api.fingerprint()
    for code, given in cases.items():
        request = {"memberId": member, "reason": "Why", "idempotencyKey": f"k-{code}"} | given
        answer = (await api.data(CHANGE, {"input": request}, as_="club_operator"))["changeMemberGrade"]
        assert [e["code"] for e in answer["errors"]] == [code], (code, answer)
    assert await api.fingerprint() == before


async def test_an_approval_while_its_grade_is_retired_lapses(api):
    # given a pending upgrade of Wang Fang to DIAMOND, and DIAMOND being retired (not yet committed)
    proposal = await pending_upgrade(api)
    await api.token("club_operator")
    decide = {"input": {"id": gid("GradeProposal", proposal), "decision": "APPROVE", "reason": "Checked"}}
    retiring = ("WITH held AS (SELECT code FROM grade WHERE code = 'DIAMOND' FOR UPDATE)"
                " UPDATE grade SET status = 'RETIRED' WHERE code IN (SELECT code FROM held)")  # fmt: skip
    # when the operator approves it meanwhile, then the approval waits for the retirement
    answer = (await api.waits_for(retiring, api.data(DECIDE, decide, as_="club_operator")))["decideGradeProposal"]
    # and the proposal lapses: she keeps EMERALD
    assert (answer["errors"], answer["proposal"]["state"]) == ([], "LAPSED")
    assert (await history(api, "Wang Fang"))["grade"] == {"code": "EMERALD"}


@pytest.mark.parametrize(
    ("removal", "code"),
    [("UPDATE grade SET status = 'RETIRED' WHERE code IN (SELECT code FROM held)", "GRADE_RETIRED"),
     ("DELETE FROM grade WHERE code IN (SELECT code FROM held)", "NOT_FOUND")],
    ids=["retired", "deleted"],
)  # fmt: skip
async def test_a_grade_retired_or_deleted_while_it_is_given_is_not_given(api, removal, code):
    # given a new PEARL grade nobody holds, being retired or deleted by headquarters (not yet committed)
    await api.scalar("INSERT INTO grade (code, name, rank, card_type, national_roaming) VALUES ('PEARL', 'Pearl', 4,"
                     " 'PEARL', false) RETURNING 1")  # fmt: skip
    request = {"input": {"memberId": gid("Member", api.demo.members["Li Wei"]), "gradeCode": "PEARL",
                         "reason": "Campaign", "idempotencyKey": "r-1"}}  # fmt: skip
    await api.token("club_operator")
    # when the Guangdong operator gives it to Li Wei meanwhile, then the change waits for the removal
    held = f"WITH held AS (SELECT code FROM grade WHERE code = 'PEARL' FOR UPDATE) {removal}"
    answer = (await api.waits_for(held, api.data(CHANGE, request, as_="club_operator")))["changeMemberGrade"]
    # and is refused once it is committed: he keeps DIAMOND
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [(["input", "gradeCode"], code)]
    assert (await history(api, "Li Wei"))["grade"] == {"code": "DIAMOND"}


async def test_a_bulk_change_takes_only_the_callers_subtree_and_refuses_over_its_cap_or_matching_nobody(api):
    # when the Guangdong operator changes the SAPPHIRE members of Guangdong (none) to EMERALD, then everyone
    # of Guangdong to SAPPHIRE
    none = {"input": {"filter": {"gradeCode": "SAPPHIRE"}, "gradeCode": "EMERALD", "reason": "Promotion",
                      "idempotencyKey": "b-0"}}  # fmt: skip
    nobody = (await api.data(CHANGE_ALL, none, as_="club_operator"))["changeMemberGrades"]
    every = {"input": {"filter": {}, "gradeCode": "SAPPHIRE", "reason": "Campaign ended", "idempotencyKey": "b-1"}}
    changed = (await api.data(CHANGE_ALL, every, as_="club_operator"))["changeMemberGrades"]
    # then the first matched nobody (Zhang Min is in Beijing), the second changed Li Wei and Wang Fang only
    assert [e["code"] for e in nobody["errors"]] == ["NOTHING_MATCHES"]
    assert changed == {"errors": [], "replayed": False, "count": 2}
    assert (await history(api, "Zhang Min"))["gradeHistory"] == []
    assert [(await history(api, n))["gradeHistory"][0]["kind"] for n in ("Li Wei", "Wang Fang")] == ["MANUAL"] * 2


MY_PROGRESS = """{ me { gradeProgress { grade { code } nextGrade { code } projectedGrade { code } willDowngradeOn
    requirements { metric current required met } } } }"""


async def test_a_members_progress_shows_the_next_grade_and_how_far_they_are(api):
    # given Zhang Min (SAPPHIRE) paying 100 yuan a month
    await standard_year(api)
    await pays(api, "Zhang Min", 10_000)
    # when she looks at her progress
    progress = (await api.data(MY_PROGRESS, as_="other_member"))["me"]["gradeProgress"]
    # then EMERALD is next: months met, ARPU 100 of 150 yuan not yet
    assert (progress["grade"], progress["nextGrade"], progress["projectedGrade"]) == (
        {"code": "SAPPHIRE"}, {"code": "EMERALD"}, {"code": "SAPPHIRE"})  # fmt: skip
    assert progress["requirements"][1] == {"metric": "ARPU_FEN", "current": "10000", "required": "15000", "met": False}
    assert progress["requirements"][0]["metric"] == "MONTHS_IN_NETWORK" and progress["requirements"][0]["met"]
    assert progress["willDowngradeOn"] is None


REVIEW = """query($id: ID!) { memberGradeReview(memberId: $id) { asOf grade { code } proposedGrade { code }
    figures { arpuFen } rules { grade { code } national met } } }"""


async def test_staff_review_a_members_figures_and_every_rules_verdict_before_a_change(api):
    await standard_year(api)
    await pays(api, "Li Wei", 15_000)
    answer = await api.data(REVIEW, {"id": gid("Member", api.demo.members["Li Wei"])}, as_="club_operator")
    found = answer["memberGradeReview"]
    assert (found["grade"], found["proposedGrade"], found["figures"]) == ({"code": "DIAMOND"}, {"code": "EMERALD"},
                                                                          {"arpuFen": 15_000})  # fmt: skip
    assert [(r["grade"]["code"], r["met"]) for r in found["rules"]] == [("DIAMOND", False), ("EMERALD", True),
                                                                        ("SAPPHIRE", True)]  # fmt: skip


async def test_a_vip_customer_qualifies_for_diamond_by_importance_alone(api):
    # given Wang Fang (EMERALD) set VIP by the Guangdong operator (Shenzhen is in Guangdong)
    await standard_year(api)
    answer = await api.data(
        """mutation($input: SetCustomerImportanceInput!) { setCustomerImportance(input: $input) {
            errors { code } customer { importance
                importanceHistory { importanceBefore importanceAfter reason } } } }""",
        {"input": {"customerId": gid("Customer", api.demo.customers["Wang Fang"]), "importance": "VIP",
                   "reason": "Group account"}}, as_="club_operator",
    )  # fmt: skip
    assert answer["setCustomerImportance"]["customer"]["importanceHistory"] == [
        {"importanceBefore": "NORMAL", "importanceAfter": "VIP", "reason": "Group account"}]  # fmt: skip
    # when the review runs
    run = await reviewed(api)
    # then she is upgraded to DIAMOND
    assert run.upgrade == 1 and (await history(api, "Wang Fang"))["grade"]["code"] == "DIAMOND"


CARD = """{ me { card { cardType entitledCardType gradeChangeReplacementOffered } } }"""


async def test_after_a_grade_change_the_card_shows_its_entitlement_to_a_replacement(api):
    # given Li Wei (DIAMOND card) changed to EMERALD
    request = {"input": {"memberId": gid("Member", api.demo.members["Li Wei"]), "gradeCode": "EMERALD",
                         "reason": "Correction", "idempotencyKey": "c-1"}}  # fmt: skip
    await api.data(CHANGE, request, as_="club_operator")
    # when he looks at his cards
    card = (await api.data(CARD, as_="member"))["me"]["card"]
    # then his DIAMOND card offers a replacement by an EMERALD one
    assert card == {"cardType": "DIAMOND", "entitledCardType": "EMERALD", "gradeChangeReplacementOffered": True}
    # and when the club operator replaces it for the grade change, his new card is EMERALD and offers nothing
    replaced = await api.data(
        """mutation($input: ReplaceCardInput!) { replaceCard(input: $input) { errors { code } card { cardType } } }""",
        {"input": {"oldCardNumber": str(api.demo.cards["Li Wei"]), "newCardNumber": "6221000000000003",
                   "reason": "GRADE_CHANGE"}}, as_="club_operator",
    )  # fmt: skip
    assert replaced["replaceCard"] == {"errors": [], "card": {"cardType": "EMERALD"}}
    card = (await api.data(CARD, as_="member"))["me"]["card"]
    assert card == {"cardType": "EMERALD", "entitledCardType": "EMERALD", "gradeChangeReplacementOffered": False}
