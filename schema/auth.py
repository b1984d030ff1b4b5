"""Login, tokens and password change."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.common import PrincipalKind, UserError


@strawberry.type(
    description="Send `Authorization: Bearer <accessToken>`; renew it with `refreshToken` before it expires."
)
class AuthTokens:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str = strawberry.field(description="Single use: every refresh returns a new one.")
    refresh_token_expires_at: datetime
    kind: PrincipalKind


@strawberry.input
class LoginInput:
    kind: PrincipalKind = strawberry.field(description="MEMBER or STAFF (partners use API keys).")
    login: str = strawberry.field(description="Member: member number or subscriber number. Staff: username.")
    password: str


@strawberry.input
class RefreshTokenInput:
    refresh_token: str


@strawberry.input
class ChangePasswordInput:
    current_password: str
    new_password: str = strawberry.field(description="8 to 128 characters. Every other session is ended.")


@strawberry.type
class AuthPayload:
    errors: list[UserError]
    tokens: AuthTokens | None = None


@strawberry.type
class LogoutPayload:
    errors: list[UserError]
