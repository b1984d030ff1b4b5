"""The customers mutations for the authorization matrix and the bad-input suite."""

from __future__ import annotations

from tests.api import Api, gid
from tests.graphql.cases import CUSTOMER_WRITERS, MEMBER_WRITERS, Case, make, unique


async def _li_weis_account(api: Api, who: str) -> dict:
    account = await api.scalar("SELECT id FROM account WHERE account_number = '80000001'")
    return {"id": gid("Account", account), "creditLimitFen": 30_000 + len(who)}


CASES = {
    "createCustomer": Case(
        "createCustomer",
        "CreateCustomerInput",
        make(
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
        make(lambda i, who: {"id": i["LI_WEI_CUSTOMER"], "email": "li.wei@example.com", "region": who}),
        CUSTOMER_WRITERS,
        {"other_branch_operator", "other_branch_admin"},
    ),
    "setCreditLevel": Case(
        "setCreditLevel",
        "SetCreditLevelInput",
        make(lambda i, who: {"customerId": i["LI_WEI_CUSTOMER"], "level": "RED", "reason": "Pays on time"}),
        MEMBER_WRITERS,
        {"other_branch_operator", "other_branch_admin"},
    ),
    "createAccount": Case(
        "createAccount",
        "CreateAccountInput",
        make(
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
    "updateAccount": Case(
        "updateAccount",
        "UpdateAccountInput",
        _li_weis_account,
        CUSTOMER_WRITERS,
        {"other_branch_operator", "other_branch_admin"},
    ),
}
