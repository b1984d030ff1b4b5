"""The DataLoaders of organisation: one per (entity, key)."""

from __future__ import annotations

from domain.access import Principal
from domain.members.tables import Grade
from domain.organisation import outlets
from domain.organisation import service as organisation
from domain.organisation.tables import Branch, Club, Outlet, Staff
from domain.paging import by_key
from resolvers.area import Fetch


def loaders(principal: Principal) -> dict[str, Fetch]:
    return {
        "branches": by_key(Branch),
        "branches_scoped": lambda s, ids: organisation.get_branches(s, principal, ids),
        "clubs": by_key(Club),
        "clubs_scoped": lambda s, ids: organisation.get_clubs_scoped(s, principal, ids),
        "grades": by_key(Grade, "code"),
        "outlets": by_key(Outlet),
        "outlets_scoped": lambda s, ids: outlets.get_outlets_scoped(s, principal, ids),
        "staff": by_key(Staff),
        "staff_scoped": lambda s, ids: organisation.get_staff_scoped(s, principal, ids),
    }
