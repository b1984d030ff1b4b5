"""Why a partner operation is refused: codes clients branch on (see the API guide)."""

from __future__ import annotations

from enum import StrEnum


class PartnerErrorCode(StrEnum):
    API_CLIENT_REVOKED = "API_CLIENT_REVOKED"  # a revoked key stays revoked; issue a new one
