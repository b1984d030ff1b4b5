"""Partners and their API clients as GraphQL types (roots are database rows)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import strawberry
from strawberry import relay

from domain.partners import tables as partners_tables
from schema.common import UserError, joined, node_keys, row_type


@strawberry.type(name="Partner", description="A partner merchant (airline, mall) [X1].")
class PartnerType(relay.Node):
    id: relay.NodeID[int]
    code: str
    name: str
    is_type_of = row_type(partners_tables.Partner)

    @strawberry.field(
        description="Its API keys, live ones first, each newest first (at most 100, every live one among them),"
        " revoked ones too: for the administrators who manage them (its branch in their subtree); empty for"
        " everyone else."
    )
    @joined("api_clients_by_partner", "id")
    def api_clients(self, info: strawberry.Info) -> list[PartnerApiClientType]: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.partners_scoped.load_many(node_keys(node_ids))


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
