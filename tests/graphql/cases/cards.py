"""The cards mutations for the authorization matrix and the bad-input suite."""

from __future__ import annotations

from typing import Any

from tests.api import Api, gid
from tests.graphql.cases import ADMINS, OTHER_BRANCH, Case, make, unique

CARD_STOCK = ADMINS | {"club_operator"}


CARD_SERVICE = CARD_STOCK | {"customer_manager", "agent"}


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


CASES = {
    "receiveCardBatch": Case(
        "receiveCardBatch",
        "ReceiveCardBatchInput",
        make(
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
        make(lambda i, who: {"numberFrom": "6211000000000031", "numberTo": "6211000000000035"}),
        CARD_STOCK,
        OTHER_BRANCH,
        {"hq_admin": "NO_PARENT_BRANCH"},  # headquarters returns cards to nobody
    ),
    "voidCards": Case(
        "voidCards",
        "VoidCardsInput",
        make(lambda i, who: {"numberFrom": "6211000000000041", "numberTo": "6211000000000045", "reason": "Bent"}),
        CARD_STOCK,
        OTHER_BRANCH,
    ),
    "setCardState": Case(
        "setCardState",
        "SetCardStateInput",
        make(lambda i, who: {"numbers": ["6211000000000046"], "state": "RETURNED", "reason": "Count fix"}),
        CARD_STOCK,
        OTHER_BRANCH,
    ),
    "applyForCard": Case(
        "applyForCard",
        "ApplyForCardInput",
        _apply_input,
        CARD_SERVICE | {"other_member"},
        OTHER_BRANCH,
        {"member": "MEMBER_HOLDS_CARD"},  # Li Wei holds a card already
    ),
    "approveCardApplication": Case(
        "approveCardApplication", "ApproveCardApplicationInput", _application, CARD_SERVICE, OTHER_BRANCH
    ),
    "handOverCard": Case("handOverCard", "HandOverCardInput", _hand_over, CARD_SERVICE, OTHER_BRANCH),
    "reportCardLost": Case(
        "reportCardLost",
        "ReportCardLostInput",
        make(lambda i, who: {"cardNumber": LI_WEI_CARD, "proof": {"idDocumentNumber": LI_WEI_ID}}),
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
        make(lambda i, who: {"oldCardNumber": LI_WEI_CARD, "newCardNumber": "6211000000000003", "reason": "DAMAGED"}),
        CARD_SERVICE,
        OTHER_BRANCH,
    ),
    "cancelCard": Case(
        "cancelCard",
        "CancelCardInput",
        make(lambda i, who: {"cardNumber": LI_WEI_CARD, "reason": "Left the network"}),
        CARD_SERVICE,
        OTHER_BRANCH,
    ),
    "changeCardPin": Case(
        "changeCardPin",
        "ChangeCardPinInput",
        make(lambda i, who: {"cardNumber": LI_WEI_CARD, "oldPin": "246810", "newPin": "975310"}),
        {"member"},
        {"other_member"},
    ),
    "resetCardPin": Case(
        "resetCardPin",
        "ResetCardPinInput",
        make(lambda i, who: {"cardNumber": LI_WEI_CARD, "idDocumentNumber": LI_WEI_ID, "newPin": "975310"}),
        CARD_SERVICE,
        OTHER_BRANCH,
    ),
}
