"""Redemption: the catalogue, gift stock, redemptions, quotes, cancellations, fulfilment and bookings."""

from __future__ import annotations

from resolvers.area import Area
from resolvers.redemption.fields import RedemptionMutation, RedemptionQuery
from resolvers.redemption.loaders import loaders

area = Area("redemption", query=RedemptionQuery, mutation=RedemptionMutation, loaders=loaders)
