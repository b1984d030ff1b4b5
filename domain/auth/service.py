"""Logins, tokens and sessions for members and staff; API keys for partners.

An access token is a short-lived signed token naming a session; every request looks the
session up, so logout and password change take effect at once. The refresh token is a
random secret stored only as its SHA-256 digest and rotated on every use; any token a
session traded away, presented again, ends the session.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from domain import passwords
from domain.access import MemberPrincipal, PartnerPrincipal, Principal, StaffPrincipal, require_person
from domain.auth.principals import Principals
from domain.auth.tables import AuthSession, LoginAttempt, PrincipalKind, RetiredRefreshToken
from domain.customers.tables import SubscriberNumber
from domain.errors import DomainError, ErrorCode, RecordedRefusal
from domain.members import states
from domain.members.states import MemberOperation
from domain.members.tables import Member, MemberStatus
from domain.organisation.tables import Branch, Staff
from domain.partners.tables import Partner, PartnerApiClient, PartnerStatus
from domain.validation import Checker
from domain.work import driver
from domain.work.commands import Command
from domain.work.unit import UnitOfWork

login_length_max = 100
password_length_checked_max = 1024  # longer is nobody's password: refused without hashing it
refresh_token_length_max = 200
verified_tokens_max = 4_096  # access tokens whose signature check a process remembers
partner_key_prefix = "pk_"
_wrong_login = "Wrong login or password."


@dataclass(frozen=True)
class AuthPolicy:
    secret_key: str
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    login_failures_max: int = 5  # failures of one login from one address within the window: that address waits
    login_lock_seconds: int = 900  # the window
    login_failures_ceiling: int = 20  # failures of one login from anywhere: each next attempt waits twice as long
    login_address_failures_max: int = 100  # failures of any logins from one address within the window: it waits
    # The principals this process remembers for a few seconds (`domain/auth/principals.py`); none: every
    # request looks its principal up.
    principals: Principals | None = field(default=None, compare=False, repr=False)


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


@dataclass(frozen=True, kw_only=True)
class CredentialCommand(Command):
    """A command whose input is the caller's credential (a password, a refresh token): anyone may send one, and a
    bad token sent along is no reason to refuse it."""

    @classmethod
    def admit(cls, principal: Principal) -> None:
        pass


@dataclass(frozen=True, kw_only=True)
class Login(CredentialCommand):
    kind: PrincipalKind
    login: str  # member: member number or subscriber number; staff: username
    password: str


async def login(uow: UnitOfWork, command: Login) -> Tokens:
    """Check a password; count failures and lock after too many.

    The attempt is recorded either way: a failure is a `RecordedRefusal`, which the unit of
    work commits (the attempt, the failure count, the lock) before it is answered.
    """
    policy = uow.policy(AuthPolicy)
    check = Checker()
    login_name = check.text("login", command.login, length_max=login_length_max, required=True) or ""
    if check.problems or len(command.password) > password_length_checked_max:
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, _wrong_login)  # nobody's login: nothing to record
    if command.kind not in LOGIN_KINDS:
        raise DomainError(ErrorCode.INVALID, "Members and staff log in; partners use their API key.", "kind")
    session, address = uow.session, counted_address(uow.remote_address)
    # the connection is taken inside the turn, and held while the hash waits for a thread
    async with _queue(command.kind, login_name), passwords.turn():
        identity = await _find_identity(session, command.kind, login_name)
        key = _login_key(identity, login_name)
        throttled = await _throttle(session, command.kind, key, address, uow.now, policy)
        if identity is not None:  # read again after the throttle's lock, which a password change holds to its end
            await session.refresh(identity)
        refusal = throttled or await _judge(session, identity, command.password)
    reason = "THROTTLED" if throttled else "OK" if refusal is None else "UNKNOWN_LOGIN" if identity is None else "WRONG"
    session.add(_attempt(command.kind, key, identity, reason, address))
    if refusal is not None:
        raise refusal
    assert identity is not None
    return await _open_session(session, policy, command.kind, identity.id, uow.now)


LOGIN_KINDS = frozenset({PrincipalKind.MEMBER, PrincipalKind.STAFF})


def _queue(kind: PrincipalKind, login_name: str) -> asyncio.Lock:
    """The attempts of one login (as typed) in this process wait for each other, holding no turn."""
    return passwords.queue(f"login:{kind.value}:{login_name}")


def counted_address(address: str | None) -> str | None:
    """Where attempts are counted from: an IPv4 address, or an IPv6 address's /64 network, which one subscriber
    holds whole (counted one by one, its addresses would each bring their own allowance)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(getattr(ip, "ipv4_mapped", None) or ip)


def _attempt(
    kind: PrincipalKind, key: str, identity: Member | Staff | None, reason: str, address: str | None
) -> LoginAttempt:
    """One proof of a password (a login, or a password change's current one), as throttling counts it."""
    return LoginAttempt(kind=kind, login=key, succeeded=reason == "OK", reason=reason, remote_address=address,
                        member_id=identity.id if isinstance(identity, Member) else None,
                        staff_id=identity.id if isinstance(identity, Staff) else None)  # fmt: skip


def _login_key(identity: Member | Staff | None, login_name: str) -> str:
    """What a login's attempts are counted and recorded under: a member's number, whichever of their numbers
    they log in with (so that each alias does not add its own allowance); else the login as given."""
    return identity.member_number if isinstance(identity, Member) else login_name


async def _find_identity(session: AsyncSession, kind: PrincipalKind, login_name: str) -> Member | Staff | None:
    """The member or staff a login names, unlocked (a login never waits for a writer of the row). A login reads it
    again once it holds the throttle's lock, which a password change of the person holds until it commits: read
    only before, the old password passed during a change and opened a session the change never ended."""
    if kind == PrincipalKind.STAFF:
        query = sa.select(Staff).where(Staff.username == login_name)
    else:
        # A login that is one member's number and another's subscriber number names the first: a line's number
        # is chosen by staff, a member number by the club, so no line can take a member's login from them.
        by_line = sa.select(SubscriberNumber.customer_id).where(SubscriberNumber.number == login_name)
        query = (
            sa.select(Member)
            .where(sa.or_(Member.member_number == login_name, Member.customer_id.in_(by_line.scalar_subquery())))
            .order_by((Member.member_number == login_name).desc())
        )
    return (await session.scalars(query.limit(1))).first()


# The recent failures of one login (since the window opened, or its last success, or an operator's clear):
# from the caller's address, from anywhere, and when the last one was; and the failures of any logins from
# the caller's address in the window (the last one's time too); and whether the login succeeded from the caller's
# address lately. Attempts refused by the throttle itself do not count, so waiting is enough to be let in again;
# each part reads an index of the other attempts only (`reason <> 'THROTTLED'`): a flood of them costs nothing.
_RECENT_FAILURES = sa.text(
    """SELECT login.here, login.anywhere, login.last, address.failures, address.last,
              EXISTS (SELECT 1 FROM login_attempt
                      WHERE kind = :kind AND login = :login AND reason = 'OK' AND reason <> 'THROTTLED'
                        AND remote_address = :address AND attempted_at > :known_since) AS known
       FROM (SELECT count(*) FILTER (WHERE remote_address IS NOT DISTINCT FROM :address) AS here,
                    count(*) AS anywhere, max(attempted_at) AS last
             FROM login_attempt
             WHERE kind = :kind AND login = :login AND NOT succeeded AND reason <> 'THROTTLED'
               AND attempted_at > :since
               AND attempted_at > coalesce((SELECT max(attempted_at) FROM login_attempt
                                            WHERE kind = :kind AND login = :login AND succeeded
                                              AND reason <> 'THROTTLED' AND attempted_at > :since), '-infinity')
            ) AS login,
            (SELECT count(*) AS failures, max(attempted_at) AS last FROM login_attempt
             WHERE remote_address = :address AND NOT succeeded AND reason <> 'THROTTLED' AND attempted_at > :since
            ) AS address"""
)


known_address_days = 30  # an address a login succeeded from this lately is its owner's, for the ceiling


async def _throttle(
    session: AsyncSession, kind: PrincipalKind, login_name: str, address: str | None, now: datetime, policy: AuthPolicy
) -> RecordedRefusal | None:
    """Whether this attempt must wait, decided from the attempts alone, so that a login that exists and one
    that does not are answered alike, and no stranger can lock the owner out: failures from the caller's
    address make that address wait (`login_failures_max` in the window); failures from everywhere past
    `login_failures_ceiling` slow every address down (twice as long after each) but never lock it, save one the
    login succeeded from in the last `known_address_days` (strangers racing the delay keep no owner out); failures of
    any logins from the caller's address past `login_address_failures_max` make that address wait for every
    login (one address trying many logins: each attempt costs a password hash)."""
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"{kind}:{login_name}", 0))))
    window = timedelta(seconds=policy.login_lock_seconds)
    params = {"kind": kind.value, "login": login_name, "address": address, "since": now - window,
              "known_since": now - timedelta(days=known_address_days)}  # fmt: skip
    here, anywhere, last, from_address, address_last, known = (await session.execute(_RECENT_FAILURES, params)).one()
    if from_address >= policy.login_address_failures_max:
        until = f"{address_last + window:%H:%M}"
        return RecordedRefusal(ErrorCode.LOCKED, f"Too many failed logins from here; try again after {until} UTC.")
    if here >= policy.login_failures_max:
        until = f"{last + window:%H:%M}"
        return RecordedRefusal(ErrorCode.LOCKED, f"Too many failed logins from here; try again after {until} UTC.")
    if anywhere >= policy.login_failures_ceiling and not known:
        delay = min(timedelta(seconds=2 ** (anywhere - policy.login_failures_ceiling)), window)
        if now < last + delay:
            wait = int((last + delay - now).total_seconds()) + 1
            return RecordedRefusal(ErrorCode.LOCKED, f"Too many failed logins; try again in {wait} seconds.")
    return None


@dataclass(frozen=True)
class Throttled:
    kind: PrincipalKind
    login: str
    failures: int
    addresses: int
    last_failed_at: datetime


async def throttled_logins(session: AsyncSession, policy: AuthPolicy, now: datetime) -> list[Throttled]:
    """The logins with failures in the window since their last success, most failures first (operators)."""
    rows = await session.execute(
        sa.text(
            """SELECT a.kind, a.login, count(*), count(DISTINCT a.remote_address), max(a.attempted_at)
               FROM login_attempt a
               WHERE NOT a.succeeded AND a.reason <> 'THROTTLED' AND a.attempted_at > :since
                 AND a.attempted_at > coalesce((SELECT max(s.attempted_at) FROM login_attempt s
                     WHERE s.kind = a.kind AND s.login = a.login AND s.succeeded), '-infinity')
               GROUP BY a.kind, a.login ORDER BY count(*) DESC, a.login LIMIT 100"""
        ),
        {"since": now - timedelta(seconds=policy.login_lock_seconds)},
    )
    return [Throttled(PrincipalKind(kind), login, n, addresses, last) for kind, login, n, addresses, last in rows]


@dataclass(frozen=True)
class Cleared:
    failures: int  # the failed attempts forgiven (those since the login's last success)
    identity: str | None  # whose login it is (`Member:12`, `Staff:3`); None when nobody's
    branch_id: int | None  # their branch


async def clear_throttle(session: AsyncSession, kind: PrincipalKind, login_name: str, note: str) -> Cleared:
    """Let a login (any of a member's numbers) try again from everywhere at once: an operator's clear counts as
    its last success. With no failures to forgive, a login mistyped or never refused, nothing is written."""
    identity = await _find_identity(session, kind, login_name)
    key = _login_key(identity, login_name)
    failures = await session.scalar(_FAILURES_SINCE_SUCCESS, {"kind": kind.value, "login": key}) or 0
    if failures:
        session.add(LoginAttempt(kind=kind, login=key, succeeded=True, reason="CLEARED", remote_address=note[:64]))
        await session.flush()
    if identity is None:
        return Cleared(failures, None, None)
    return Cleared(failures, f"{kind.value.title()}:{identity.id}", identity.branch_id)


_FAILURES_SINCE_SUCCESS = sa.text(
    """SELECT count(*) FROM login_attempt a
       WHERE a.kind = :kind AND a.login = :login AND NOT a.succeeded AND a.reason <> 'THROTTLED'
         AND a.attempted_at > coalesce((SELECT max(s.attempted_at) FROM login_attempt s
                                        WHERE s.kind = a.kind AND s.login = a.login AND s.succeeded), '-infinity')"""
)


async def _judge(session: AsyncSession, identity: Member | Staff | None, password: str) -> RecordedRefusal | None:
    """Why the attempt fails, or None when it succeeds. An unknown login costs a hash check too and gets the
    answer a wrong password gets. A hash due for a stronger one is replaced only if the row is free and still holds
    the hash checked: a login never waits for the row while it holds the throttle's lock, which a password change
    holding the row waits for (they would wait for each other); the next login rehashes it."""
    wrong = RecordedRefusal(ErrorCode.INVALID_CREDENTIALS, _wrong_login)
    if identity is None:
        await passwords.verify_secret(password, None)
        return wrong
    matches, new_hash = await passwords.verify_secret(password, identity.password_hash)
    if not matches or not _usable(identity):
        return wrong
    if new_hash is not None:
        model = type(identity)
        free = sa.select(model.id).where(model.id == identity.id, model.password_hash == identity.password_hash)
        if await session.scalar(free.with_for_update(key_share=True, skip_locked=True)) is not None:
            identity.password_hash = new_hash
    return None


def _usable(identity: Member | Staff) -> bool:
    if isinstance(identity, Staff):
        return _staff_usable(identity.active)
    return _member_usable(identity.status)


def _member_usable(status: MemberStatus) -> bool:
    return states.allows(status, MemberOperation.LOG_IN)


def _staff_usable(active: bool) -> bool:
    return active


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
    person = row.member_id if kind == PrincipalKind.MEMBER else row.staff_id
    access_token = jwt.encode(
        {"sid": row.id, "sub": _subject(kind.value, person), "kind": kind.value, "exp": access_expires_at, "iat": now},
        policy.secret_key,
        algorithm="HS256",
    )
    return Tokens(access_token, access_expires_at, refresh_token, row.expires_at, kind)


# --- refresh, logout, password change ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RefreshToken(CredentialCommand):
    refresh_token: str


@dataclass(frozen=True, kw_only=True)
class Logout(Command):
    """End the caller's own session."""


@dataclass(frozen=True, kw_only=True)
class ChangePassword(Command):
    current_password: str
    new_password: str


async def refresh(uow: UnitOfWork, command: RefreshToken) -> Tokens:
    """Rotate the refresh token: the one presented can never be used again."""
    policy = uow.policy(AuthPolicy)
    refresh_token = command.refresh_token
    if not 0 < len(refresh_token) <= refresh_token_length_max:
        raise DomainError(ErrorCode.TOKEN_REVOKED, "Unknown refresh token.", "refresh_token")
    digest = sha256(refresh_token)
    traded = sa.select(RetiredRefreshToken.session_id).where(RetiredRefreshToken.token_sha256 == digest)
    query = sa.select(AuthSession).where(
        sa.or_(AuthSession.refresh_token_sha256 == digest, AuthSession.id == traded.scalar_subquery())
    )
    row = (await uow.session.scalars(query.with_for_update())).first()
    if row is None:
        # Presented twice at once: the other request rotated the token while this one waited for the session's
        # lock, and the lock's recheck finds neither the token (replaced) nor its trade (committed after this
        # statement began). A statement begun now sees the trade.
        row = (await uow.session.scalars(query.with_for_update())).first()
    if row is not None and row.refresh_token_sha256 != digest and row.revoked_at is None:
        # A token the session traded away (at any rotation) is presented again: two parties hold the session;
        # end it for both.
        row.revoked_at = uow.now
        raise RecordedRefusal(
            ErrorCode.TOKEN_REVOKED, "This refresh token was used already; the session has ended. Log in again.",
            "refresh_token",
        )  # fmt: skip
    if row is None or row.revoked_at is not None:
        raise DomainError(
            ErrorCode.TOKEN_REVOKED, "This refresh token is no longer valid; log in again.", "refresh_token"
        )
    if row.expires_at <= uow.now:
        raise DomainError(ErrorCode.TOKEN_EXPIRED, "This refresh token has expired; log in again.", "refresh_token")
    kind = PrincipalKind.MEMBER if row.member_id is not None else PrincipalKind.STAFF
    identity = await uow.session.get(Member if row.member_id else Staff, row.member_id or row.staff_id)
    if identity is None or not _usable(identity):
        raise DomainError(ErrorCode.TOKEN_REVOKED, "This login is no longer allowed.", "refresh_token")
    new_refresh_token = secrets.token_urlsafe(32)
    row.refresh_token_sha256 = sha256(new_refresh_token)  # the database keeps the one traded away
    row.expires_at = uow.now + timedelta(seconds=policy.refresh_token_ttl_seconds)
    return _tokens(policy, kind, row, new_refresh_token, uow.now)


login_attempts_kept_days = 90  # the record of logins, for an investigation; the throttle reads 30 days at most


async def prune_sessions(session: AsyncSession, now: datetime) -> tuple[int, int]:
    """Forget the refresh tokens traded away by sessions that have ended (expired or revoked): presented again,
    they are refused as any unknown token is; and the login attempts older than `login_attempts_kept_days`.
    The numbers forgotten (tokens, attempts)."""
    ended = sa.select(AuthSession.id).where(sa.or_(AuthSession.expires_at <= now, AuthSession.revoked_at.is_not(None)))
    pruned = await session.execute(sa.delete(RetiredRefreshToken).where(RetiredRefreshToken.session_id.in_(ended)))
    before = now - timedelta(days=login_attempts_kept_days)
    attempts = await session.execute(sa.delete(LoginAttempt).where(LoginAttempt.attempted_at < before))
    return pruned.rowcount, attempts.rowcount


async def logout(uow: UnitOfWork, command: Logout) -> None:
    """The session's access and refresh tokens stop working at once, in every process (`principals`)."""
    person = require_person(uow.principal)
    forget_at_once(uow, [("s", person.session_id)])
    await uow.session.execute(
        sa.update(AuthSession)
        .where(AuthSession.id == person.session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=uow.now)
    )


async def change_password(uow: UnitOfWork, command: ChangePassword) -> Tokens:
    """Replace the password, end every session of the identity, and open a new one."""
    person = require_person(uow.principal)
    check = Checker()
    check.password("new_password", command.new_password)
    check.raise_if_any()
    session = uow.session
    is_member = isinstance(person, MemberPrincipal)
    model = Member if is_member else Staff
    identity_id = person.member_id if is_member else person.staff_id
    async with passwords.turn():  # as a login: the connection taken here, held while the hashes wait
        # FOR NO KEY UPDATE: a login of the identity (its attempt refers to the row) never waits for it in a cycle
        identity = await session.get(model, identity_id, with_for_update={"key_share": True})
        assert identity is not None, "a live session names an existing identity"
        # A wrong current password is a failed login of the identity: counted, and throttled, as the logins are
        # (a session's holder, e.g. a stolen token's, must not try passwords here without end).
        kind = PrincipalKind.MEMBER if is_member else PrincipalKind.STAFF
        key = _login_key(identity, identity.username if isinstance(identity, Staff) else identity.member_number)
        policy = uow.policy(AuthPolicy)
        address = counted_address(uow.remote_address)
        throttled = await _throttle(session, kind, key, address, uow.now, policy)
        matches = (
            False if throttled else (await passwords.verify_secret(command.current_password, identity.password_hash))[0]
        )
        if not matches:
            session.add(_attempt(kind, key, identity, "THROTTLED" if throttled else "WRONG", address))
            if throttled:
                raise RecordedRefusal(throttled.code, throttled.problems[0].message, "current_password")
            raise RecordedRefusal(ErrorCode.INVALID_CREDENTIALS, "The current password is wrong.", "current_password")
        if command.current_password == command.new_password:
            raise DomainError(ErrorCode.INVALID, "The new password must differ from the current one.", "new_password")
        identity.password_hash = await passwords.hash_secret(command.new_password)
    owner = AuthSession.member_id if is_member else AuthSession.staff_id
    await session.execute(
        sa.update(AuthSession).where(owner == identity_id, AuthSession.revoked_at.is_(None)).values(revoked_at=uow.now)
    )
    forget_at_once(uow, [("m" if is_member else "t", identity_id)])
    return await _open_session(session, policy, kind, identity_id, uow.now)


def forget_at_once(uow: UnitOfWork, owners: list[tuple[str, int]]) -> None:
    """This process forgets the sessions at once, before the change commits, and remembers them again only
    after `seconds` (the other processes hear of it when it commits)."""
    principals = uow.policy(AuthPolicy).principals
    if principals is not None:
        principals.forget(owners, quiet=True)


# --- request authentication ------------------------------------------------------------


async def authenticate(engine: AsyncEngine, policy: AuthPolicy, bearer: str) -> Principal:
    """The principal behind an `Authorization: Bearer …` value; raises on a bad credential.

    Remembered by this process for a few seconds (`policy.principals`, `domain/auth/principals.py`), or
    looked up in one statement, sent straight to the driver: every authenticated request pays for it, so it
    costs one indexed lookup and no execution layer (`domain/work/driver.py`)."""
    if bearer.startswith(partner_key_prefix):
        return await _authenticate_partner(engine, policy.principals, bearer)
    try:
        session_id, expires_at, subject = _verified(bearer, policy.secret_key)
    except jwt.ExpiredSignatureError:
        raise DomainError(ErrorCode.TOKEN_EXPIRED, "The access token has expired; refresh it.") from None
    except jwt.InvalidTokenError:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "The access token is not valid.") from None
    if expires_at <= time.time():  # a token verified before, expired since (the clock the signature check uses)
        raise DomainError(ErrorCode.TOKEN_EXPIRED, "The access token has expired; refresh it.")
    principals = policy.principals
    if principals is not None and principals.active:
        remembered = principals.get(session_id, subject)  # only for the person it was remembered for
        if remembered is not None:
            return remembered
    # Before the lookup: a change heard of meanwhile wins (so does the listener connecting meanwhile, which
    # forgets everything and so raises the generation too).
    generation = principals.generation if principals is not None else 0
    found = next(iter(await driver.rows(engine, _SESSION_PRINCIPAL, {"session_id": session_id})), None)
    if found is None or found.revoked_at is not None:
        raise DomainError(ErrorCode.TOKEN_REVOKED, "This session has ended; log in again.")
    kind = PrincipalKind.MEMBER if found.member_id is not None else PrincipalKind.STAFF
    if _subject(kind.value, found.member_id or found.staff_id).encode() != subject:
        raise DomainError(ErrorCode.TOKEN_REVOKED, "This session has ended; log in again.")  # not this token's
    principal: Principal
    if found.member_id is not None and _member_usable(found.member_status):
        principal = MemberPrincipal(found.member_id, found.path, found.id)
    elif found.staff_id is not None and _staff_usable(found.staff_active):
        principal = StaffPrincipal(found.staff_id, found.staff_role, found.staff_branch_id, found.path, found.id)
    else:
        raise DomainError(ErrorCode.TOKEN_REVOKED, "This login is no longer allowed.")
    if principals is not None and principals.active:
        principals.put(session_id, principal, generation, subject)
    return principal


@functools.lru_cache(maxsize=verified_tokens_max)
def _verified(bearer: str, secret_key: str) -> tuple[Any, float, bytes]:
    """(session id, expiry, person) of a token whose signature and claims were checked; kept for the tokens in
    use, so a client's next request skips the signature check. Revocation is not cached here: the session is
    looked up, or remembered while its changes are heard of (`principals`).

    The token names the person as well as the session: a session id given again (a database restored from
    a backup starts its sessions' numbers where the backup left them) then never lets an older token act
    as the new session's person. A token of ours from before the person was named is expired: refreshed,
    it names them."""
    claims = jwt.decode(bearer, secret_key, algorithms=["HS256"], options={"require": ["exp", "sid"]})
    session_id, expires_at, subject = claims["sid"], claims["exp"], claims.get("sub")
    if type(session_id) is not int or not 0 < session_id < 2**63 or isinstance(expires_at, bool):
        raise jwt.InvalidTokenError("claims of the wrong type")  # signed by us, so never; refused all the same
    if subject is None:
        raise jwt.ExpiredSignatureError("a token from before the person was named")
    if type(subject) is not str or len(subject) > 40:
        raise jwt.InvalidTokenError("claims of the wrong type")
    return session_id, float(expires_at), subject.encode()


def _subject(kind: str, person: int | None) -> str:
    return f"{kind}:{person}"


# Every authenticated request runs this: one indexed lookup returning only the columns a principal
# needs, as plain rows (no entity objects are built).
_SESSION_PRINCIPAL = (
    sa.select(
        AuthSession.id,
        AuthSession.revoked_at,
        Member.id.label("member_id"),
        Member.status.label("member_status"),
        Staff.id.label("staff_id"),
        Staff.role.label("staff_role"),
        Staff.branch_id.label("staff_branch_id"),
        Staff.active.label("staff_active"),
        Branch.path,
    )
    .outerjoin(Member, Member.id == AuthSession.member_id)
    .outerjoin(Staff, Staff.id == AuthSession.staff_id)
    .join(Branch, Branch.id == sa.func.coalesce(Member.branch_id, Staff.branch_id))
    .where(AuthSession.id == sa.bindparam("session_id"))
)


_PARTNER_CLIENT = (
    sa.select(
        PartnerApiClient.id,
        PartnerApiClient.partner_id,
        PartnerApiClient.secret_sha256,
        PartnerApiClient.revoked_at,
        Partner.status,
        Branch.path,
    )
    .join(Partner, Partner.id == PartnerApiClient.partner_id)
    .join(Branch, Branch.id == Partner.branch_id)
    .where(PartnerApiClient.key_id == sa.bindparam("key_id"))
)


async def _authenticate_partner(engine: AsyncEngine, principals: Principals | None, bearer: str) -> PartnerPrincipal:
    key_id, _, secret = bearer.partition(".")
    key_id, digest = key_id[:40], sha256(secret)
    if principals is not None and principals.active:
        remembered = principals.get(key_id, digest)
        if isinstance(remembered, PartnerPrincipal):
            return remembered
    generation = principals.generation if principals is not None else 0
    client = next(iter(await driver.rows(engine, _PARTNER_CLIENT, {"key_id": key_id})), None)
    good = client is not None and client.revoked_at is None and client.status == PartnerStatus.ACTIVE
    if not good or not hmac.compare_digest(client.secret_sha256, digest):  # a suspended partner's key too
        raise DomainError(ErrorCode.UNAUTHENTICATED, "Unknown or revoked partner key.")
    principal = PartnerPrincipal(client.partner_id, client.id, client.path)
    if principals is not None and principals.active:
        principals.put(key_id, principal, generation, digest)  # only with the secret it was found with
    return principal


def new_partner_key() -> tuple[str, str]:
    """(key id, secret): the secret is shown once and stored only as its digest."""
    return partner_key_prefix + secrets.token_hex(8), secrets.token_urlsafe(32)
