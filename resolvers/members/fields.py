"""Members: the member's own view and staff maintenance."""

from __future__ import annotations

import strawberry
from strawberry import relay

from domain.members import service as members
from resolvers.declare import list_field, mutation_field
from resolvers.edge import node_of
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
        services = info.context.services
        # Grades, clubs and branches the process remembers are not read again (a lapsed one is, by its loader).
        remembering = services.principals is not None and services.principals.active
        me = await members.get_me(services.engine, info.context.principal, related=not remembering)
        loaders = info.context.loaders  # what `me` shows beside the member costs no more statements
        if me.grade is not None and me.club is not None and me.branch is not None:
            loaders.grades.prime(me.grade.code, me.grade)
            loaders.clubs.prime(me.club.id, me.club)
            loaders.branches.prime(me.branch.id, me.branch)
        loaders.customers.prime(me.customer.id, me.customer)
        loaders.accounts_by_customer.prime(me.customer.id, me.accounts)
        return me.member

    @strawberry.field(description="A member you may see, or null.")
    async def member(self, info: strawberry.Info, id: relay.GlobalID) -> MemberType | None:
        return await node_of(info, MemberType, id)

    members = list_field(
        members.list_members, MemberType, MemberFilter, description="Members in your subtree (staff), oldest first."
    )


@strawberry.type
class MemberMutation:
    create_member = mutation_field(
        members.create_member,
        CreateMemberInput,
        MemberPayload,
        "member",
        description="Admit a customer to a club; the club sets the member number.",
    )

    update_member = mutation_field(
        members.update_member,
        UpdateMemberInput,
        MemberPayload,
        "member",
        description="Change a member's club, status, validity, manager or profile.",
    )

    update_my_profile = mutation_field(
        members.update_my_profile,
        UpdateMyProfileInput,
        MemberPayload,
        "member",
        description="A member changes their own personal details.",
    )
