"""Why a membership operation is refused: codes clients branch on (see the API guide)."""

from __future__ import annotations

from enum import StrEnum


class MemberErrorCode(StrEnum):
    MEMBERSHIP_ENDED = "MEMBERSHIP_ENDED"  # an ended membership is kept as it was, for good
    MEMBERSHIP_SUSPENDED = "MEMBERSHIP_SUSPENDED"  # a suspended member neither earns nor spends
    CUSTOMER_ALREADY_MEMBER = "CUSTOMER_ALREADY_MEMBER"  # a customer joins one club, once
    CARD_GIVEN_MEANWHILE = "CARD_GIVEN_MEANWHILE"  # a card was handed over while the member changed: ask again
