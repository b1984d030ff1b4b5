"""Members of the clubs."""

from __future__ import annotations

from resolvers.area import Area
from resolvers.members.fields import MemberMutation, MemberQuery
from resolvers.members.loaders import loaders

area = Area("members", query=MemberQuery, mutation=MemberMutation, loaders=loaders)
