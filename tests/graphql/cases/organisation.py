"""The organisation mutations for the authorization matrix and the bad-input suite."""

from __future__ import annotations

from tests.graphql.cases import ADMINS, Case, make, unique

CASES = {
    "createClub": Case(
        "createClub",
        "CreateClubInput",
        make(lambda i, who: {"branchId": i["GD"], "code": f"C{unique(who)}", "category": "Major", "name": "New club"}),
        ADMINS,
        {"other_branch_admin"},
    ),
    "updateClub": Case(
        "updateClub",
        "UpdateClubInput",
        make(lambda i, who: {"id": i["GD_CLUB"], "name": f"Renamed {who}", "phone": "020-12345678"}),
        ADMINS,
        {"other_branch_admin"},
    ),
}
