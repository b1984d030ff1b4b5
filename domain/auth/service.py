"""Logins, tokens and sessions for members and staff; API keys for partners.

An access token is a short-lived signed token naming a session; every request looks the
session up, so logout and password change take effect at once. The refresh token is a
random secret stored only as its SHA-256 digest and rotated on every use.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain import clock, passwords
from domain.access import MemberPrincipal, PartnerPrincipal, Principal, StaffPrincipal
from domain.auth.tables import AuthSession, LoginAttempt, PrincipalKind
from domain.customers.tables import SubscriberNumber
from domain.errors import DomainError, ErrorCode, Problem
from domain.members.tables import Member, MemberStatus
from domain.organisation.tables import Branch, Staff
from domain.partners.tables import Partner, PartnerApiClient
from domain.validation import Checker

login_length_max = 100
partner_key_prefix = "pk_"


@dataclass(frozen=True)
class AuthPolicy:
    secret_key: str
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    login_failures_max: int = 5
    login_lock_seconds: int = 900


@dataclass(frozen=True)
class Tokens:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    kind: PrincipalKind


def sha256(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


# --- login ---------------------------------------------------------------------------


async def login(
    session: AsyncSession,
    policy: AuthPolicy,
    *,
    kind: PrincipalKind,
    login_name: str,
    password: str,
    remote_address: str | None,
) -> Tokens | Problem:
    """Check a password; count failures and lock after too many. Writes the attempt either way."""
    check = Checker()
    login_name = check.text("login", login_name, length_max=login_length_max, required=True) or ""
    if check.problems or not isinstance(password, str) or len(password) > 1024:
        return Problem(ErrorCode.INVALID_CREDENTIALS, "Wrong login or password.", None)
    identity = await _find_identity(session, kind, login_name)
    now = clock.now()
    attempt = LoginAttempt(kind=kind, login=login_name, succeeded=False, reason="", remote_address=remote_address)
    if identity is not None:
        attempt.member_id = identity.id if kind == PrincipalKind.MEMBER else None
        attempt.staff_id = identity.id if kind == PrincipalKind.STAFF else None
    outcome = _judge(identity, password, now, policy)
    attempt.succeeded = not isinstance(outcome, Problem)
    attempt.reason = "OK" if attempt.succeeded else _reason(identity, outcome)
    session.add(attempt)
    if isinstance(outcome, Problem):
        return outcome
    return await _open_session(session, policy, kind, identity.id, now)


def _reason(identity: Member | Staff | None, problem: Problem) -> str:
    if identity is None:
        return "UNKNOWN_LOGIN"
    return problem.code.value


async def _find_identity(session: AsyncSession, kind: PrincipalKind, login_name: str) -> Member | Staff | None:
    if kind == PrincipalKind.STAFF:
        query = sa.select(Staff).where(Staff.username == login_name)
    else:
        by_line = sa.select(SubscriberNumber.customer_id).where(SubscriberNumber.number == login_name)
        query = sa.select(Member).where(
            sa.or_(Member.member_number == login_name, Member.customer_id.in_(by_line.scalar_subquery()))
        )
    # The row lock serialises concurrent attempts so the failure count cannot be raced.
    return (await session.scalars(query.with_for_update().limit(1))).first()


def _judge(identity: Member | Staff | None, password: str, now: datetime, policy: AuthPolicy) -> Problem | None:
    wrong = Problem(ErrorCode.INVALID_CREDENTIALS, "Wrong login or password.", None)
    if identity is None:
        passwords.verify_secret(password, None)
        return wrong
    if identity.locked_until is not None and identity.locked_until > now:
        return Problem(ErrorCode.LOCKED, f"Too many failed logins; try again after {identity.locked_until:%H:%M} UTC.")
    matches, new_hash = passwords.verify_secret(password, identity.password_hash)
    if not matches:
        identity.failed_login_count += 1
        if identity.failed_login_count >= policy.login_failures_max:
            identity.failed_login_count = 0
            identity.locked_until = now + timedelta(seconds=policy.login_lock_seconds)
            return Problem(ErrorCode.LOCKED, "Too many failed logins; the login is locked for a while.")
        return wrong
    if not _usable(identity):
        return wrong
    identity.failed_login_count = 0
    identity.locked_until = None
    if new_hash is not None:
        identity.password_hash = new_hash
    return None


def _usable(identity: Member | Staff) -> bool:
    if isinstance(identity, Staff):
        return identity.active
    return identity.status != MemberStatus.ENDED


async def _open_session(
    session: AsyncSession, policy: AuthPolicy, kind: PrincipalKind, identity_id: int, now: datetime
) -> Tokens:
    refresh_token = secrets.token_urlsafe(32)
    row = AuthSession(
        member_id=identity_id if kind == PrincipalKind.MEMBER else None,
        staff_id=identity_id if kind == PrincipalKind.STAFF else None,
        refresh_token_sha256=sha256(refresh_token),
        expires_at=now + timedelta(seconds=policy.refresh_token_ttl_seconds),
    )
    session.add(row)
    await session.flush()
    return _tokens(policy, kind, row, refresh_token, now)


def _tokens(policy: AuthPolicy, kind: PrincipalKind, row: AuthSession, refresh_token: str, now: datetime) -> Tokens:
    access_expires_at = now + timedelta(seconds=policy.access_token_ttl_seconds)
    access_token = jwt.encode(
        {"sid": row.id, "kind": kind.value, "exp": access_expires_at, "iat": now},
        policy.secret_key,
        algorithm="HS256",
    )
    return Tokens(access_token, access_expires_at, refresh_token, row.expires_at, kind)


# --- refresh, logout, password change ---------------------------------------------------


async def refresh(session: AsyncSession, policy: AuthPolicy, refresh_token: str) -> Tokens:
    """Rotate the refresh token: the one presented can never be used again."""
    if not isinstance(refresh_token, str) or not 0 < len(refresh_token) <= 200:
        raise DomainError(ErrorCode.TOKEN_REVOKED, "Unknown refresh token.", "refreshToken")
    query = sa.select(AuthSession).where(AuthSession.refresh_token_sha256 == sha256(refresh_token))
    row = (await session.scalars(query.with_for_update())).first()
    now = clock.now()
    if row is None or row.revoked_at is not None:
        raise DomainError(
            ErrorCode.TOKEN_REVOKED, "This refresh token is no longer valid; log in again.", "refreshToken"
        )
    if row.expires_at <= now:
        raise DomainError(ErrorCode.TOKEN_EXPIRED, "This refresh token has expired; log in again.", "refreshToken")
    kind = PrincipalKind.MEMBER if row.member_id is not None else PrincipalKind.STAFF
    identity = await session.get(Member if row.member_id else Staff, row.member_id or row.staff_id)
    if identity is None or not _usable(identity):
        raise DomainError(ErrorCode.TOKEN_REVOKED, "This login is no longer allowed.", "refreshToken")
    new_refresh_token = secrets.token_urlsafe(32)
    row.refresh_token_sha256 = sha256(new_refresh_token)
    row.expires_at = now + timedelta(seconds=policy.refresh_token_ttl_seconds)
    return _tokens(policy, kind, row, new_refresh_token, now)


async def logout(session: AsyncSession, principal: MemberPrincipal | StaffPrincipal) -> None:
    await session.execute(
        sa.update(AuthSession)
        .where(AuthSession.id == principal.session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )


async def change_password(
    session: AsyncSession,
    policy: AuthPolicy,
    principal: MemberPrincipal | StaffPrincipal,
    *,
    current_password: str,
    new_password: str,
) -> Tokens:
    """Replace the password, end every session of the identity, and open a new one."""
    check = Checker()
    check.password("newPassword", new_password)
    check.raise_if_any()
    is_member = isinstance(principal, MemberPrincipal)
    model = Member if is_member else Staff
    identity_id = principal.member_id if is_member else principal.staff_id
    identity = await session.get(model, identity_id, with_for_update=True)
    assert identity is not None, "a live session names an existing identity"
    matches, _ = passwords.verify_secret(current_password, identity.password_hash)
    if not matches:
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, "The current password is wrong.", "currentPassword")
    if current_password == new_password:
        raise DomainError(ErrorCode.INVALID, "The new password must differ from the current one.", "newPassword")
    identity.password_hash = passwords.hash_secret(new_password)
    owner = AuthSession.member_id if is_member else AuthSession.staff_id
    await session.execute(
        sa.update(AuthSession)
        .where(owner == identity_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    kind = PrincipalKind.MEMBER if is_member else PrincipalKind.STAFF
    return await _open_session(session, policy, kind, identity_id, clock.now())


# --- request authentication ------------------------------------------------------------


async def authenticate(session: AsyncSession, policy: AuthPolicy, bearer: str) -> Principal:
    """The principal behind an `Authorization: Bearer …` value; raises on a bad credential."""
    if bearer.startswith(partner_key_prefix):
        return await _authenticate_partner(session, bearer)
    try:
        claims = jwt.decode(bearer, policy.secret_key, algorithms=["HS256"], options={"require": ["exp", "sid"]})
    except jwt.ExpiredSignatureError:
        raise DomainError(ErrorCode.TOKEN_EXPIRED, "The access token has expired; refresh it.") from None
    except jwt.InvalidTokenError:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "The access token is not valid.") from None
    query = (
        sa.select(AuthSession, Member, Staff, Branch)
        .outerjoin(Member, Member.id == AuthSession.member_id)
        .outerjoin(Staff, Staff.id == AuthSession.staff_id)
        .join(Branch, Branch.id == sa.func.coalesce(Member.branch_id, Staff.branch_id))
        .where(AuthSession.id == claims["sid"])
    )
    found = (await session.execute(query)).first()
    if found is None or found[0].revoked_at is not None:
        raise DomainError(ErrorCode.TOKEN_REVOKED, "This session has ended; log in again.")
    auth_session, member, staff, branch = found
    if member is not None and _usable(member):
        return MemberPrincipal(member.id, branch.path, auth_session.id)
    if staff is not None and _usable(staff):
        return StaffPrincipal(staff.id, staff.role, staff.branch_id, branch.path, auth_session.id)
    raise DomainError(ErrorCode.TOKEN_REVOKED, "This login is no longer allowed.")


async def _authenticate_partner(session: AsyncSession, bearer: str) -> PartnerPrincipal:
    key_id, _, secret = bearer.partition(".")
    query = (
        sa.select(PartnerApiClient)
        .join(Partner, Partner.id == PartnerApiClient.partner_id)
        .where(PartnerApiClient.key_id == key_id[:40])
    )
    client = (await session.scalars(query)).first()
    if client is None or client.revoked_at is not None or not hmac.compare_digest(client.secret_sha256, sha256(secret)):
        raise DomainError(ErrorCode.UNAUTHENTICATED, "Unknown or revoked partner key.")
    return PartnerPrincipal(client.partner_id, client.id)


def new_partner_key() -> tuple[str, str]:
    """(key id, secret): the secret is shown once and stored only as its digest."""
    return partner_key_prefix + secrets.token_hex(8), secrets.token_urlsafe(32)
