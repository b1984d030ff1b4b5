"""Members as GraphQL types."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay

from domain.customers.service import accounts_listed_max
from domain.grades.changes import history_listed_max
from domain.members import tables as members_tables
from domain.members.service import RelationKind as DomainRelationKind
from domain.paging import PageRequest
from domain.points import service as points
from domain.redemption.bookings import bookings_listed_max
from domain.validation import list_length_max
from resolvers.inputs import filter_arguments
from schema.common import (
    Gender,
    MemberStatus,
    Month,
    UserError,
    connection,
    joined,
    listed,
    node_keys,
    read_alone,
    row_type,
)
from schema.customers import AccountType, CustomerType
from schema.organisation import BranchType, ClubType, GradeType, StaffType

if TYPE_CHECKING:
    from schema.cards import CardType
    from schema.grades import GradeChangeType, GradeProgressType
    from schema.points import Points, PointsHistoryFilter, PointsStatement, PointsTransactionType
    from schema.redemption import AutoRedemptionType, CatalogueFilter, Offer, RedemptionFilter, RedemptionType

RelationKind = strawberry.enum(DomainRelationKind)


@strawberry.type(description="Someone the member is related to (family or work) [O5].")
class Relation:
    kind: RelationKind
    name: str
    note: str | None


@strawberry.type(name="Member", description="A club member [O5]. Number and grade are set by the club.")
class MemberType(relay.Node):
    id: relay.NodeID[int]
    member_number: str
    status: MemberStatus
    joined_on: date
    valid_until: date
    grace_ends_on: date | None = strawberry.field(
        description="A membership in GRACE ends at the first annual review on or after this day, unless the member"
        " qualifies again by then [G6]."
    )
    interests: list[str] = strawberry.field(metadata=listed(list_length_max))
    is_type_of = row_type(members_tables.Member)

    @strawberry.field(metadata=listed(list_length_max))
    def relations(self) -> list[Relation]:
        rows: list[dict[str, Any]] = self.relations
        return [Relation(kind=DomainRelationKind(r["kind"]), name=r["name"], note=r.get("note")) for r in rows]

    @strawberry.field
    @joined("grades", "grade_code")
    def grade(self, info: strawberry.Info) -> GradeType: ...

    @strawberry.field
    @joined("clubs", "club_id")
    def club(self, info: strawberry.Info) -> ClubType: ...

    @strawberry.field
    @joined("branches", "branch_id")
    def branch(self, info: strawberry.Info) -> BranchType: ...

    @strawberry.field(description="The member's personal and contact details.")
    @joined("customers", "customer_id")
    def customer(self, info: strawberry.Info) -> CustomerType: ...

    @strawberry.field(description="The customer's billing accounts (the 50 opened last), oldest first.",
                      metadata=listed(accounts_listed_max))  # fmt: skip
    @joined("accounts_by_customer", "customer_id")
    def accounts(self, info: strawberry.Info) -> list[AccountType]: ...

    @strawberry.field(description="The member's points balance [P6].")
    @joined("points", "id")
    def points(self, info: strawberry.Info) -> Annotated[Points, strawberry.lazy("schema.points")]: ...

    @strawberry.field(
        description="The member's points entries by type and date range [P6], in the order they take effect"
        " (`effectiveOn`, then as written): an entry dated earlier appears in its place, even when written later.",
        metadata=read_alone(),
    )
    async def points_history(
        self,
        info: strawberry.Info,
        filter: Annotated[PointsHistoryFilter, strawberry.lazy("schema.points")] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> relay.Connection[Annotated[PointsTransactionType, strawberry.lazy("schema.points")]]:
        page, where = PageRequest(first, after, last, before), filter_arguments(points.history, filter)
        found = await info.context.read(lambda s: points.history(s, info.context.principal, self.id, page, **where))
        return connection(found)

    @strawberry.field(description="The member's monthly points statement [P6].", metadata=read_alone())
    async def points_statement(
        self, info: strawberry.Info, month: Month
    ) -> Annotated[PointsStatement, strawberry.lazy("schema.points")]:
        return await info.context.read(lambda s: points.statement(s, info.context.principal, self.id, month))

    @strawberry.field(description="The member's usable card (ACTIVE or LOST), if any.")
    @joined("card_of_member", "id")
    def card(self, info: strawberry.Info) -> Annotated[CardType, strawberry.lazy("schema.cards")] | None: ...

    @strawberry.field(description="What the member may redeem today [R1]: the member, or staff who serve them.",
                      metadata=read_alone())  # fmt: skip
    async def catalogue(
        self,
        info: strawberry.Info,
        filter: Annotated[CatalogueFilter, strawberry.lazy("schema.redemption")] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> relay.Connection[Annotated[Offer, strawberry.lazy("schema.redemption")]]:
        from domain.redemption import catalogue

        page, where = PageRequest(first, after, last, before), filter_arguments(catalogue.catalogue, filter)
        found = await info.context.read(
            lambda s: catalogue.catalogue(s, info.context.principal, self.id, page, **where)
        )
        return connection(found)

    @strawberry.field(description="The member's redemptions, those made in other provinces too [P6].",
                      metadata=read_alone())  # fmt: skip
    async def redemptions(
        self,
        info: strawberry.Info,
        filter: Annotated[RedemptionFilter, strawberry.lazy("schema.redemption")] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> relay.Connection[Annotated[RedemptionType, strawberry.lazy("schema.redemption")]]:
        from domain.redemption import queries

        page, where = PageRequest(first, after, last, before), filter_arguments(queries.member_redemptions, filter)
        found = await info.context.read(
            lambda s: queries.member_redemptions(s, info.context.principal, self.id, page, **where)
        )
        return connection(found)

    @strawberry.field(description="The member's booked monthly redemptions, newest first (the first 100) [R3].",
                      metadata=read_alone(**listed(bookings_listed_max)))  # fmt: skip
    async def auto_redemptions(
        self, info: strawberry.Info
    ) -> list[Annotated[AutoRedemptionType, strawberry.lazy("schema.redemption")]]:
        from domain.redemption import bookings

        return await info.context.read(lambda s: bookings.member_bookings(s, info.context.principal, self.id))

    @strawberry.field(description="Every grade change of the member, newest first (the last 100) [G5].",
                      metadata=listed(history_listed_max))  # fmt: skip
    async def grade_history(
        self, info: strawberry.Info
    ) -> list[Annotated[GradeChangeType, strawberry.lazy("schema.grades")]]:
        return await info.context.loaders.grade_history.load(self.id)

    @strawberry.field(
        description="Where the member stands against the next grade, and the grade a review would give: the"
        " member's own (null for staff, who use memberGradeReview).",
        metadata=read_alone(),
    )
    async def grade_progress(
        self, info: strawberry.Info
    ) -> Annotated[GradeProgressType, strawberry.lazy("schema.grades")] | None:
        from domain import clock
        from domain.access import MemberPrincipal
        from domain.grades.changes import grade_progress
        from domain.grades.review import GradePolicy

        principal = info.context.principal
        if not isinstance(principal, MemberPrincipal) or principal.member_id != self.id:
            return None  # figures per member are a heavy read: never one per row of a staff list
        policy = info.context.services.policy(GradePolicy)
        return await info.context.read(
            lambda s: grade_progress(s, info.context.principal, self.id, clock.today(), policy)
        )

    @strawberry.field
    @joined("staff", "customer_manager_id")
    def customer_manager(self, info: strawberry.Info) -> StaffType | None: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.members_scoped.load_many(node_keys(node_ids))


# --- inputs and payloads ------------------------------------------------------------------


@strawberry.input
class RelationInput:
    kind: RelationKind
    name: str
    note: str | None = None


@strawberry.input
class CreateMemberInput:
    customer_id: relay.GlobalID
    club_id: relay.GlobalID
    grade_code: str
    joined_on: date | None = strawberry.field(
        default=None, description="Default: today. Without validUntil, its year of validity must not have ended."
    )
    valid_until: date | None = strawberry.field(
        default=None, description="Default: the day before the first anniversary of joining. Today or later."
    )
    customer_manager_id: relay.GlobalID | None = None
    password: str | None = strawberry.field(default=None, description="Initial login password (8–128 characters).")
    interests: list[str] | None = strawberry.UNSET
    relations: list[RelationInput] | None = strawberry.UNSET


@strawberry.input(description="Only the fields given are changed. Grades change through reviews, not here.")
class UpdateMemberInput:
    id: relay.GlobalID
    club_id: relay.GlobalID | None = strawberry.UNSET
    status: MemberStatus | None = strawberry.UNSET
    valid_until: date | None = strawberry.UNSET
    customer_manager_id: relay.GlobalID | None = strawberry.UNSET
    interests: list[str] | None = strawberry.UNSET
    relations: list[RelationInput] | None = strawberry.UNSET


@strawberry.input(
    description="What a member may change about themselves. Number, grade and card are the club's; name and ID"
    " document are changed by staff after checking the document (`updateCustomer`)."
)
class UpdateMyProfileInput:
    gender: Gender | None = strawberry.UNSET
    birth_date: date | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    address: str | None = strawberry.UNSET
    interests: list[str] | None = strawberry.UNSET
    relations: list[RelationInput] | None = strawberry.UNSET


@strawberry.type
class MemberPayload:
    errors: list[UserError]
    member: MemberType | None = None


@strawberry.input
class MemberFilter:
    branch_id: relay.GlobalID | None = strawberry.field(default=None, description="This branch and below.")
    club_id: relay.GlobalID | None = None
    grade_code: str | None = None
    status: MemberStatus | None = None
    search: str | None = strawberry.field(
        default=None, description="Member number, subscriber number or phone (exact), or part of the name."
    )
