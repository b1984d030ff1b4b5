"""Card stock and members' cards."""

from __future__ import annotations

from resolvers.area import Area
from resolvers.cards.fields import CardMutation, CardQuery
from resolvers.cards.loaders import loaders

area = Area("cards", query=CardQuery, mutation=CardMutation, loaders=loaders)
