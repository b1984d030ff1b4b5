"""Login, token refresh, logout and password change."""

from __future__ import annotations

import strawberry

from domain.access import MemberPrincipal, StaffPrincipal, require_authenticated
from domain.auth import service as auth
from domain.errors import AccessDenied, ErrorCode, Problem
from resolvers.context import Context
from resolvers.edge import mutate_legacy, user_errors
from schema.auth import AuthPayload, ChangePasswordInput, LoginInput, LogoutPayload, RefreshTokenInput


def _person(context: Context) -> MemberPrincipal | StaffPrincipal:
    require_authenticated(context.principal)
    if isinstance(context.principal, MemberPrincipal | StaffPrincipal):
        return context.principal
    raise AccessDenied(ErrorCode.FORBIDDEN, "Partner keys have no session.")


@strawberry.type
class AuthMutation:
    @strawberry.mutation(
        description="Log in a member or staff user. Failed attempts are counted; too many lock the login."
    )
    async def login(self, info: strawberry.Info, input: LoginInput) -> AuthPayload:
        context: Context = info.context
        # The attempt is recorded and committed whether or not the password was right.
        async with context.sessions.begin() as session:
            outcome = await auth.login(
                session,
                context.services.policy,
                kind=input.kind,
                login_name=input.login,
                password=input.password,
                remote_address=context.remote_address,
            )
        if isinstance(outcome, Problem):
            return AuthPayload(errors=user_errors([outcome]))
        return AuthPayload(errors=[], tokens=outcome)

    @strawberry.mutation(description="Trade a refresh token for new tokens; the old refresh token stops working.")
    async def refresh_token(self, info: strawberry.Info, input: RefreshTokenInput) -> AuthPayload:
        policy = info.context.services.policy
        return await mutate_legacy(info, AuthPayload, lambda s: auth.refresh(s, policy, input.refresh_token), "tokens")

    @strawberry.mutation(description="End this session: its access and refresh tokens stop working at once.")
    async def logout(self, info: strawberry.Info) -> LogoutPayload:
        principal = _person(info.context)
        return await mutate_legacy(info, LogoutPayload, lambda s: auth.logout(s, principal))

    @strawberry.mutation(description="Change your password; every session is ended and a new one returned.")
    async def change_password(self, info: strawberry.Info, input: ChangePasswordInput) -> AuthPayload:
        principal = _person(info.context)
        policy = info.context.services.policy
        return await mutate_legacy(
            info,
            AuthPayload,
            lambda s: auth.change_password(
                s, policy, principal, current_password=input.current_password, new_password=input.new_password
            ),
            "tokens",
        )
