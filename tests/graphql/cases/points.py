"""The points mutations for the authorization matrix and the bad-input suite."""

from __future__ import annotations

from typing import Any

from tests.api import Api, gid
from tests.graphql.cases import ADMINS, OTHER_BRANCH, Case, make

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
    """A rule in force is ended in the future: the only change a rule in effect takes."""
    return {"id": gid("PointsRule", await _rule(api, "ON_TIME_BONUS")), "effectiveTo": "2030-12-31"}


CASES = {
    "adjustPoints": Case(
        "adjustPoints",
        "AdjustPointsInput",
        make(
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
    "recordBill": Case(
        "recordBill",
        "RecordBillInput",
        make(
            lambda i, who: {
                "accountNumber": "80000001",
                "billingMonth": "2026-09",
                "amountBilledFen": 100,
                "amountPaidFen": 100,
                "dueDate": "2026-09-15",
                "paidDate": "2026-09-10",
            }
        ),  # fmt: skip
        POINTS_ADJUSTERS,
        OTHER_BRANCH,
    ),
    "runMonthlyAccrual": Case(
        "runMonthlyAccrual", "RunMonthlyAccrualInput", make(lambda i, who: {"month": "2026-09"}), {"hq_admin"}
    ),
}
