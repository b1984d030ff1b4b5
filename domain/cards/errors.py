"""Why a card operation is refused: codes clients branch on (see the API guide)."""

from __future__ import annotations

from enum import StrEnum


class CardErrorCode(StrEnum):
    CARD_LOST = "CARD_LOST"  # reported lost: unusable until unfrozen
    CARD_NOT_LOST = "CARD_NOT_LOST"  # unfreeze and reissue need a lost card
    CARD_NOT_ACTIVE = "CARD_NOT_ACTIVE"  # the operation needs an active card
    CARD_NOT_IN_STOCK = "CARD_NOT_IN_STOCK"  # a member gets only a stock card
    CARD_ENDED = "CARD_ENDED"  # retired, cancelled or void: for good
    CARD_EXPIRED = "CARD_EXPIRED"  # past its validity date
    CARD_TYPE_NOT_OF_GRADE = "CARD_TYPE_NOT_OF_GRADE"  # the card type follows the member's grade [K5]
    CARD_ALREADY_OF_GRADE = "CARD_ALREADY_OF_GRADE"  # a grade-change replacement of a card that matches
    CARD_PIN_LOCKED = "CARD_PIN_LOCKED"  # too many wrong PINs or proofs: locked for a while
    MEMBER_HOLDS_CARD = "MEMBER_HOLDS_CARD"  # one usable card per member [K5]
    CARD_APPLICATION_OPEN = "CARD_APPLICATION_OPEN"  # the member has an application under way
    CARD_APPLICATION_DECIDED = "CARD_APPLICATION_DECIDED"  # approved or fulfilled already
    CARDS_NOT_MOVABLE = "CARDS_NOT_MOVABLE"  # some cards of a stock operation are in the wrong state
    NO_PARENT_BRANCH = "NO_PARENT_BRANCH"  # headquarters returns cards to nobody
