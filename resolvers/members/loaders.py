"""The DataLoaders of members: one per (entity, key)."""

from __future__ import annotations

from domain.access import Principal
from domain.members import service as members
from resolvers.area import Fetch


def loaders(principal: Principal) -> dict[str, Fetch]:
    return {
        "members_scoped": lambda s, ids: members.get_members_scoped(s, principal, ids),
    }
