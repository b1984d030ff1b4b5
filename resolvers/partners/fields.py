"""Partner merchants and their API clients."""

from __future__ import annotations

import strawberry

from domain.partners import registry
from domain.partners import service as partners
from resolvers.declare import mutation_field
from resolvers.edge import read
from schema.partners import (
    CreatePartnerApiClientInput,
    CreatePartnerApiClientPayload,
    CreatePartnerInput,
    PartnerContactPayload,
    PartnerPayload,
    PartnerType,
    RemovePartnerContactInput,
    RevokePartnerApiClientInput,
    RevokePartnerApiClientPayload,
    SetPartnerContactInput,
    UpdatePartnerInput,
)


@strawberry.type
class PartnerQuery:
    @strawberry.field(description="Partner merchants (staff).")
    async def partners(self, info: strawberry.Info) -> list[PartnerType]:
        return await read(info, lambda s: partners.list_partners(s, info.context.principal))


@strawberry.type
class PartnerMutation:
    create_partner = mutation_field(
        registry.create_partner,
        CreatePartnerInput,
        PartnerPayload,
        "partner",
        description="Register a partner maintained by a branch in your subtree: HQ for a national one (administrator).",
    )

    update_partner = mutation_field(
        registry.update_partner,
        UpdatePartnerInput,
        PartnerPayload,
        "partner",
        description="Change a partner's details or status (administrators of its branch or above).",
    )

    set_partner_contact = mutation_field(
        registry.set_contact,
        SetPartnerContactInput,
        PartnerContactPayload,
        "contact",
        description="Make or replace a branch's contact at a partner: a province's for a national partner"
        " (administrators of that branch or above).",
    )

    remove_partner_contact = mutation_field(
        registry.remove_contact,
        RemovePartnerContactInput,
        PartnerContactPayload,
        "contact",
        description="Remove a branch's contact at a partner (administrators of that branch or above).",
    )

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
