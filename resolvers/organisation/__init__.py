"""Branches, grades and clubs."""

from __future__ import annotations

from resolvers.area import Area
from resolvers.organisation.fields import OrganisationMutation, OrganisationQuery
from resolvers.organisation.loaders import loaders

area = Area("organisation", query=OrganisationQuery, mutation=OrganisationMutation, loaders=loaders)
