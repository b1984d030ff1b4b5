"""The members mutations for the authorization matrix and the bad-input suite."""

from __future__ import annotations

from tests.graphql.cases import MEMBER_WRITERS, Case, make

CASES = {
    "createMember": Case(
        "createMember",
        "CreateMemberInput",
        make(lambda i, who: {"customerId": i["PROSPECT"], "clubId": i["GD_CLUB"], "gradeCode": "EMERALD"}),
        MEMBER_WRITERS,
        {"other_branch_operator", "other_branch_admin"},
    ),
    "updateMember": Case(
        "updateMember",
        "UpdateMemberInput",
        make(lambda i, who: {"id": i["LI_WEI_MEMBER"], "interests": ["golf", who]}),
        MEMBER_WRITERS,
        {"other_branch_operator", "other_branch_admin"},
    ),
    "updateMyProfile": Case(
        "updateMyProfile",
        "UpdateMyProfileInput",
        make(lambda i, who: {"email": "me@example.com", "interests": ["music"]}),
        {"member", "other_member"},
    ),
}
