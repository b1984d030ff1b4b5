"""Branches, grades and clubs."""

from __future__ import annotations

import strawberry
from strawberry import relay

from domain.organisation import service as organisation
from resolvers.edge import mutate, paged, read
from schema.organisation import BranchType, ClubPayload, ClubType, CreateClubInput, GradeType, UpdateClubInput


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


@strawberry.type
class OrganisationMutation:
    @strawberry.mutation(description="Open a club for a branch in your subtree (administrator).")
    async def create_club(self, info: strawberry.Info, input: CreateClubInput) -> ClubPayload:
        return await mutate(info, ClubPayload, organisation.create_club, input, "club")

    @strawberry.mutation(description="Change a club's details (administrator).")
    async def update_club(self, info: strawberry.Info, input: UpdateClubInput) -> ClubPayload:
        return await mutate(info, ClubPayload, organisation.update_club, input, "club")
