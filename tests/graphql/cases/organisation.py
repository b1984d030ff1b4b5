"""The organisation mutations for the authorization matrix and the bad-input suite."""

from __future__ import annotations

from typing import Any

from tests.api import Api, gid
from tests.graphql.cases import ADMINS, Case, make, unique


async def _counter(api: Api, who: str) -> dict[str, Any]:
    outlet = gid("Outlet", api.demo.outlets["GD-COUNTER"])
    return {"id": outlet, "name": f"Renamed {who}", "address": "Tianhe Road 1", "phone": "020-12345678"}


async def _agent(api: Api, who: str) -> dict[str, Any]:
    return {"id": gid("Staff", api.demo.staff["gd.agent"]), "displayName": f"Agent {who}", "role": "AGENT"}


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
    "createOutlet": Case(
        "createOutlet",
        "CreateOutletInput",
        make(
            lambda i, who: {
                "branchId": i["GD"],
                "code": f"O{unique(who)}",
                "name": "Zhujiang New Town hall",
                "address": "Huacheng Avenue 1",
                "phone": "020-87654321",
            }
        ),
        ADMINS,
        {"other_branch_admin"},
    ),
    "updateOutlet": Case("updateOutlet", "UpdateOutletInput", _counter, ADMINS, {"other_branch_admin"}),
    "updateStaff": Case(
        "updateStaff",
        "UpdateStaffInput",
        _agent,
        ADMINS,
        {"other_branch_admin"},
    ),
}
