"""Why a customer operation is refused: codes clients branch on (see the API guide)."""

from __future__ import annotations

from enum import StrEnum


class CustomerErrorCode(StrEnum):
    CREDIT_LEVEL_UNCHANGED = "CREDIT_LEVEL_UNCHANGED"  # the customer has this level already: nothing to record
    ACCOUNT_CLOSED = "ACCOUNT_CLOSED"  # a closed account is closed for good: open a new one
