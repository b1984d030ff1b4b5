"""Partner merchants and their API clients."""

from __future__ import annotations

import strawberry

from domain.partners import service as partners
from resolvers.declare import mutation_field
from resolvers.edge import read
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
    create_partner_api_client = mutation_field(
        partners.create_api_client,
        CreatePartnerApiClientInput,
        CreatePartnerApiClientPayload,
        description="Issue an API key to a partner system; the secret is shown once (administrator).",
    )

    revoke_partner_api_client = mutation_field(
        partners.revoke_api_client,
        RevokePartnerApiClientInput,
        RevokePartnerApiClientPayload,
        "client",
        description="Revoke a partner API key at once (administrator).",
    )
