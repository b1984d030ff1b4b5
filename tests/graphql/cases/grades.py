"""The grade mutations for the authorization matrix and the bad-input suite.

Who may do what (domain/access.py): grade definitions, national grade rules and the review run are for
headquarters administrators; a province's rules for its administrators (and headquarters'); reviewing proposals,
changing members' grades and setting customers' importance for administrators and club operators
(GRADE_REVIEW) within their subtree.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from domain import clock
from tests.api import Api, gid
from tests.graphql.cases import ADMINS, OTHER_BRANCH, Case, make, unique

REVIEWERS = ADMINS | {"club_operator"}
KEYS = itertools.count(1)


def tomorrow() -> str:
    return (clock.today() + timedelta(days=1)).isoformat()


async def _unused_grade(api: Api, who: str) -> dict[str, Any]:
    await api.scalar("""INSERT INTO grade (code, name, rank, card_type, national_roaming)
                        VALUES ('PEARL', 'Pearl', 9, 'PEARL', false) RETURNING 1""")  # fmt: skip
    return {"code": "PEARL"}


async def _national_rule(api: Api, who: str) -> dict[str, Any]:
    rule = await api.scalar("SELECT id FROM grade_rule WHERE grade_code = 'DIAMOND'")
    return {"id": gid("GradeRule", rule), "effectiveTo": "2030-12-31"}


async def pending_upgrade(api: Api) -> int:
    """A PENDING proposal to upgrade Wang Fang (Shenzhen, in Guangdong) to DIAMOND, as a review leaves it."""
    wang = api.demo.members["Wang Fang"]
    return await api.scalar(
        """INSERT INTO grade_proposal (as_of, customer_id, member_id, branch_id, club_id, kind, grade_from, grade_to,
                                       figures, state)
           SELECT current_date, m.customer_id, m.id, c.branch_id, m.club_id, 'UPGRADE', 'EMERALD', 'DIAMOND',
                  '{"window_months": 12, "months_in_network": 140, "arpu_fen": 30000, "spend_fen": 360000,
                    "points_earned": 0, "importance": "NORMAL"}', 'PENDING'
           FROM member m JOIN customer c ON c.id = m.customer_id WHERE m.id = :m
           ON CONFLICT (as_of, customer_id) DO UPDATE SET state = 'PENDING' RETURNING id""",
        m=wang,
    )


async def _decide_one(api: Api, who: str) -> dict[str, Any]:
    proposal = await pending_upgrade(api)
    return {"id": gid("GradeProposal", proposal), "decision": "APPROVE", "reason": "Confirmed by the club"}


async def _decide_by_filter(api: Api, who: str) -> dict[str, Any]:
    await pending_upgrade(api)
    return {"filter": {"kind": "UPGRADE"}, "decision": "REJECT", "reason": "Billing figures under review"}


CASES = {
    "createGrade": Case(
        "createGrade",
        "CreateGradeInput",
        make(
            lambda i, who: {
                "code": "PEARL",
                "name": "Pearl",
                "rank": 4,
                "cardType": "PEARL",
                "roaming": "PROVINCE",
                "serviceStandards": "Priority hotline",
            }
        ),
        {"hq_admin"},
    ),  # fmt: skip
    "updateGrade": Case(
        "updateGrade",
        "UpdateGradeInput",
        make(lambda i, who: {"code": "SAPPHIRE", "serviceStandards": "A birthday gift every year"}),
        {"hq_admin"},
    ),  # fmt: skip
    "retireGrade": Case("retireGrade", "GradeCodeInput", make(lambda i, who: {"code": "SAPPHIRE"}), {"hq_admin"}),
    "deleteGrade": Case("deleteGrade", "GradeCodeInput", _unused_grade, {"hq_admin"}),
    "setCustomerImportance": Case(
        "setCustomerImportance",
        "SetCustomerImportanceInput",
        make(lambda i, who: {"customerId": i["LI_WEI_CUSTOMER"], "importance": "KEY", "reason": "Group account"}),
        REVIEWERS,
        OTHER_BRANCH,
    ),  # fmt: skip
    "createGradeRule": Case(
        "createGradeRule",
        "CreateGradeRuleInput",
        make(
            lambda i, who: {
                "gradeCode": "DIAMOND",
                "branchId": i["GD"],
                "windowMonths": 12,
                "alternatives": [{"monthsInNetwork": 24, "arpuFen": 40_000}],
                "effectiveFrom": tomorrow(),
            }
        ),
        ADMINS,
        {"other_branch_admin"},
    ),  # fmt: skip
    "updateGradeRule": Case("updateGradeRule", "UpdateGradeRuleInput", _national_rule, {"hq_admin"}),
    "runGradeReview": Case("runGradeReview", "RunGradeReviewInput", make(lambda i, who: {}), {"hq_admin"}),
    "decideGradeProposal": Case(
        "decideGradeProposal", "DecideGradeProposalInput", _decide_one, REVIEWERS, OTHER_BRANCH
    ),
    "decideGradeProposals": Case(
        "decideGradeProposals",
        "DecideGradeProposalsInput",
        _decide_by_filter,
        REVIEWERS,
        special={w: "NOTHING_MATCHES" for w in OTHER_BRANCH},
    ),  # fmt: skip
    "changeMemberGrade": Case(
        "changeMemberGrade",
        "ChangeMemberGradeInput",
        make(
            lambda i, who: {
                "memberId": i["LI_WEI_MEMBER"],
                "gradeCode": "EMERALD",
                "reason": "Correction",
                "idempotencyKey": f"grade-{unique(who)}-{next(KEYS)}",
            }
        ),
        REVIEWERS,
        OTHER_BRANCH,
    ),  # fmt: skip
    "changeMemberGrades": Case(
        "changeMemberGrades",
        "ChangeMemberGradesInput",
        make(
            lambda i, who: {
                "filter": {},
                "gradeCode": "SAPPHIRE",
                "reason": "Campaign ended",
                "idempotencyKey": f"grades-{unique(who)}-{next(KEYS)}",
            }
        ),
        REVIEWERS,
        special={w: "NOTHING_MATCHES" for w in OTHER_BRANCH},
    ),  # fmt: skip
}
