"""The partners mutations for the authorization matrix and the bad-input suite."""

from __future__ import annotations

from typing import Any

from tests.api import Api, gid
from tests.graphql.cases import ADMINS, Case, make, unique


async def _revoke_target(api: Api, who: str) -> dict[str, Any]:
    answer = await api.data(
        """mutation($input: CreatePartnerApiClientInput!) { createPartnerApiClient(input: $input) {
            client { id } } }""",
        {"input": {"partnerId": gid("Partner", api.demo.partners["GD-MALL"]), "name": "to revoke"}},
        as_="hq_admin",
    )
    return {"id": answer["createPartnerApiClient"]["client"]["id"]}


async def _contact_target(api: Api, who: str) -> dict[str, Any]:
    answer = await api.data(
        """mutation($input: SetPartnerContactInput!) { setPartnerContact(input: $input) { contact { id } } }""",
        {"input": {"partnerId": gid("Partner", api.demo.partners["GD-MALL"]),
                   "branchId": gid("Branch", api.demo.branches["GD"]), "name": "Deng Hui"}},
        as_="hq_admin",
    )  # fmt: skip
    return {"id": answer["setPartnerContact"]["contact"]["id"]}


CASES = {
    "createPartner": Case(
        "createPartner",
        "CreatePartnerInput",
        make(
            lambda i, who: {
                "branchId": i["GD"],
                "code": f"P{unique(who)}",
                "name": "Pearl Mall",
                "kind": "MALL",
                "nature": "PRIVATE",
                "staffCount": 120,
                "registeredCapitalYuan": 5_000_000,
            }
        ),  # fmt: skip
        ADMINS,
        {"other_branch_admin"},
    ),
    "updatePartner": Case(
        "updatePartner",
        "UpdatePartnerInput",
        make(lambda i, who: {"id": i["GD_MALL"], "address": f"Tianhe Road {unique(who)}"}),
        ADMINS,
        special={"other_branch_admin": "FORBIDDEN"},  # every member of staff sees every partner
    ),
    "setPartnerContact": Case(
        "setPartnerContact",
        "SetPartnerContactInput",
        make(lambda i, who: {"partnerId": i["GD_MALL"], "branchId": i["GD"], "name": f"Deng {unique(who)}"}),
        ADMINS,
        {"other_branch_admin"},
    ),
    "removePartnerContact": Case(
        "removePartnerContact", "RemovePartnerContactInput", _contact_target, ADMINS, {"other_branch_admin"}
    ),
    "createPartnerApiClient": Case(
        "createPartnerApiClient",
        "CreatePartnerApiClientInput",
        make(lambda i, who: {"partnerId": i["GD_MALL"], "name": "checkout"}),
        ADMINS,
        special={"other_branch_admin": "FORBIDDEN"},  # every member of staff sees every partner
    ),
    "revokePartnerApiClient": Case(
        "revokePartnerApiClient", "RevokePartnerApiClientInput", _revoke_target, ADMINS, {"other_branch_admin"}
    ),
}
