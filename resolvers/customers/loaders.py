"""The DataLoaders of customers: one per (entity, key)."""

from __future__ import annotations

from domain.access import Principal
from domain.customers import service as customers
from resolvers.area import Fetch


def loaders(principal: Principal) -> dict[str, Fetch]:
    return {
        "customers": customers.get_customers,
        "customers_scoped": lambda s, ids: customers.get_customers_scoped(s, principal, ids),
        "accounts_by_customer": customers.accounts_by_customer,
        "accounts_scoped": lambda s, ids: customers.get_accounts_scoped(s, principal, ids),
        "subscriber_numbers_by_account": customers.subscriber_numbers_by_account,
    }
