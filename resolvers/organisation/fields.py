"""Branches, grades, clubs and partner API clients."""

from __future__ import annotations

import strawberry
from strawberry import relay

from domain.organisation import service as organisation
from domain.partners import service as partners
from resolvers.edge import fields, mutate_legacy, paged, read
from schema.organisation import (
    BranchType,
    ClubPayload,
    ClubType,
    CreateClubInput,
    CreatePartnerApiClientInput,
    CreatePartnerApiClientPayload,
    GradeType,
    PartnerType,
    RevokePartnerApiClientInput,
    RevokePartnerApiClientPayload,
    UpdateClubInput,
)


@strawberry.type
class OrganisationQuery:
    @strawberry.field(description="Branches in your subtree, HQ first (staff).")
    async def branches(self, info: strawberry.Info) -> list[BranchType]:
        return await read(info, lambda s: organisation.list_branches(s, info.context.principal))

    @strawberry.field(description="Membership grades, highest first.")
    async def grades(self, info: strawberry.Info) -> list[GradeType]:
        return await read(info, organisation.list_grades)

    @strawberry.field(description="Clubs of branches in your subtree (staff).")
    async def clubs(
        self,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> relay.Connection[ClubType]:
        return await paged(info, organisation.list_clubs, None, first, after, last, before)

    @strawberry.field(description="Partner merchants (staff).")
    async def partners(self, info: strawberry.Info) -> list[PartnerType]:
        return await read(info, lambda s: partners.list_partners(s, info.context.principal))


@strawberry.type
class OrganisationMutation:
    @strawberry.mutation(description="Open a club for a branch in your subtree (administrator).")
    async def create_club(self, info: strawberry.Info, input: CreateClubInput) -> ClubPayload:
        return await mutate_legacy(
            info, ClubPayload, lambda s: organisation.create_club(s, info.context.principal, **fields(input)), "club"
        )

    @strawberry.mutation(description="Change a club's details (administrator).")
    async def update_club(self, info: strawberry.Info, input: UpdateClubInput) -> ClubPayload:
        return await mutate_legacy(
            info,
            ClubPayload,
            lambda s: organisation.update_club(s, info.context.principal, **fields(input, "Club")),
            "club",
        )

    @strawberry.mutation(description="Issue an API key to a partner system; the secret is shown once (administrator).")
    async def create_partner_api_client(
        self, info: strawberry.Info, input: CreatePartnerApiClientInput
    ) -> CreatePartnerApiClientPayload:
        async def action(session):
            client, credential = await partners.create_api_client(session, info.context.principal, **fields(input))
            return {"client": client, "credential": credential}

        return await mutate_legacy(info, CreatePartnerApiClientPayload, action)

    @strawberry.mutation(description="Revoke a partner API key at once (administrator).")
    async def revoke_partner_api_client(
        self, info: strawberry.Info, input: RevokePartnerApiClientInput
    ) -> RevokePartnerApiClientPayload:
        return await mutate_legacy(
            info,
            RevokePartnerApiClientPayload,
            lambda s: partners.revoke_api_client(s, info.context.principal, **fields(input, "PartnerApiClient")),
            "client",
        )
