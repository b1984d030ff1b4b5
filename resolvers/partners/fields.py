"""Partner merchants and their API clients."""

from __future__ import annotations

import strawberry

from domain.partners import service as partners
from resolvers.edge import mutate, read
from schema.partners import (
    CreatePartnerApiClientInput,
    CreatePartnerApiClientPayload,
    PartnerType,
    RevokePartnerApiClientInput,
    RevokePartnerApiClientPayload,
)


@strawberry.type
class PartnerQuery:
    @strawberry.field(description="Partner merchants (staff).")
    async def partners(self, info: strawberry.Info) -> list[PartnerType]:
        return await read(info, lambda s: partners.list_partners(s, info.context.principal))


@strawberry.type
class PartnerMutation:
    @strawberry.mutation(description="Issue an API key to a partner system; the secret is shown once (administrator).")
    async def create_partner_api_client(
        self, info: strawberry.Info, input: CreatePartnerApiClientInput
    ) -> CreatePartnerApiClientPayload:
        return await mutate(info, CreatePartnerApiClientPayload, partners.create_api_client, input)

    @strawberry.mutation(description="Revoke a partner API key at once (administrator).")
    async def revoke_partner_api_client(
        self, info: strawberry.Info, input: RevokePartnerApiClientInput
    ) -> RevokePartnerApiClientPayload:
        return await mutate(info, RevokePartnerApiClientPayload, partners.revoke_api_client, input, "client")
