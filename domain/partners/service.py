"""Partner API clients: a key id and a secret shown once, stored as a SHA-256 digest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access import PartnerPrincipal, Permission, Principal, StaffPrincipal, require_staff, role_grants
from domain.auth import service as auth
from domain.columns import records
from domain.errors import DomainError, ErrorCode
from domain.organisation.service import readable, subtree_branch_ids, visible
from domain.organisation.tables import Branch
from domain.partners.errors import PartnerErrorCode
from domain.partners.registry import partner_in_scope, refuse_if_terminated
from domain.partners.tables import Partner, PartnerApiClient
from domain.validation import Checker, name_length_max
from domain.work.commands import Command, PartnerApiClientId, PartnerId
from domain.work.unit import UnitOfWork


@dataclass(frozen=True, kw_only=True)
class CreatePartnerApiClient(Command):
    partner_id: PartnerId
    name: str


@dataclass(frozen=True, kw_only=True)
class RevokePartnerApiClient(Command):
    id: PartnerApiClientId


@dataclass(frozen=True)
class IssuedApiClient:
    client: PartnerApiClient
    credential: str  # `<key id>.<secret>` for `Authorization: Bearer …`: shown this once, stored as a digest

    @property
    def id(self) -> int | None:
        """The key's: the audit trail names what a mutation made by it."""
        return self.client.id


# The partner's live keys (counted with its row locked against another key made at once).
_LIVE_KEYS = sa.text("SELECT count(*) FROM partner_api_client WHERE partner_id = :partner AND revoked_at IS NULL")


api_clients_live_max = 10  # live keys of one partner: a rotation needs two, and retried requests cannot pile them up


async def create_api_client(uow: UnitOfWork, command: CreatePartnerApiClient) -> IssuedApiClient:
    """A new key for the partner; its credential is never shown again. A partner holds at most
    `api_clients_live_max` live keys (its row locked, so that two requests at once never pass the count together)."""
    actor = require_staff(uow.principal, Permission.PARTNER_CLIENT_MANAGE)
    check = Checker()
    name = check.text("name", command.name, length_max=name_length_max, required=True)
    check.raise_if_any()
    partner = await partner_in_scope(uow.session, actor, command.partner_id, "partner_id", lock=True)
    refuse_if_terminated(partner, "it gets no new API keys", "partner_id")
    live = await uow.session.scalar(_LIVE_KEYS, {"partner": partner.id})
    if live >= api_clients_live_max:
        raise DomainError(PartnerErrorCode.API_CLIENT_LIMIT_REACHED, f"{partner.name} holds {live} live API"
                          " clients, the most it may: revoke one it no longer uses first.", "partner_id")  # fmt: skip
    key_id, secret = auth.new_partner_key()
    client = PartnerApiClient(
        partner_id=partner.id,
        name=name,
        key_id=key_id,
        secret_sha256=auth.sha256(secret),
        created_by_staff_id=actor.staff_id,
    )
    uow.session.add(client)
    await uow.session.flush()
    return IssuedApiClient(client, f"{key_id}.{secret}")


async def revoke_api_client(uow: UnitOfWork, command: RevokePartnerApiClient) -> PartnerApiClient:
    """The key stops working at once: this process forgets it now, the others when they hear of the change."""
    actor = require_staff(uow.principal, Permission.PARTNER_CLIENT_MANAGE)
    session = uow.session
    client = await session.get(PartnerApiClient, command.id, with_for_update=True) if command.id is not None else None
    partner = await session.get(Partner, client.partner_id) if client is not None else None
    branch = await session.get(Branch, partner.branch_id) if partner is not None else None
    if branch is None or not actor.covers(branch.path):  # another branch's reads as missing
        raise DomainError(ErrorCode.NOT_FOUND, "No such API client in your scope.", "id")
    if client.revoked_at is not None:
        raise DomainError(PartnerErrorCode.API_CLIENT_REVOKED, "This API client is revoked already.", "id")
    client.revoked_at = uow.now
    await session.flush()
    auth.forget_at_once(uow, [("p", client.id)])  # the other processes hear of it when it commits
    return client


async def get_api_clients_scoped(
    session: AsyncSession, principal: Principal, ids: list[int]
) -> list[PartnerApiClient | None]:
    query = (
        sa.select(PartnerApiClient, Branch.path)
        .join(Partner, Partner.id == PartnerApiClient.partner_id)
        .join(Branch, Branch.id == Partner.branch_id)
        .where(PartnerApiClient.id.in_(ids))
    )
    return await visible(session, query, ids, readable(principal, Permission.PARTNER_CLIENT_MANAGE))


api_clients_listed_max = 100  # of one partner: its live keys (at most 10), then those revoked lately


async def api_clients_of(session: AsyncSession, principal: Principal, partner_ids: list[int]) -> list[list[Any]]:
    """Each partner's API keys, live ones first, each newest first (at most `api_clients_listed_max`: every live
    one), for the staff who manage its keys (its branch in their subtree); none for anyone else."""
    if not role_grants(principal, Permission.PARTNER_CLIENT_MANAGE):
        return [[] for _ in partner_ids]
    assert isinstance(principal, StaffPrincipal)
    live_first = (PartnerApiClient.revoked_at.is_(None).desc(), PartnerApiClient.id.desc())  # at most 10 live
    newest = sa.func.row_number().over(partition_by=PartnerApiClient.partner_id, order_by=live_first)
    ranked = (
        sa.select(PartnerApiClient.id, newest.label("n")).where(PartnerApiClient.partner_id.in_(partner_ids)).subquery()
    )
    query = (
        sa.select(PartnerApiClient)
        .join(ranked, ranked.c.id == PartnerApiClient.id)
        .join(Partner, Partner.id == PartnerApiClient.partner_id)
        .where(ranked.c.n <= api_clients_listed_max, Partner.branch_id.in_(subtree_branch_ids(principal.branch_path)))
        .order_by(*live_first)
    )
    found: dict[int, list[Any]] = {i: [] for i in partner_ids}
    for client in await records(session, query):
        found[client.partner_id].append(client)
    return [found[i] for i in partner_ids]


async def get_partners_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[Partner | None]:
    """Any staff may see partners: members redeem at them everywhere. Editing is scoped. A partner's key sees its
    own partner, and no other."""
    query = sa.select(Partner, Branch.path).join(Branch, Branch.id == Partner.branch_id).where(Partner.id.in_(ids))
    if isinstance(principal, PartnerPrincipal):
        return await visible(session, query, ids, lambda row, _path: row.id == principal.partner_id)
    return await visible(session, query, ids, readable(principal, Permission.ORGANISATION_READ, scoped=False))


async def list_partners(session: AsyncSession, principal: Principal) -> list[Partner]:
    """Every partner (national and provincial) for any staff member."""
    require_staff(principal, Permission.ORGANISATION_READ)
    return await records(session, sa.select(Partner).order_by(Partner.code).limit(1_000))
