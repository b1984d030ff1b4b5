"""Grade definitions, grade rules and customer importance as data [G1][G3], and how the review reads them:
thresholds at their boundaries, alternative sets, a province's override, points earned (not balance), the
automatic kinds, caps of the bulk paths, and a proposal that lapsed before its approval."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from domain import clock
from domain.grades import changes, review
from domain.grades.review import GradePolicy
from domain.grades.tables import ProposalKind
from tests.api import gid
from tests.graphql.test_grades import (
    CHANGE,
    CHANGE_ALL,
    DECIDE,
    DECIDE_ALL,
    history,
    last_month_first_day,
    pays,
    proposals,
    reviewed,
    standard_year,
)
from tests.graphql.test_points import REVERSE

CREATE_RULE = """mutation($input: CreateGradeRuleInput!) { createGradeRule(input: $input) {
    errors { field code message } rule { id windowMonths effectiveFrom grade { code } branch { code }
    alternatives { monthsInNetwork arpuFen pointsEarned importance spendFen } changes { action after } } } }"""
UPDATE_RULE = """mutation($input: UpdateGradeRuleInput!) { updateGradeRule(input: $input) {
    errors { field code message } rule { effectiveTo changes { action before after staff { username } } } } }"""
GRADE = """mutation($input: %sInput!) { %s(input: $input) { errors { field code message }
    grade { code name rank cardType roaming serviceStandards status } } }"""


def tomorrow() -> str:
    return (clock.today() + timedelta(days=1)).isoformat()


def rule_input(api, **more) -> dict:
    return {"input": {"gradeCode": "DIAMOND", "windowMonths": 12, "alternatives": [{"arpuFen": 40_000}],
                      "effectiveFrom": tomorrow()} | more}  # fmt: skip


def codes(answer: dict, field: str) -> list[str]:
    return [e["code"] for e in answer[field]["errors"]]


async def test_a_province_rule_overrides_the_national_one_for_its_customers_only(api):
    # given Guangdong's own EMERALD rule since 2000 (200 yuan a month), and Wang Fang (Shenzhen, Guangdong,
    # EMERALD) and Zhang Min (Beijing, SAPPHIRE) both paying 150 yuan a month
    await api.scalar(
        """INSERT INTO grade_rule (grade_code, branch_id, window_months, alternatives, effective_from)
           VALUES ('EMERALD', :gd, 12, '[{"months_in_network": 12, "arpu_fen": 20000}]', '2000-01-01') RETURNING 1""",
        gd=api.demo.branches["GD"],
    )  # fmt: skip
    await standard_year(api)
    await pays(api, "Wang Fang", 15_000)
    await pays(api, "Zhang Min", 15_000)
    # when the review runs
    await reviewed(api)
    # then Wang Fang falls short of Guangdong's rule (a downgrade to SAPPHIRE, suppressed), Zhang Min meets the
    # national rule (an upgrade to EMERALD)
    found = {p["customer"]["name"]: (p["kind"], p["gradeTo"]) for p in await proposals(api)}
    assert found == {"Wang Fang": ("DOWNGRADE", "SAPPHIRE"), "Zhang Min": ("UPGRADE", "EMERALD")}


async def test_months_in_network_at_the_threshold_qualify_and_a_month_short_do_not(api):
    # given two new customers of Guangdong paying 50 yuan a month: one with an account of exactly 6 months,
    # one of 6 months less a day (SAPPHIRE asks for 6)
    today = clock.today()
    six = date(today.year, today.month - 6, today.day) if today.month > 6 else date(today.year - 1, today.month + 6,
                                                                                      today.day)  # fmt: skip
    for name, opened, account in (("Six Months", six, "81000001"), ("Nearly Six", six + timedelta(days=1),
                                                                     "81000002")):  # fmt: skip
        await api.scalar(
            """WITH c AS (INSERT INTO customer (branch_id, kind, name, id_document_type, id_document_number)
                          VALUES (:gd, 'INDIVIDUAL', :name, 'ID_CARD', :account) RETURNING id)
               INSERT INTO account (customer_id, account_number, opened_on) SELECT id, :account, :opened FROM c
               RETURNING 1""", gd=api.demo.branches["GD"], name=name, account=account, opened=opened)  # fmt: skip
        await pays(api, name, 5_000)
    await standard_year(api)
    # when the review runs
    await reviewed(api)
    # then only the customer of six whole months is proposed for admission
    admitted = [(p["customer"]["name"], p["figures"]["monthsInNetwork"]) for p in await proposals(api, kind="ADMIT")]
    assert admitted == [("Six Months", 6)]


async def test_points_earned_count_what_was_earned_whatever_was_spent_since(api):
    # given EMERALD open to 1,000 points earned in the window too, and Zhang Min (SAPPHIRE) earning 999 points
    # last month, which leave her balance again
    await api.scalar("""UPDATE grade_rule SET alternatives = alternatives || '[{"points_earned": 1000}]'
                        WHERE grade_code = 'EMERALD' RETURNING 1""")  # fmt: skip
    await standard_year(api)
    zhang = api.demo.members["Zhang Min"]
    earn = "SELECT points_move(:m, 'BONUS_PROMOTION', 'ISSUANCE', :p, CAST(:on AS date), 'Campaign', NULL)"
    await api.scalar(earn, m=zhang, p=999, on=last_month_first_day())
    await api.scalar("SELECT points_move(:m, 'ADJUSTMENT', 'ADJUSTMENT', -999, CAST(:on AS date), 'Taken', NULL)",
                     m=zhang, on=last_month_first_day())  # fmt: skip
    below = await review.review_grades(_sessions(api), clock.today() - timedelta(days=1), GradePolicy(),
                                       chunk_customers=2)  # fmt: skip
    # when she earns one more point, and the review runs again (as of today)
    await api.scalar(earn, m=zhang, p=1, on=last_month_first_day())
    at = await reviewed(api)
    # then 999 did not qualify, 1,000 did, though her balance is 1
    if clock.today().day > 1:  # the day before is in the same month: the same window
        assert below.upgrade == 0
    assert at.upgrade == 1
    upgrade = (await proposals(api, kind="UPGRADE"))[0]
    assert upgrade["figures"]["pointsEarned"] == 1_000
    assert await api.violations() == []


async def test_points_earned_and_reversed_as_a_mistake_were_never_earned(api):
    # given EMERALD open to 1,000 points earned in the window, and Zhang Min (SAPPHIRE) given 1,000 points last
    # month by mistake, the entry reversed
    await api.scalar("""UPDATE grade_rule SET alternatives = alternatives || '[{"points_earned": 1000}]'
                        WHERE grade_code = 'EMERALD' RETURNING 1""")  # fmt: skip
    await standard_year(api)
    given = await api.scalar("SELECT points_move(:m, 'BONUS_PROMOTION', 'ISSUANCE', 1000, CAST(:on AS date), 'Oops',"
                             " NULL)", m=api.demo.members["Zhang Min"], on=last_month_first_day())  # fmt: skip
    entry = await api.scalar("SELECT max(id) FROM ledger_transaction WHERE member_id = :m",
                             m=api.demo.members["Zhang Min"])  # fmt: skip
    assert given is not None
    reverse = {"input": {"transactionId": gid("PointsTransaction", entry), "reason": "Given by mistake",
                         "idempotencyKey": "undo"}}  # fmt: skip
    assert (await api.data(REVERSE, reverse, as_="hq_admin"))["reversePointsTransaction"]["errors"] == []
    # when the review runs
    run = await reviewed(api)
    # then she earned nothing: no upgrade
    assert run.upgrade == 0
    assert await api.violations() == []


def _sessions(api):
    from loyalty.database import make_sessions

    return make_sessions(api.engine)


async def test_admissions_apply_at_once_when_the_policy_makes_them_automatic(api):
    # given the prospect with an account since 2020 paying 300 yuan a month, and admissions automatic
    prospect = api.demo.customers["Pearl River Trading Co."]
    await api.scalar("""INSERT INTO account (customer_id, account_number, opened_on)
                        VALUES (:c, '80000099', '2020-01-01') RETURNING 1""", c=prospect)  # fmt: skip
    await standard_year(api)
    await pays(api, "Pearl River Trading Co.", 30_000)
    # when the review runs
    run = await reviewed(api, GradePolicy(automatic=frozenset({ProposalKind.ADMIT, ProposalKind.UPGRADE})))
    # then the customer is a DIAMOND member already, with the admission in the grade history
    assert (run.admit, run.applied) == (1, 1)
    member = await api.scalar("SELECT id FROM member WHERE customer_id = :c", c=prospect)
    found = (await api.data(
        "query($id: ID!) { member(id: $id) { grade { code } gradeHistory { kind gradeFrom gradeTo } } }",
        {"id": gid("Member", member)}, as_="hq_admin"))["member"]  # fmt: skip
    assert found == {"grade": {"code": "DIAMOND"},
                     "gradeHistory": [{"kind": "ADMIT", "gradeFrom": None, "gradeTo": "DIAMOND"}]}  # fmt: skip
    assert await api.violations() == []


async def test_a_proposal_whose_member_changed_since_the_review_lapses_when_approved(api):
    # given a pending revocation of Li Wei, and then a manual change of his grade
    await standard_year(api)
    await pays(api, "Li Wei", 0)
    await reviewed(api)
    (found,) = await proposals(api, kind="REVOKE")
    request = {"memberId": gid("Member", api.demo.members["Li Wei"]), "gradeCode": "EMERALD", "reason": "Appeal",
               "idempotencyKey": "m-1"}  # fmt: skip
    await api.data(CHANGE, {"input": request}, as_="club_operator")
    # when the revocation is approved
    answer = await api.data(DECIDE, {"input": {"id": found["id"], "decision": "APPROVE", "reason": "Late"}},
                            as_="club_operator")  # fmt: skip
    # then it lapsed and Li Wei is still an EMERALD member
    assert answer["decideGradeProposal"]["proposal"]["state"] == "LAPSED"
    li = await history(api, "Li Wei")
    assert (li["status"], li["grade"]["code"]) == ("ACTIVE", "EMERALD")


async def test_bulk_paths_refuse_over_their_cap_and_write_nothing(api, monkeypatch):
    # given caps of one member and one proposal, two pending revocations and two Guangdong members
    monkeypatch.setattr(changes, "members_changed_max", 1)
    monkeypatch.setattr(review, "decisions_max", 1)
    await pays(api, "Li Wei", 0)
    await pays(api, "Wang Fang", 0)
    await reviewed(api)
    before = await api.fingerprint()
    # when the Guangdong operator changes every member, and approves every revocation
    grades = await api.data(CHANGE_ALL, {"input": {"filter": {}, "gradeCode": "SAPPHIRE", "reason": "x",
                                                   "idempotencyKey": "cap"}}, as_="club_operator")  # fmt: skip
    decided = await api.data(DECIDE_ALL, {"input": {"filter": {"kind": "REVOKE"}, "decision": "APPROVE",
                                                    "reason": "x"}}, as_="club_operator")  # fmt: skip
    # then both are refused as too many, with nothing written
    assert codes(grades, "changeMemberGrades") == ["TOO_MANY_MATCHES"]
    assert codes(decided, "decideGradeProposals") == ["TOO_MANY_MATCHES"]
    assert await api.fingerprint() == before


async def test_a_decision_by_filter_that_matches_nothing_is_refused(api):
    answer = await api.data(DECIDE_ALL, {"input": {"filter": {"kind": "ADMIT"}, "decision": "REJECT",
                                                   "reason": "x"}}, as_="hq_admin")  # fmt: skip
    assert codes(answer, "decideGradeProposals") == ["NOTHING_MATCHES"]


async def test_a_province_rule_is_kept_with_its_history_and_refused_where_it_would_rewrite_the_past(api):
    # given the Guangdong administrator's DIAMOND rule for Guangdong from tomorrow
    gd = gid("Branch", api.demo.branches["GD"])
    made = (await api.data(CREATE_RULE, rule_input(api, branchId=gd), as_="administrator"))["createGradeRule"]
    assert made["errors"] == [], made
    rule = made["rule"]
    assert (rule["branch"], rule["alternatives"][0]["arpuFen"], rule["changes"][0]["action"]) == (
        {"code": "GD"}, 40_000, "CREATE")  # fmt: skip
    # when a second one overlaps it, one starts today, and the first is ended before it starts
    overlap = await api.data(CREATE_RULE, rule_input(api, branchId=gd), as_="administrator")
    today = await api.data(CREATE_RULE, rule_input(api, branchId=gd, effectiveFrom=clock.today().isoformat(),
                                                   gradeCode="EMERALD"), as_="administrator")  # fmt: skip
    ended = await api.data(UPDATE_RULE, {"input": {"id": rule["id"], "effectiveTo": "2030-12-31"}},
                           as_="administrator")  # fmt: skip
    # then the overlap and today are refused; the end is recorded with before and after
    assert codes(overlap, "createGradeRule") == ["RULE_ALREADY_IN_FORCE"]
    assert codes(today, "createGradeRule") == ["RULE_IN_EFFECT"]
    changed = ended["updateGradeRule"]["rule"]
    assert changed["effectiveTo"] == "2030-12-31" and changed["changes"][-1]["action"] == "RETIRE"
    assert changed["changes"][-1]["before"]["effective_to"] is None
    assert changed["changes"][-1]["staff"] == {"username": "gd.admin"}


async def test_a_rule_in_effect_keeps_its_thresholds(api):
    national = await api.scalar("SELECT id FROM grade_rule WHERE grade_code = 'SAPPHIRE'")
    answer = await api.data(UPDATE_RULE, {"input": {"id": gid("GradeRule", national),
                                                    "alternatives": [{"arpuFen": 1}]}}, as_="hq_admin")  # fmt: skip
    assert codes(answer, "updateGradeRule") == ["RULE_IN_EFFECT"]


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ({"windowMonths": 0}, "OUT_OF_RANGE"),
        ({"windowMonths": 37}, "OUT_OF_RANGE"),
        ({"alternatives": []}, "OUT_OF_RANGE"),
        ({"alternatives": [{}]}, "REQUIRED"),
        ({"alternatives": [{"arpuFen": -1}]}, "OUT_OF_RANGE"),
        ({"alternatives": [{"pointsEarned": 10**9}]}, "OUT_OF_RANGE"),
        ({"alternatives": [{"arpuFen": 1}] * 6}, "OUT_OF_RANGE"),
        ({"gradeCode": "GOLD"}, "NOT_FOUND"),
        ({"effectiveFrom": "2027-06-01", "effectiveTo": "2027-05-31"}, "INVALID"),
    ],
)
async def test_a_grade_rule_with_bad_thresholds_or_dates_is_refused_and_nothing_written(api, given, code):
    before = await api.fingerprint()
    answer = await api.data(CREATE_RULE, rule_input(api, **given), as_="hq_admin")
    assert codes(answer, "createGradeRule") == [code], answer
    assert await api.fingerprint() == before


async def test_a_city_holds_no_grade_rules(api):
    answer = await api.data(CREATE_RULE, rule_input(api, branchId=gid("Branch", api.demo.branches["SZ"])),
                            as_="hq_admin")  # fmt: skip
    assert codes(answer, "createGradeRule") == ["INVALID"]


async def test_grades_are_added_edited_retired_and_deleted_only_when_nothing_names_them(api):
    # given a new PEARL grade of rank 4
    new = {"code": "PEARL", "name": "Pearl", "rank": 4, "cardType": "PEARL", "roaming": "PROVINCE"}
    made = (await api.data(GRADE % ("CreateGrade", "createGrade"), {"input": new}, as_="hq_admin"))["createGrade"]
    assert made["grade"] == new | {"serviceStandards": "", "status": "ACTIVE"}, made
    # when it is created again, another takes its rank, it is edited, DIAMOND is deleted, and PEARL retired twice
    again = await api.data(GRADE % ("CreateGrade", "createGrade"), {"input": new}, as_="hq_admin")
    cased = await api.data(GRADE % ("CreateGrade", "createGrade"), {"input": new | {"code": new["code"].lower(),
                           "rank": 77}}, as_="hq_admin")  # fmt: skip
    rank = await api.data(GRADE % ("CreateGrade", "createGrade"), {"input": new | {"code": "RUBY"}}, as_="hq_admin")
    edited = await api.data(GRADE % ("UpdateGrade", "updateGrade"), {"input": {"code": "PEARL", "roaming":
                            "NATIONAL", "serviceStandards": "Lounge access"}}, as_="hq_admin")  # fmt: skip
    in_use = await api.data(GRADE % ("GradeCode", "deleteGrade"), {"input": {"code": "DIAMOND"}}, as_="hq_admin")
    recarded = await api.data(GRADE % ("UpdateGrade", "updateGrade"), {"input": {"code": "DIAMOND",
                              "cardType": "EMERALD"}}, as_="hq_admin")  # fmt: skip
    new_card = await api.data(GRADE % ("UpdateGrade", "updateGrade"), {"input": {"code": "PEARL",
                              "cardType": "PEARL2"}}, as_="hq_admin")  # fmt: skip
    retired = await api.data(GRADE % ("GradeCode", "retireGrade"), {"input": {"code": "PEARL"}}, as_="hq_admin")
    twice = await api.data(GRADE % ("GradeCode", "retireGrade"), {"input": {"code": "PEARL"}}, as_="hq_admin")
    deleted = await api.data(GRADE % ("GradeCode", "deleteGrade"), {"input": {"code": "PEARL"}}, as_="hq_admin")
    # then each answers as the rules say
    assert codes(again, "createGrade") == codes(cased, "createGrade") == ["DUPLICATE"]  # whatever its case
    assert codes(rank, "createGrade") == ["GRADE_RANK_TAKEN"]
    assert edited["updateGrade"]["grade"]["roaming"] == "NATIONAL"
    assert edited["updateGrade"]["grade"]["serviceStandards"] == "Lounge access"
    assert codes(in_use, "deleteGrade") == ["GRADE_IN_USE"]
    assert codes(recarded, "updateGrade") == ["GRADE_IN_USE"]  # Li Wei holds a DIAMOND card
    assert new_card["updateGrade"]["grade"]["cardType"] == "PEARL2"  # no card is of PEARL yet
    assert retired["retireGrade"]["grade"]["status"] == "RETIRED"
    assert codes(twice, "retireGrade") == ["GRADE_RETIRED"]
    assert deleted["deleteGrade"]["errors"] == []
    grades = (await api.data("{ grades { code earningMultiplier } }"))["grades"]
    assert [g["code"] for g in grades] == ["DIAMOND", "EMERALD", "SAPPHIRE"]
    assert grades[0]["earningMultiplier"] == "1.5"  # the demo's GRADE_MULTIPLIER rule of DIAMOND


async def test_an_unchanged_importance_is_refused(api):
    answer = await api.data(
        """mutation($input: SetCustomerImportanceInput!) {
            setCustomerImportance(input: $input) { errors { code } } }""",
        {"input": {"customerId": gid("Customer", api.demo.customers["Li Wei"]), "importance": "NORMAL",
                   "reason": "Check"}}, as_="club_operator",
    )  # fmt: skip
    assert codes(answer, "setCustomerImportance") == ["IMPORTANCE_UNCHANGED"]


RUN = """mutation($input: RunGradeReviewInput!) { runGradeReview(input: $input) {
    errors { field code message } run { id asOf status customersTotal } } }"""


async def test_a_review_is_started_from_the_api_and_a_date_to_come_is_refused(api):
    started = (await api.data(RUN, {"input": {}}, as_="hq_admin"))["runGradeReview"]
    future = await api.data(RUN, {"input": {"asOf": tomorrow()}}, as_="hq_admin")
    assert started["errors"] == [] and started["run"]["asOf"] == clock.today().isoformat(), started
    assert codes(future, "runGradeReview") == ["AS_OF_IN_FUTURE"]


REVIEW = """query($id: ID!) { memberGradeReview(memberId: $id) { grade { code } proposedGrade { code } } }"""


@pytest.mark.parametrize("fen", [0, 4_999, 5_000, 15_000, 29_999, 30_000])
async def test_a_members_grade_review_agrees_with_what_the_review_run_proposes(api, fen):
    # given Li Wei paying `fen` a month, and the other members what their grades ask
    await standard_year(api)
    await pays(api, "Li Wei", fen)
    # when staff look at his review, and the run goes
    seen = await api.data(REVIEW, {"id": gid("Member", api.demo.members["Li Wei"])}, as_="hq_admin")
    await reviewed(api)
    # then the grade the explanation gives is the grade the run proposes (his own when it proposes nothing)
    found = [p for p in await proposals(api) if p["customer"]["name"] == "Li Wei"]
    proposed = seen["memberGradeReview"]["proposedGrade"]
    assert (proposed["code"] if proposed else None) == (found[0]["gradeTo"] if found else "DIAMOND")


async def test_a_review_on_a_day_without_rules_is_refused_rather_than_taking_every_grade(api):
    # given the demo's rules, in force from 2000
    before = await api.fingerprint()
    # when a review as of 1999 is started
    answer = await api.data(RUN, {"input": {"asOf": "1999-06-01"}}, as_="hq_admin")
    # then it is refused, and nothing was written
    assert codes(answer, "runGradeReview") == ["NO_RULES_IN_FORCE"]
    assert await api.fingerprint() == before


async def test_a_members_proposal_belongs_to_the_branch_of_their_membership(api):
    # given Li Wei (a Guangdong customer) moved to the Beijing club, and paying nothing
    moved = "UPDATE member SET club_id = :club, branch_id = :bj WHERE id = :m RETURNING 1"
    await api.scalar(moved, club=api.demo.clubs["BJ-CLUB"], bj=api.demo.branches["BJ"], m=api.demo.members["Li Wei"])
    await standard_year(api)
    await pays(api, "Li Wei", 0)
    # when the review runs
    await reviewed(api)
    # then Beijing's operator sees his revocation, Guangdong's does not
    assert [p["kind"] for p in await proposals(api, as_="other_branch_operator")] == ["REVOKE"]
    assert await proposals(api, as_="club_operator") == []


async def test_a_later_review_supersedes_the_open_proposals_of_an_earlier_one(api):
    # given the prospect qualifying, reviewed yesterday and today (in this month's window both)
    prospect = api.demo.customers["Pearl River Trading Co."]
    await api.scalar("""INSERT INTO account (customer_id, account_number, opened_on)
                        VALUES (:c, '80000099', '2020-01-01') RETURNING 1""", c=prospect)  # fmt: skip
    await standard_year(api)
    await pays(api, "Pearl River Trading Co.", 30_000)
    await reviewed(api, as_of=clock.today() - timedelta(days=1))
    await reviewed(api)
    # when every pending admission is approved
    answer = await api.data(DECIDE_ALL, {"input": {"filter": {"kind": "ADMIT"}, "decision": "APPROVE",
                                                   "reason": "Welcome"}}, as_="hq_admin")  # fmt: skip
    # then the earlier one was superseded, and the customer was admitted once
    assert answer["decideGradeProposals"] == {"errors": [], "count": 1}
    assert sorted(p["state"] for p in await proposals(api)) == ["APPLIED", "SUPERSEDED"]


async def test_approving_a_proposal_to_a_grade_retired_since_lapses_it(api):
    # given a pending upgrade of Wang Fang to DIAMOND, and DIAMOND retired since
    from tests.graphql.cases.grades import pending_upgrade

    proposal = await pending_upgrade(api)
    await api.scalar("UPDATE grade SET status = 'RETIRED' WHERE code = 'DIAMOND' RETURNING 1")
    # when it is approved
    answer = await api.data(DECIDE, {"input": {"id": gid("GradeProposal", proposal), "decision": "APPROVE",
                                               "reason": "x"}}, as_="club_operator")  # fmt: skip
    # then it lapsed and Wang Fang is still EMERALD
    assert answer["decideGradeProposal"]["proposal"]["state"] == "LAPSED"
    assert (await history(api, "Wang Fang"))["grade"]["code"] == "EMERALD"


async def test_grade_histories_of_several_members_each_keep_their_newest_hundred(api):
    # given 150 changes of Li Wei's and one of Wang Fang's, older
    li, wang = api.demo.members["Li Wei"], api.demo.members["Wang Fang"]
    await api.scalar("""INSERT INTO grade_change (member_id, grade_from, grade_to, kind, reason)
                        VALUES (:w, 'EMERALD', 'EMERALD', 'MANUAL', 'Old') RETURNING 1""", w=wang)  # fmt: skip
    await api.scalar("""INSERT INTO grade_change (member_id, grade_from, grade_to, kind, reason)
                        SELECT :m, 'DIAMOND', 'DIAMOND', 'MANUAL', 'Check' FROM generate_series(1, 150) RETURNING 1""",
                     m=li)  # fmt: skip
    # when staff list both members' histories in one request
    found = await api.data("""{ members(first: 10) { edges { node { memberNumber gradeHistory { reason } } } } }""",
                           as_="hq_admin")  # fmt: skip
    # then Li Wei's shows his newest 100, Wang Fang's her one
    lengths = sorted(len(e["node"]["gradeHistory"]) for e in found["members"]["edges"])
    assert lengths == [0, 1, 100]


async def test_grade_progress_is_the_members_own(api):
    query = """query($id: ID!) { member(id: $id) { gradeProgress { grade { code } } } }"""
    found = await api.data(query, {"id": gid("Member", api.demo.members["Li Wei"])}, as_="hq_admin")
    assert found["member"]["gradeProgress"] is None


async def test_a_second_review_of_a_date_is_refused_while_the_first_runs(app, api):
    from tests.statement_counts import HeldJobs

    with HeldJobs(app.state.services.jobs):
        # given a review as of today started, its work not begun
        first = (await api.data(RUN, {"input": {}}, as_="hq_admin"))["runGradeReview"]
        # when it is started again
        again = await api.data(RUN, {"input": {}}, as_="hq_admin")
    # then the second is refused while the first is under way, and only one run is recorded
    assert first["errors"] == [] and first["run"]["status"] == "RUNNING", first
    assert codes(again, "runGradeReview") == ["GRADE_REVIEW_RUN_UNDER_WAY"]
    assert await api.scalar("SELECT count(*) FROM job_run WHERE kind = 'GRADE_REVIEW'") == 1


async def test_a_bulk_change_replays_its_count_and_refuses_its_key_for_another_change(api):
    # given the Guangdong operator's bulk change of every member to SAPPHIRE
    request = {"filter": {}, "gradeCode": "SAPPHIRE", "reason": "Campaign ended", "idempotencyKey": "bulk-1"}
    first = (await api.data(CHANGE_ALL, {"input": request}, as_="club_operator"))["changeMemberGrades"]
    # when it is sent again, and the key is sent with another grade
    again = (await api.data(CHANGE_ALL, {"input": request}, as_="club_operator"))["changeMemberGrades"]
    other = await api.data(CHANGE_ALL, {"input": request | {"gradeCode": "EMERALD"}}, as_="club_operator")
    # then the replay answers the first count, the other change is refused, and one batch was made
    assert (first["count"], again["count"], again["replayed"]) == (2, 2, True)
    assert codes(other, "changeMemberGrades") == ["IDEMPOTENCY_CONFLICT"]
    assert await api.scalar("SELECT count(*) FROM grade_change_batch") == 1
    assert await api.scalar("SELECT count(*) FROM grade_change") == 2
