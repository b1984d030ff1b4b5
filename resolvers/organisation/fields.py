"""Branches, grades, clubs, outlets and staff."""

from __future__ import annotations

import strawberry

from domain.organisation import outlets
from domain.organisation import service as organisation
from domain.organisation import staff as staff_accounts
from resolvers.declare import list_field, mutation_field
from resolvers.edge import read
from schema.organisation import (
    BranchType,
    ClubPayload,
    ClubType,
    CreateClubInput,
    CreateOutletInput,
    GradeType,
    OutletPayload,
    OutletType,
    StaffFilter,
    StaffPayload,
    StaffType,
    UpdateClubInput,
    UpdateOutletInput,
    UpdateStaffInput,
)


@strawberry.type
class OrganisationQuery:
    @strawberry.field(description="Branches in your subtree, HQ first (staff).")
    async def branches(self, info: strawberry.Info) -> list[BranchType]:
        return await read(info, lambda s: organisation.list_branches(s, info.context.principal))

    @strawberry.field(description="Membership grades, highest first.")
    async def grades(self, info: strawberry.Info) -> list[GradeType]:
        return await read(info, organisation.list_grades)

    clubs = list_field(organisation.list_clubs, ClubType, description="Clubs of branches in your subtree (staff).")

    outlets = list_field(outlets.list_outlets, OutletType, description="Outlets of branches in your subtree (staff).")

    staff = list_field(
        staff_accounts.list_staff,
        StaffType,
        StaffFilter,
        description="Staff of branches in your subtree (staff), oldest first.",
    )


@strawberry.type
class OrganisationMutation:
    create_club = mutation_field(
        organisation.create_club,
        CreateClubInput,
        ClubPayload,
        "club",
        description="Open a club for a branch in your subtree (administrator).",
    )

    update_club = mutation_field(
        organisation.update_club,
        UpdateClubInput,
        ClubPayload,
        "club",
        description="Change a club's details (administrator).",
    )

    create_outlet = mutation_field(
        outlets.create_outlet,
        CreateOutletInput,
        OutletPayload,
        "outlet",
        description="Open a service outlet for a branch in your subtree (administrator).",
    )

    update_outlet = mutation_field(
        outlets.update_outlet,
        UpdateOutletInput,
        OutletPayload,
        "outlet",
        description="Change an outlet's details, or close it (administrator).",
    )

    update_staff = mutation_field(
        staff_accounts.update_staff,
        UpdateStaffInput,
        StaffPayload,
        "staff",
        description="Rename a member of staff of your subtree, change their role, or deactivate them (ending their"
        " access at once) and reactivate them (administrator).",
    )
