"""Statements per request, grades (resolvers/grades, and the grade fields under members, customers and cards)."""

from __future__ import annotations

import pytest

from tests.api import gid
from tests.graphql.cases.grades import pending_upgrade
from tests.statement_counts import HeldJobs, assert_same_statements, assert_statements, measure, measure_case

# Exactly how many SQL statements each request sends, its authentication included.
STATEMENTS = {
    "createGrade": 6,
    "updateGrade": 5,
    "retireGrade": 5,
    "deleteGrade": 6,
    "setCustomerImportance": 6,
    "createGradeRule": 8,  # with the lock of its grade and branch's rules (`one_at_a_time`)
    "updateGradeRule": 9,  # the same
    "runGradeReview": 10,  # with the kind's lock and the runs of other dates under way (one review at a time)
    "decideGradeProposal": 5,
    "decideGradeProposals": 4,
    "changeMemberGrade": 10,
    "changeMemberGrades": 8,
    "gradeRules": 5,
    "GradeRule.alternatives": 5,
    "GradeRule.changes": 5,
    "gradeProposals": 6,
    "gradeReviewRuns": 4,
    "Member.gradeHistory": 6,
    "Customer.importanceHistory": 6,
    "MemberGradeReview.rules": 6,
    "GradeRuleVerdict.alternatives": 6,
    "GradeAlternative.requirements": 6,
    "GradeProgress.requirements": 7,
}

MUTATIONS = [m for m in STATEMENTS if m[0].islower() and m not in {"gradeRules", "gradeProposals", "gradeReviewRuns",
                                                                    "runGradeReview"}]  # fmt: skip


@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_a_successful_mutation_sends_exactly_its_statements(api, statements, mutation):
    # given the demo data and a valid request from an allowed caller (tests/graphql/cases)
    # when the caller sends it
    measured = await measure_case(api, statements, mutation)
    # then it succeeded with exactly the recorded number of statements
    assert_statements(mutation, measured, STATEMENTS[mutation])


async def test_starting_a_review_sends_exactly_its_statements(app, api, statements):
    with HeldJobs(app.state.services.jobs) as jobs:
        measured = await measure_case(api, statements, "runGradeReview")
        assert len(jobs.held) == 1
    assert_statements("runGradeReview", measured, STATEMENTS["runGradeReview"])


RULES = """{ gradeRules { id windowMonths effectiveFrom grade { code } branch { code }
    alternatives { monthsInNetwork arpuFen importance } changes { action staff { username } } } }"""


async def test_the_grade_rules_cost_the_same_statements_whatever_their_number(api, statements):
    # given the demo's three national rules
    small = await measure(api, statements, RULES, as_="hq_admin")
    # when each grade has 10 more, ended, with two alternatives and a change each
    await api.scalar(
        """WITH made AS (
               INSERT INTO grade_rule (grade_code, branch_id, window_months, alternatives, effective_from,
                                       effective_to)
               SELECT g.code, :hq, 12, '[{"arpu_fen": 1}, {"importance": "VIP"}]', make_date(1990 + n, 1, 1),
                      make_date(1990 + n, 12, 31)
               FROM grade g, generate_series(0, 9) n RETURNING id)
           INSERT INTO grade_rule_change (rule_id, action, after) SELECT id, 'CREATE', '{}' FROM made RETURNING 1""",
        hq=api.demo.branches["HQ"],
    )
    large = await measure(api, statements, RULES, as_="hq_admin")
    # then the longer list cost the same statements
    assert len(small.data("gradeRules")) + 30 == len(large.data("gradeRules"))
    for name in ("gradeRules", "GradeRule.alternatives", "GradeRule.changes"):
        assert_same_statements(name, {"demo": small, "30 more": large}, STATEMENTS[name])


PROPOSALS = """{ gradeProposals(first: 50) { edges { node { id kind state gradeFrom gradeTo figures { arpuFen }
    customer { name } member { memberNumber } branch { code } club { code } rule { id } decidedBy { username } }
    } } }"""


async def test_a_proposals_page_costs_the_same_statements_whatever_its_size(api, statements):
    await pending_upgrade(api)
    small = await measure(api, statements, PROPOSALS, as_="hq_admin")
    await api.scalar(
        """INSERT INTO grade_proposal (as_of, customer_id, member_id, branch_id, club_id, kind, grade_from, grade_to,
                                       figures, state)
           SELECT current_date - g, customer_id, member_id, branch_id, club_id, kind, grade_from, grade_to, figures,
                  state FROM grade_proposal, generate_series(1, 30) g RETURNING 1"""
    )
    large = await measure(api, statements, PROPOSALS, as_="hq_admin")
    assert len(large.data("gradeProposals")["edges"]) == 31
    assert_same_statements("gradeProposals", {"one": small, "31": large}, STATEMENTS["gradeProposals"])


RUNS = "{ gradeReviewRuns { id asOf status proposals upgrade applied startedBy { username } } }"


async def test_the_review_runs_cost_the_same_statements_whatever_their_number(api, statements):
    async def more_runs(count: int, first: int) -> None:
        await api.scalar(
            """INSERT INTO job_run (kind, subject, status, staff_id, total, figures, finished_at)
               SELECT 'GRADE_REVIEW', (DATE '2020-01-01' + g)::text, 'DONE', :staff, 3, '{"proposals": 1}', now()
               FROM generate_series(CAST(:first AS int), CAST(:first AS int) + CAST(:count AS int) - 1) g
               RETURNING 1""",
            staff=api.demo.staff["admin"], count=count, first=first,
        )  # fmt: skip

    await more_runs(1, 0)
    small = await measure(api, statements, RUNS, as_="hq_admin")
    await more_runs(20, 100)
    large = await measure(api, statements, RUNS, as_="hq_admin")
    assert len(large.data("gradeReviewRuns")) == 21
    assert_same_statements("gradeReviewRuns", {"one": small, "21": large}, STATEMENTS["gradeReviewRuns"])


HISTORY = """query($id: ID!) { member(id: $id) { gradeHistory { gradeFrom gradeTo kind reason staff { username }
    figures { arpuFen } } customer { importanceHistory { importanceBefore importanceAfter staff { username } } } } }"""


async def test_a_members_grade_and_importance_histories_cost_the_same_statements_whatever_their_length(api, statements):
    member = api.demo.members["Li Wei"]

    async def more(count: int) -> None:
        await api.scalar(
            """INSERT INTO grade_change (member_id, grade_from, grade_to, kind, staff_id, reason)
               SELECT :m, 'DIAMOND', 'DIAMOND', 'MANUAL', :staff, 'Check ' || g FROM generate_series(1, :n) g
               RETURNING 1""", m=member, staff=api.demo.staff["admin"], n=count)  # fmt: skip
        await api.scalar(
            """INSERT INTO customer_importance_change (customer_id, importance_before, importance_after, reason,
                                                       staff_id)
               SELECT :c, 'NORMAL', 'KEY', 'Check ' || g, :staff FROM generate_series(1, :n) g RETURNING 1""",
            c=api.demo.customers["Li Wei"], staff=api.demo.staff["admin"], n=count)  # fmt: skip

    await more(1)
    small = await measure(api, statements, HISTORY, {"id": gid("Member", member)}, as_="hq_admin")
    await more(30)
    large = await measure(api, statements, HISTORY, {"id": gid("Member", member)}, as_="hq_admin")
    assert len(large.data("member")["gradeHistory"]) == 31
    for name in ("Member.gradeHistory", "Customer.importanceHistory"):
        assert_same_statements(name, {"one": small, "31": large}, STATEMENTS[name])


REVIEW = """query($id: ID!) { memberGradeReview(memberId: $id) { asOf grade { code } proposedGrade { code }
    figures { arpuFen } rules { rule { id } grade { code } met figures { arpuFen }
    alternatives { met requirements { metric current required met } } } } }"""
PROGRESS = """{ me { gradeProgress { grade { code } nextGrade { code } projectedGrade { code }
    requirements { metric current required met } } } }"""


async def test_a_members_grade_review_and_progress_cost_the_same_statements_whatever_the_rules(api, statements):
    member = {"id": gid("Member", api.demo.members["Zhang Min"])}
    small = await measure(api, statements, REVIEW, member, as_="hq_admin")
    small_progress = await measure(api, statements, PROGRESS, as_="other_member")
    # when every rule asks for every threshold, in five alternative sets
    every = '{"months_in_network": 1, "arpu_fen": 1, "points_earned": 0, "importance": "NORMAL", "spend_fen": 1}'
    await api.scalar(f"UPDATE grade_rule SET alternatives = '[{', '.join([every] * 5)}]' RETURNING 1")
    large = await measure(api, statements, REVIEW, member, as_="hq_admin")
    large_progress = await measure(api, statements, PROGRESS, as_="other_member")
    assert len(large.data("memberGradeReview")["rules"][0]["alternatives"]) == 5
    for name in ("MemberGradeReview.rules", "GradeRuleVerdict.alternatives", "GradeAlternative.requirements"):
        assert_same_statements(name, {"demo": small, "every threshold": large}, STATEMENTS[name])
    assert_same_statements("GradeProgress.requirements", {"demo": small_progress, "every threshold": large_progress},
                           STATEMENTS["GradeProgress.requirements"])  # fmt: skip
