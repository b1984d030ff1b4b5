"""Points: the ledger, rules, bills and the monthly run."""

from __future__ import annotations

from resolvers.area import Area
from resolvers.points.fields import PointsMutation, PointsQuery
from resolvers.points.loaders import loaders

area = Area("points", query=PointsQuery, mutation=PointsMutation, loaders=loaders)
