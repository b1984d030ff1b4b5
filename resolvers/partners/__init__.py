"""Partner merchants and their API clients."""

from __future__ import annotations

from resolvers.area import Area
from resolvers.partners.fields import PartnerMutation, PartnerQuery
from resolvers.partners.loaders import loaders

area = Area("partners", query=PartnerQuery, mutation=PartnerMutation, loaders=loaders)
