"""Partners and their API clients as GraphQL types (roots are database rows)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import strawberry
from strawberry import relay

from domain.partners import tables as partners_tables
from domain.partners.registry import contacts_listed_max
from domain.partners.service import api_clients_listed_max
from schema.common import Long, UserError, joined, listed, node_keys, row_type
from schema.organisation import BranchType

PartnerKind = strawberry.enum(partners_tables.PartnerKind)
PartnerNature = strawberry.enum(partners_tables.PartnerNature, description="The partner's form of ownership.")
PartnerStatus = strawberry.enum(
    partners_tables.PartnerStatus,
    description="SUSPENDED: its API keys are refused until it is ACTIVE again; TERMINATED: so for good.",
)


@strawberry.type(name="Partner", description="A partner merchant (airline, mall) [X1].")
class PartnerType(relay.Node):
    id: relay.NodeID[int]
    code: str
    name: str
    kind: PartnerKind
    nature: PartnerNature
    status: PartnerStatus
    address: str | None
    legal_representative: str | None
    staff_count: int | None
    registered_capital_yuan: Long | None
    is_type_of = row_type(partners_tables.Partner)

    @strawberry.field(description="The branch that maintains it: headquarters for a national partner.")
    @joined("branches", "branch_id")
    def branch(self, info: strawberry.Info) -> BranchType: ...

    @strawberry.field(
        description="Whom branches deal with at the partner, a contact per branch, by branch: those of your branch,"
        " of the branches above it and of those below it (at most 100; staff; empty for everyone else).",
        metadata=listed(contacts_listed_max),
    )
    @joined("contacts_by_partner", "id")
    def contacts(self, info: strawberry.Info) -> list[PartnerContactType]: ...

    @strawberry.field(
        description="Its API keys, live ones first, each newest first (at most 100, every live one among them),"
        " revoked ones too: for the administrators who manage them (its branch in their subtree); empty for"
        " everyone else.",
        metadata=listed(api_clients_listed_max),
    )
    @joined("api_clients_by_partner", "id")
    def api_clients(self, info: strawberry.Info) -> list[PartnerApiClientType]: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.partners_scoped.load_many(node_keys(node_ids))


@strawberry.type(name="PartnerContact", description="A branch's contact at a partner [X1].")
class PartnerContactType(relay.Node):
    id: relay.NodeID[int]
    name: str
    position: str | None
    phone: str | None
    email: str | None
    updated_at: datetime
    is_type_of = row_type(partners_tables.PartnerContact)

    @strawberry.field(description="The branch whose contact this is.")
    @joined("branches", "branch_id")
    def branch(self, info: strawberry.Info) -> BranchType: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.contacts_scoped.load_many(node_keys(node_ids))


@strawberry.type(name="PartnerApiClient", description="A partner system's API key. The secret is never shown again.")
class PartnerApiClientType(relay.Node):
    id: relay.NodeID[int]
    name: str
    key_id: str
    created_at: datetime
    revoked_at: datetime | None
    is_type_of = row_type(partners_tables.PartnerApiClient)

    @strawberry.field
    @joined("partners", "partner_id")
    def partner(self, info: strawberry.Info) -> PartnerType: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.api_clients_scoped.load_many(node_keys(node_ids))


@strawberry.input
class CreatePartnerApiClientInput:
    partner_id: relay.GlobalID
    name: str = strawberry.field(description="What the key is for, e.g. 'mall checkout'.")


@strawberry.type
class CreatePartnerApiClientPayload:
    errors: list[UserError]
    client: PartnerApiClientType | None = None
    credential: str | None = strawberry.field(
        default=None,
        description="`<keyId>.<secret>` for `Authorization: Bearer …`. Shown once: store it now.",
    )


@strawberry.input
class RevokePartnerApiClientInput:
    id: relay.GlobalID


@strawberry.type
class RevokePartnerApiClientPayload:
    errors: list[UserError]
    client: PartnerApiClientType | None = None


@strawberry.input
class CreatePartnerInput:
    branch_id: relay.GlobalID = strawberry.field(description="The branch that maintains it: HQ for a national one.")
    code: str = strawberry.field(description="Unique partner code: letters, digits, _ . - (max 32).")
    name: str
    kind: PartnerKind
    nature: PartnerNature
    address: str | None = strawberry.UNSET
    legal_representative: str | None = strawberry.UNSET
    staff_count: int | None = strawberry.UNSET
    registered_capital_yuan: Long | None = strawberry.UNSET


@strawberry.input(description="Only the fields given are changed; null clears an optional field.")
class UpdatePartnerInput:
    id: relay.GlobalID
    name: str | None = strawberry.UNSET
    kind: PartnerKind | None = strawberry.UNSET
    nature: PartnerNature | None = strawberry.UNSET
    status: PartnerStatus | None = strawberry.UNSET
    address: str | None = strawberry.UNSET
    legal_representative: str | None = strawberry.UNSET
    staff_count: int | None = strawberry.UNSET
    registered_capital_yuan: Long | None = strawberry.UNSET


@strawberry.type
class PartnerPayload:
    errors: list[UserError]
    partner: PartnerType | None = None


@strawberry.input
class SetPartnerContactInput:
    partner_id: relay.GlobalID
    branch_id: relay.GlobalID = strawberry.field(
        description="Whose contact: your branch or one below it, the partner's branch or one below that."
    )
    name: str
    position: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET


@strawberry.input
class RemovePartnerContactInput:
    id: relay.GlobalID


@strawberry.type
class PartnerContactPayload:
    errors: list[UserError]
    contact: PartnerContactType | None = None
