"""The business areas of the service: each registers its fields, loaders and codes in one line."""

from __future__ import annotations

from resolvers import audit, auth, cards, customers, grades, members, organisation, partners, points, redemption
from resolvers.area import Area

AREAS: tuple[Area, ...] = (
    auth.area,
    members.area,
    customers.area,
    organisation.area,
    partners.area,
    cards.area,
    points.area,
    redemption.area,
    grades.area,
    audit.area,
)
