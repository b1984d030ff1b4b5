"""The DataLoaders of cards: one per (entity, key)."""

from __future__ import annotations

from domain.access import Principal
from domain.cards import queries
from resolvers.area import Fetch


def loaders(principal: Principal) -> dict[str, Fetch]:
    return {
        "cards_scoped": lambda s, numbers: queries.get_cards_scoped(s, principal, numbers),
        "card_of_member": queries.usable_card_of_members,
        "card_history": lambda s, numbers: queries.history(s, principal, numbers),
        "card_batches": queries.batches,
        "applications_scoped": lambda s, ids: queries.get_applications_scoped(s, principal, ids),
    }
