"""Why a partner operation is refused: codes clients branch on (see the API guide)."""

from __future__ import annotations

from enum import StrEnum


class PartnerErrorCode(StrEnum):
    API_CLIENT_REVOKED = "API_CLIENT_REVOKED"  # a revoked key stays revoked; issue a new one
    API_CLIENT_LIMIT_REACHED = "API_CLIENT_LIMIT_REACHED"  # the partner holds its most live keys: revoke one first
    PARTNER_TERMINATED = (
        "PARTNER_TERMINATED"  # the partnership ended: its status stays, and it gets no keys or contacts
    )
