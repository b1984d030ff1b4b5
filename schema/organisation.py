"""Branches, clubs, grades and staff as GraphQL types (roots are database rows)."""

from __future__ import annotations

from collections.abc import Iterable

import strawberry
from strawberry import relay

from domain import requests
from domain.auth.tables import PrincipalKind
from domain.members.tables import GradeStatus as DomainGradeStatus
from domain.members.tables import Roaming as DomainRoaming
from domain.organisation import tables as organisation_tables
from schema.common import BranchLevel, StaffRole, UserError, joined, node_keys, row_type


@strawberry.type(name="Branch", description="HQ, a provincial branch, or a city branch [O1].")
class BranchType(relay.Node):
    id: relay.NodeID[int]
    code: str
    name: str
    level: BranchLevel
    is_type_of = row_type(organisation_tables.Branch)

    @strawberry.field
    @joined("branches_scoped", "parent_id")
    def parent(self, info: strawberry.Info) -> BranchType | None: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.branches_scoped.load_many(node_keys(node_ids))


Roaming = strawberry.enum(DomainRoaming, description="Where a grade's members use club services [G2].")
GradeStatus = strawberry.enum(DomainGradeStatus)


@strawberry.type(name="Grade", description="A membership grade; grades are data [G1].")
class GradeType:
    code: str
    name: str
    rank: int = strawberry.field(description="1 is the highest grade.")
    card_type: str = strawberry.field(description="The card type a member of this grade holds [K5].")
    national_roaming: bool = strawberry.field(description="May use club services in every province [G2].")
    service_standards: str = strawberry.field(description="The services and gifts the grade is entitled to [G2].")
    status: GradeStatus = strawberry.field(description="A RETIRED grade stays where it is named; it is never given.")

    @strawberry.field
    def roaming(self) -> Roaming:
        return DomainRoaming.NATIONAL if self.national_roaming else DomainRoaming.PROVINCE

    @strawberry.field(
        description="What the grade multiplies consumption points by: its GRADE_MULTIPLIER points rule in force"
        " today (none: the plain rate). Changed through the points rules."
    )
    async def earning_multiplier(self, info: strawberry.Info) -> str | None:
        value = await info.context.loaders.grade_multipliers.load(self.code)
        return None if value is None else format(value, "f")


@strawberry.type(name="Club", description="A branch's customer club [O4].")
class ClubType(relay.Node):
    id: relay.NodeID[int]
    code: str
    category: str
    name: str
    contact_person: str | None
    phone: str | None
    email: str | None
    address: str | None
    is_type_of = row_type(organisation_tables.Club)

    @strawberry.field
    @joined("branches", "branch_id")
    def branch(self, info: strawberry.Info) -> BranchType: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.clubs_scoped.load_many(node_keys(node_ids))


@strawberry.type(name="Staff", description="A member of staff: role and branch [O6].")
class StaffType(relay.Node):
    id: relay.NodeID[int]
    display_name: str
    role: StaffRole
    active: bool
    is_type_of = row_type(organisation_tables.Staff)

    @strawberry.field(
        description="The name they log in with: null to a member or partner, who meet them by their display name"
        " (a customer manager, the agent who served them) and have no use for a member of staff's login."
    )
    def username(self) -> str | None:
        # The caller as the request's record names it: a method of the row alone, so that a page of cards or
        # redemptions naming staff is still completed in one walk (`loyalty.completion`).
        record = requests.current()
        return self.username if record is not None and record.principal_kind == PrincipalKind.STAFF else None  # type: ignore[attr-defined]

    @strawberry.field
    @joined("branches", "branch_id")
    def branch(self, info: strawberry.Info) -> BranchType: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.staff_scoped.load_many(node_keys(node_ids))


# --- inputs and payloads ------------------------------------------------------------------


@strawberry.input
class CreateClubInput:
    branch_id: relay.GlobalID
    code: str = strawberry.field(description="Unique club code: letters, digits, _ . - (max 32).")
    category: str
    name: str
    contact_person: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    address: str | None = strawberry.UNSET


@strawberry.input(description="Only the fields given are changed; null clears an optional field.")
class UpdateClubInput:
    id: relay.GlobalID
    category: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    contact_person: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    address: str | None = strawberry.UNSET


@strawberry.type
class ClubPayload:
    errors: list[UserError]
    club: ClubType | None = None


OutletStatus = strawberry.enum(organisation_tables.OutletStatus)


@strawberry.type(name="Outlet", description="A service point of a branch: a counter, a POS, a terminal [S1].")
class OutletType(relay.Node):
    id: relay.NodeID[int]
    code: str
    name: str
    address: str | None
    phone: str | None
    status: OutletStatus
    is_type_of = row_type(organisation_tables.Outlet)

    @strawberry.field
    @joined("branches", "branch_id")
    def branch(self, info: strawberry.Info) -> BranchType: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.outlets_scoped.load_many(node_keys(node_ids))


@strawberry.input
class CreateOutletInput:
    branch_id: relay.GlobalID
    code: str = strawberry.field(description="Unique outlet code: letters, digits, _ . - (max 32).")
    name: str
    address: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET


@strawberry.input(description="Only the fields given are changed; null clears an optional field.")
class UpdateOutletInput:
    id: relay.GlobalID
    name: str | None = strawberry.UNSET
    address: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    status: OutletStatus | None = strawberry.UNSET


@strawberry.type
class OutletPayload:
    errors: list[UserError]
    outlet: OutletType | None = None


@strawberry.input(description="Only the fields given are changed.")
class UpdateStaffInput:
    id: relay.GlobalID
    display_name: str | None = strawberry.UNSET
    role: StaffRole | None = strawberry.field(
        default=strawberry.UNSET, description="Takes effect at their next request. Not your own."
    )
    active: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="false ends their sessions at once and refuses their logins; true lets them log in again."
        " Not your own.",
    )


@strawberry.type
class StaffPayload:
    errors: list[UserError]
    staff: StaffType | None = None


@strawberry.input
class StaffFilter:
    branch_id: relay.GlobalID | None = strawberry.field(default=None, description="This branch and below.")
    role: StaffRole | None = None
    active: bool | None = None
