"""Why an organisation operation is refused: codes clients and operators branch on (see the API guide)."""

from __future__ import annotations

from enum import StrEnum


class OrganisationErrorCode(StrEnum):
    HEADQUARTERS_EXISTS = "HEADQUARTERS_EXISTS"  # one headquarters: every other branch names a parent
