"""The DataLoaders of customers: one per (entity, key)."""

from __future__ import annotations

from domain.access import Principal
from domain.customers import service as customers
from domain.customers.service import accounts_listed_max, subscriber_numbers_per_account_max
from domain.customers.tables import Account, CreditLevelChange, Customer, IdentityChange, SubscriberNumber
from domain.paging import by_key, grouped_by
from resolvers.area import Fetch


def loaders(principal: Principal) -> dict[str, Fetch]:
    return {
        "customers": by_key(Customer),
        "customers_scoped": lambda s, ids: customers.get_customers_scoped(s, principal, ids),
        "accounts_by_customer": grouped_by(Account, "customer_id", most=accounts_listed_max),
        "identity_changes": grouped_by(IdentityChange, "customer_id", descending=True),
        "credit_history": grouped_by(CreditLevelChange, "customer_id", descending=True),
        "accounts_scoped": lambda s, ids: customers.get_accounts_scoped(s, principal, ids),
        "subscriber_numbers_by_account": grouped_by(
            SubscriberNumber, "account_id", order="number", value="number", most=subscriber_numbers_per_account_max
        ),
    }
