"""Login, token refresh, logout and password change."""

from __future__ import annotations

import strawberry

from domain.auth import service as auth
from resolvers.declare import mutation_field
from schema.auth import AuthPayload, ChangePasswordInput, LoginInput, LogoutPayload, RefreshTokenInput


@strawberry.type
class AuthMutation:
    login = mutation_field(
        auth.login,
        LoginInput,
        AuthPayload,
        "tokens",
        description="Log in a member or staff user. Failed attempts are counted; too many lock the login.",
    )

    refresh_token = mutation_field(
        auth.refresh,
        RefreshTokenInput,
        AuthPayload,
        "tokens",
        description="Trade a refresh token for new tokens; the old refresh token stops working.",
    )

    logout = mutation_field(
        auth.logout,
        None,
        LogoutPayload,
        description="End this session: its access and refresh tokens stop working at once.",
    )

    change_password = mutation_field(
        auth.change_password,
        ChangePasswordInput,
        AuthPayload,
        "tokens",
        description="Change your password; every session is ended and a new one returned.",
    )
