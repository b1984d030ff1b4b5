"""The partners mutations for the authorization matrix and the bad-input suite."""

from __future__ import annotations

from typing import Any

from tests.api import Api, gid
from tests.graphql.cases import ADMINS, Case, make


async def _revoke_target(api: Api, who: str) -> dict[str, Any]:
    answer = await api.data(
        """mutation($input: CreatePartnerApiClientInput!) { createPartnerApiClient(input: $input) {
            client { id } } }""",
        {"input": {"partnerId": gid("Partner", api.demo.partners["GD-MALL"]), "name": "to revoke"}},
        as_="hq_admin",
    )
    return {"id": answer["createPartnerApiClient"]["client"]["id"]}


CASES = {
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
