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
    # Principals who may call it but, given the demo data, get this payload error instead.
    special: dict[str, str] = field(default_factory=dict)

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


# --- cards -----------------------------------------------------------------------------------

CARD_STOCK = ADMINS | {"club_operator"}
CARD_SERVICE = CARD_STOCK | {"customer_manager", "agent"}
OTHER_BRANCH = {"other_branch_operator", "other_branch_admin"}
LI_WEI_CARD = "6211000000000001"
LI_WEI_ID = "440101198001010011"


def _gd_or_hq(who: str, gd_first: int) -> dict[str, str]:
    """Five stock cards the caller's own branch holds: HQ's for the HQ admin, GD's for everyone else."""
    first = gd_first - 1_000_000_000_000 if who == "hq_admin" else gd_first
    return {"numberFrom": str(first), "numberTo": str(first + 4)}


async def _as_admin(api: Api, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    return await api.data(query, variables, as_="hq_admin")


async def _lost(api: Api, who: str) -> dict[str, Any]:
    await _as_admin(
        api,
        "mutation($input: ReportCardLostInput!) { reportCardLost(input: $input) { errors { code } } }",
        {"input": {"cardNumber": LI_WEI_CARD, "proof": {"idDocumentNumber": LI_WEI_ID}}},
    )
    return {"cardNumber": LI_WEI_CARD, "proof": {"cardPin": "246810"}}


async def _application(api: Api, who: str) -> dict[str, Any]:
    answer = await _as_admin(
        api,
        "mutation($input: ApplyForCardInput!) { applyForCard(input: $input) { application { id } } }",
        {"input": {"memberId": gid("Member", api.demo.members["Wang Fang"])}},
    )
    return {"id": answer["applyForCard"]["application"]["id"]}


async def _reissue(api: Api, who: str) -> dict[str, Any]:
    await _lost(api, who)
    return {"oldCardNumber": LI_WEI_CARD, "newCardNumber": "6211000000000002"}


async def _apply_input(api: Api, who: str) -> dict[str, Any]:
    if who in ("member", "other_member"):
        return {"pickupPlace": "Tianhe counter"}
    return {"memberId": gid("Member", api.demo.members["Wang Fang"]), "pickupPlace": "Tianhe counter"}


async def _hand_over(api: Api, who: str) -> dict[str, Any]:
    return {
        "memberId": gid("Member", api.demo.members["Wang Fang"]),
        "cardNumber": "6221000000000001",
        "receiverIdNumber": "440301198502020022",
        "receiverPhone": "13800000002",
        "pin": "135790",
    }


async def _issue(api: Api, who: str) -> dict[str, Any]:
    return _gd_or_hq(who, 6211000000000021) | {"toClubId": gid("Club", api.demo.clubs["GD-CLUB"]), "receivedBy": "desk"}


async def _transfer(api: Api, who: str) -> dict[str, Any]:
    manager = gid("Staff", api.demo.staff["gd.manager"])
    return {"numberFrom": "6211000000000011", "numberTo": "6211000000000015", "toStaffId": manager}


CARD_CASES = {
    "receiveCardBatch": Case(
        "receiveCardBatch",
        "ReceiveCardBatchInput",
        _make(
            lambda i, who: {
                "cardType": "EMERALD",
                "validUntil": "2035-12-31",
                "numberFrom": f"64{unique(who)}000001",
                "numberTo": f"64{unique(who)}000100",
            }
        ),
        CARD_STOCK | OTHER_BRANCH,
    ),
    "issueCards": Case("issueCards", "IssueCardsInput", _issue, CARD_STOCK, OTHER_BRANCH),
    "transferCards": Case("transferCards", "TransferCardsInput", _transfer, CARD_STOCK, OTHER_BRANCH),
    "returnCards": Case(
        "returnCards",
        "ReturnCardsInput",
        _make(lambda i, who: {"numberFrom": "6211000000000031", "numberTo": "6211000000000035"}),
        CARD_STOCK,
        OTHER_BRANCH,
        {"hq_admin": "INVALID_STATE"},  # GD's cards are not HQ's own stock
    ),
    "voidCards": Case(
        "voidCards",
        "VoidCardsInput",
        _make(lambda i, who: {"numberFrom": "6211000000000041", "numberTo": "6211000000000045", "reason": "Bent"}),
        CARD_STOCK,
        OTHER_BRANCH,
    ),
    "setCardState": Case(
        "setCardState",
        "SetCardStateInput",
        _make(lambda i, who: {"numbers": ["6211000000000046"], "state": "RETURNED", "reason": "Count fix"}),
        CARD_STOCK,
        OTHER_BRANCH,
    ),
    "applyForCard": Case(
        "applyForCard",
        "ApplyForCardInput",
        _apply_input,
        CARD_SERVICE | {"other_member"},
        OTHER_BRANCH,
        {"member": "INVALID_STATE"},  # Li Wei holds a card already
    ),
    "approveCardApplication": Case(
        "approveCardApplication", "ApproveCardApplicationInput", _application, CARD_SERVICE, OTHER_BRANCH
    ),
    "handOverCard": Case("handOverCard", "HandOverCardInput", _hand_over, CARD_SERVICE, OTHER_BRANCH),
    "reportCardLost": Case(
        "reportCardLost",
        "ReportCardLostInput",
        _make(lambda i, who: {"cardNumber": LI_WEI_CARD, "proof": {"idDocumentNumber": LI_WEI_ID}}),
        CARD_SERVICE | {"member"},
        OTHER_BRANCH | {"other_member"},
    ),
    "unfreezeCard": Case(
        "unfreezeCard", "UnfreezeCardInput", _lost, CARD_SERVICE | {"member"}, OTHER_BRANCH | {"other_member"}
    ),
    "reissueCard": Case("reissueCard", "ReissueCardInput", _reissue, CARD_SERVICE, OTHER_BRANCH),
    "replaceCard": Case(
        "replaceCard",
        "ReplaceCardInput",
        _make(lambda i, who: {"oldCardNumber": LI_WEI_CARD, "newCardNumber": "6211000000000003", "reason": "DAMAGED"}),
        CARD_SERVICE,
        OTHER_BRANCH,
    ),
    "cancelCard": Case(
        "cancelCard",
        "CancelCardInput",
        _make(lambda i, who: {"cardNumber": LI_WEI_CARD, "reason": "Left the network"}),
        CARD_SERVICE,
        OTHER_BRANCH,
    ),
    "changeCardPin": Case(
        "changeCardPin",
        "ChangeCardPinInput",
        _make(lambda i, who: {"cardNumber": LI_WEI_CARD, "oldPin": "246810", "newPin": "975310"}),
        {"member"},
        {"other_member"},
    ),
    "resetCardPin": Case(
        "resetCardPin",
        "ResetCardPinInput",
        _make(lambda i, who: {"cardNumber": LI_WEI_CARD, "idDocumentNumber": LI_WEI_ID, "newPin": "975310"}),
        CARD_SERVICE,
        OTHER_BRANCH,
    ),
}
CASES |= CARD_CASES


# --- points ----------------------------------------------------------------------------------------

POINTS_ADJUSTERS = ADMINS | {"club_operator"}


async def _first_transaction(api: Api, who: str) -> dict[str, Any]:
    first = await api.scalar(
        "SELECT min(id) FROM ledger_transaction WHERE member_id = :m", m=api.demo.members["Li Wei"]
    )
    return {"transactionId": gid("PointsTransaction", first), "reason": "Keyed twice", "idempotencyKey": f"r-{who}"}


async def _rule(api: Api, kind: str) -> int:
    return await api.scalar("SELECT id FROM points_rule WHERE kind = :k", k=kind)


async def _new_rule(api: Api, who: str) -> dict[str, Any]:
    """A rate from 2027 on: the demo's open-ended rate is retired first."""
    await api.scalar("UPDATE points_rule SET effective_to = '2026-12-31' WHERE kind = 'POINTS_PER_YUAN' RETURNING 1")
    return {"kind": "POINTS_PER_YUAN", "value": "1.5", "effectiveFrom": "2027-01-01"}


async def _rule_change(api: Api, who: str) -> dict[str, Any]:
    return {"id": gid("PointsRule", await _rule(api, "ON_TIME_BONUS")), "value": "20"}


POINTS_CASES = {
    "adjustPoints": Case(
        "adjustPoints",
        "AdjustPointsInput",
        _make(
            lambda i, who: {
                "memberId": i["LI_WEI_MEMBER"],
                "points": 100,
                "reason": "Goodwill",
                "idempotencyKey": f"a-{who}",
            }
        ),  # fmt: skip
        POINTS_ADJUSTERS,
        OTHER_BRANCH,
    ),
    "reversePointsTransaction": Case(
        "reversePointsTransaction", "ReversePointsTransactionInput", _first_transaction, ADMINS, {"other_branch_admin"}
    ),
    "createPointsRule": Case("createPointsRule", "CreatePointsRuleInput", _new_rule, {"hq_admin"}),
    "updatePointsRule": Case("updatePointsRule", "UpdatePointsRuleInput", _rule_change, {"hq_admin"}),
}
CASES |= POINTS_CASES

CASES |= {
    "recordBill": Case(
        "recordBill",
        "RecordBillInput",
        _make(
            lambda i, who: {
                "accountNumber": "80000001",
                "billingMonth": "2026-09",
                "amountBilledFen": 100,
                "amountPaidFen": 100,
                "dueDate": "2026-09-15",
            }
        ),  # fmt: skip
        POINTS_ADJUSTERS,
        OTHER_BRANCH,
    ),
    "runMonthlyAccrual": Case(
        "runMonthlyAccrual", "RunMonthlyAccrualInput", _make(lambda i, who: {"month": "2026-09"}), {"hq_admin"}
    ),
}
