"""Members: the member's own view and staff maintenance."""

from __future__ import annotations

import strawberry
from strawberry import relay

from domain.members import service as members
from resolvers.edge import mutate, node_of, paged, read
from schema.members import (
    CreateMemberInput,
    MemberFilter,
    MemberPayload,
    MemberType,
    UpdateMemberInput,
    UpdateMyProfileInput,
)


@strawberry.type
class MemberQuery:
    @strawberry.field(description="The logged-in member: profile, club, grade, number and accounts.")
    async def me(self, info: strawberry.Info) -> MemberType:
        return await read(info, lambda s: members.get_me(s, info.context.principal))

    @strawberry.field(description="A member you may see, or null.")
    async def member(self, info: strawberry.Info, id: relay.GlobalID) -> MemberType | None:
        return await node_of(info, MemberType, id)

    @strawberry.field(description="Members in your subtree (staff), oldest first.")
    async def members(
        self,
        info: strawberry.Info,
        filter: MemberFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> relay.Connection[MemberType]:
        return await paged(info, members.list_members, filter, first, after, last, before)


@strawberry.type
class MemberMutation:
    @strawberry.mutation(description="Admit a customer to a club; the club sets the member number.")
    async def create_member(self, info: strawberry.Info, input: CreateMemberInput) -> MemberPayload:
        return await mutate(info, MemberPayload, members.create_member, input, "member")

    @strawberry.mutation(description="Change a member's club, status, validity, manager or profile.")
    async def update_member(self, info: strawberry.Info, input: UpdateMemberInput) -> MemberPayload:
        return await mutate(info, MemberPayload, members.update_member, input, "member")

    @strawberry.mutation(description="A member changes their own personal details.")
    async def update_my_profile(self, info: strawberry.Info, input: UpdateMyProfileInput) -> MemberPayload:
        return await mutate(info, MemberPayload, members.update_my_profile, input, "member")
