"""Login, tokens, logout and password change."""

from __future__ import annotations

from resolvers.area import Area
from resolvers.auth.fields import AuthMutation

area = Area("auth", mutation=AuthMutation)
