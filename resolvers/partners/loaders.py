"""The DataLoaders of partners: one per (entity, key)."""

from __future__ import annotations

from domain.access import Principal
from domain.paging import by_key
from domain.partners import registry
from domain.partners import service as partners
from domain.partners.tables import Partner
from resolvers.area import Fetch


def loaders(principal: Principal) -> dict[str, Fetch]:
    return {
        "partners": by_key(Partner),
        "partners_scoped": lambda s, ids: partners.get_partners_scoped(s, principal, ids),
        "api_clients_scoped": lambda s, ids: partners.get_api_clients_scoped(s, principal, ids),
        "api_clients_by_partner": lambda s, ids: partners.api_clients_of(s, principal, ids),
        "contacts_by_partner": lambda s, ids: registry.contacts_of(s, principal, ids),
        "contacts_scoped": lambda s, ids: registry.get_contacts_scoped(s, principal, ids),
    }
