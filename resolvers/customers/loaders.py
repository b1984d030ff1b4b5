"""The DataLoaders of customers: one per (entity, key)."""

from __future__ import annotations

from domain.access import Principal
from domain.customers import service as customers
from domain.customers.tables import Account, Customer, SubscriberNumber
from domain.paging import by_key, grouped_by
from resolvers.area import Fetch


def loaders(principal: Principal) -> dict[str, Fetch]:
    return {
        "customers": by_key(Customer),
        "customers_scoped": lambda s, ids: customers.get_customers_scoped(s, principal, ids),
        "accounts_by_customer": grouped_by(Account, "customer_id"),
        "accounts_scoped": lambda s, ids: customers.get_accounts_scoped(s, principal, ids),
        "subscriber_numbers_by_account": grouped_by(SubscriberNumber, "account_id", order="number", value="number"),
    }
