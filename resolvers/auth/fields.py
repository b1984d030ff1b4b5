"""Login, token refresh, logout and password change."""

from __future__ import annotations

import strawberry

from domain.auth import service as auth
from resolvers.edge import mutate
from schema.auth import AuthPayload, ChangePasswordInput, LoginInput, LogoutPayload, RefreshTokenInput


@strawberry.type
class AuthMutation:
    @strawberry.mutation(
        description="Log in a member or staff user. Failed attempts are counted; too many lock the login."
    )
    async def login(self, info: strawberry.Info, input: LoginInput) -> AuthPayload:
        return await mutate(info, AuthPayload, auth.login, input, "tokens")

    @strawberry.mutation(description="Trade a refresh token for new tokens; the old refresh token stops working.")
    async def refresh_token(self, info: strawberry.Info, input: RefreshTokenInput) -> AuthPayload:
        return await mutate(info, AuthPayload, auth.refresh, input, "tokens")

    @strawberry.mutation(description="End this session: its access and refresh tokens stop working at once.")
    async def logout(self, info: strawberry.Info) -> LogoutPayload:
        return await mutate(info, LogoutPayload, auth.logout)

    @strawberry.mutation(description="Change your password; every session is ended and a new one returned.")
    async def change_password(self, info: strawberry.Info, input: ChangePasswordInput) -> AuthPayload:
        return await mutate(info, AuthPayload, auth.change_password, input, "tokens")
