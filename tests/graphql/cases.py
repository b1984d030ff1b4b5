"""Every mutation, with a valid request against demo data in Guangdong (GD), and who may run it."""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.api import Api, gid

PAYLOAD_FIELDS = "errors { field code message }"


@dataclass
class Case:
    mutation: str
    input_type: str | None
    make_input: Callable[[Api, str], Awaitable[dict[str, Any] | None]]
    allowed: set[str]
    # Principals whose role may do it but whose branch does not hold the target: NOT_FOUND.
    out_of_scope: set[str] = field(default_factory=set)

    def query(self) -> str:
        if self.input_type is None:
            return f"mutation {{ {self.mutation} {{ {PAYLOAD_FIELDS} }} }}"
        return f"mutation($input: {self.input_type}!) {{ {self.mutation}(input: $input) {{ {PAYLOAD_FIELDS} }} }}"


def unique(who: str) -> str:
    """Digits that differ per principal, so that every allowed caller's request is new."""
    return f"{zlib.crc32(who.encode()) % 10**8:08d}"


async def _revoke_target(api: Api, who: str) -> dict[str, Any]:
    answer = await api.data(
        """mutation($input: CreatePartnerApiClientInput!) { createPartnerApiClient(input: $input) {
            client { id } } }""",
        {"input": {"partnerId": gid("Partner", api.demo.partners["GD-MALL"]), "name": "to revoke"}},
        as_="hq_admin",
    )
    return {"id": answer["createPartnerApiClient"]["client"]["id"]}


def _ids(api: Api) -> dict[str, str]:
    d = api.demo
    return {
        "GD": gid("Branch", d.branches["GD"]),
        "GD_CLUB": gid("Club", d.clubs["GD-CLUB"]),
        "LI_WEI_CUSTOMER": gid("Customer", d.customers["Li Wei"]),
        "LI_WEI_MEMBER": gid("Member", d.members["Li Wei"]),
        "PROSPECT": gid("Customer", d.customers["Pearl River Trading Co."]),
        "GD_MALL": gid("Partner", d.partners["GD-MALL"]),
    }


def _make(build: Callable[[dict[str, str], str], dict[str, Any]]):
    async def make(api: Api, who: str) -> dict[str, Any]:
        return build(_ids(api), who)

    return make


ADMINS = {"hq_admin", "administrator"}
MEMBER_WRITERS = ADMINS | {"club_operator"}
CUSTOMER_WRITERS = MEMBER_WRITERS | {"customer_manager"}
PEOPLE = {
    "member",
    "other_member",
    "hq_admin",
    "administrator",
    "club_operator",
    "customer_manager",
    "agent",
    "settlement_clerk",
    "auditor",
    "other_branch_operator",
    "other_branch_admin",
}

CASES = {
    "createClub": Case(
        "createClub",
        "CreateClubInput",
        _make(lambda i, who: {"branchId": i["GD"], "code": f"C{unique(who)}", "category": "Major", "name": "New club"}),
        ADMINS,
        {"other_branch_admin"},
    ),
    "updateClub": Case(
        "updateClub",
        "UpdateClubInput",
        _make(lambda i, who: {"id": i["GD_CLUB"], "name": f"Renamed {who}", "phone": "020-12345678"}),
        ADMINS,
        {"other_branch_admin"},
    ),
    "createCustomer": Case(
        "createCustomer",
        "CreateCustomerInput",
        _make(
            lambda i, who: {
                "branchId": i["GD"],
                "kind": "INDIVIDUAL",
                "name": "Chen Jing",
                "idDocumentType": "PASSPORT",
                "idDocumentNumber": f"E{unique(who)}",
            }
        ),
        CUSTOMER_WRITERS,
        {"other_branch_operator", "other_branch_admin"},
    ),
    "updateCustomer": Case(
        "updateCustomer",
        "UpdateCustomerInput",
        _make(lambda i, who: {"id": i["LI_WEI_CUSTOMER"], "email": "li.wei@example.com", "region": who}),
        CUSTOMER_WRITERS,
        {"other_branch_operator", "other_branch_admin"},
    ),
    "setCreditLevel": Case(
        "setCreditLevel",
        "SetCreditLevelInput",
        _make(lambda i, who: {"customerId": i["LI_WEI_CUSTOMER"], "level": "RED", "reason": "Pays on time"}),
        MEMBER_WRITERS,
        {"other_branch_operator", "other_branch_admin"},
    ),
    "createAccount": Case(
        "createAccount",
        "CreateAccountInput",
        _make(
            lambda i, who: {
                "customerId": i["LI_WEI_CUSTOMER"],
                "accountNumber": f"9{unique(who)}",
                "creditLimitFen": 100_000,
                "subscriberNumbers": [f"137{unique(who)}"],
            }
        ),
        CUSTOMER_WRITERS,
        {"other_branch_operator", "other_branch_admin"},
    ),
    "createMember": Case(
        "createMember",
        "CreateMemberInput",
        _make(lambda i, who: {"customerId": i["PROSPECT"], "clubId": i["GD_CLUB"], "gradeCode": "EMERALD"}),
        MEMBER_WRITERS,
        {"other_branch_operator", "other_branch_admin"},
    ),
    "updateMember": Case(
        "updateMember",
        "UpdateMemberInput",
        _make(lambda i, who: {"id": i["LI_WEI_MEMBER"], "interests": ["golf", who]}),
        MEMBER_WRITERS,
        {"other_branch_operator", "other_branch_admin"},
    ),
    "updateMyProfile": Case(
        "updateMyProfile",
        "UpdateMyProfileInput",
        _make(lambda i, who: {"email": "me@example.com", "interests": ["music"]}),
        {"member", "other_member"},
    ),
    "createPartnerApiClient": Case(
        "createPartnerApiClient",
        "CreatePartnerApiClientInput",
        _make(lambda i, who: {"partnerId": i["GD_MALL"], "name": "checkout"}),
        ADMINS,
        {"other_branch_admin"},
    ),
    "revokePartnerApiClient": Case(
        "revokePartnerApiClient", "RevokePartnerApiClientInput", _revoke_target, ADMINS, {"other_branch_admin"}
    ),
    "changePassword": Case(
        "changePassword",
        "ChangePasswordInput",
        _make(lambda i, who: {"currentPassword": "demo-password", "newPassword": "a-new-password"}),
        PEOPLE,
    ),
    "logout": Case("logout", None, _make(lambda i, who: {}), PEOPLE),
}
