"""The DataLoaders of the audit trail: one per (entity, key)."""

from __future__ import annotations

from domain.access import Principal
from domain.audit import queries
from domain.organisation.tables import Branch
from domain.paging import by_key
from resolvers.area import Fetch


def loaders(principal: Principal) -> dict[str, Fetch]:
    return {
        "audit_events_scoped": lambda s, ids: queries.get_events_scoped(s, principal, ids),
        "branches_by_path": by_key(Branch, "path"),  # an event names the branch it acted for by its path
    }
