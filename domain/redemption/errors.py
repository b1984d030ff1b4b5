"""Why a redemption, a catalogue change or a booking is refused: codes clients branch on (see the API guide)."""

from __future__ import annotations

from enum import StrEnum


class RedemptionErrorCode(StrEnum):
    # The reward
    ITEM_NOT_ACTIVE = "ITEM_NOT_ACTIVE"  # a draft or retired item, redeemed or booked
    ITEM_ALREADY_ACTIVE = "ITEM_ALREADY_ACTIVE"  # activating a reward offered already
    ITEM_RETIRED = "ITEM_RETIRED"  # a retired reward is not changed, activated or retired again
    ITEM_NOT_AVAILABLE = "ITEM_NOT_AVAILABLE"  # outside its availability window
    ITEM_NOT_IN_SCOPE = "ITEM_NOT_IN_SCOPE"  # offered in another province only
    ITEM_KIND_NOT_OFFERED = "ITEM_KIND_NOT_OFFERED"  # not redeemable this way (partner coupons; a booking's kinds)
    ITEM_OUT_OF_STOCK = "ITEM_OUT_OF_STOCK"  # the branch holds fewer gifts than asked for [R4]
    # The member
    MEMBERSHIP_EXPIRED = "MEMBERSHIP_EXPIRED"  # past the membership's validity
    GRADE_NOT_ALLOWED = "GRADE_NOT_ALLOWED"  # neither the item nor a consumption rule in force lets the grade [P2]
    BELOW_MINIMUM_BALANCE = "BELOW_MINIMUM_BALANCE"  # a consumption rule asks for more points available first
    ROAMING_NOT_ALLOWED = "ROAMING_NOT_ALLOWED"  # the grade redeems only in its home province [G2]
    NO_BILLING_ACCOUNT = "NO_BILLING_ACCOUNT"  # bill credit and minutes need an active billing account
    DAILY_LIMIT_REACHED = "DAILY_LIMIT_REACHED"  # the member's limit of the item for the day
    MONTHLY_LIMIT_REACHED = "MONTHLY_LIMIT_REACHED"  # the member's limit of the item for the calendar month
    PRICE_CHANGED = "PRICE_CHANGED"  # the rewards cost other points than the caller expected (quoted)
    # Where and how
    CHANNEL_NOT_ALLOWED = "CHANNEL_NOT_ALLOWED"  # the caller may not redeem through this channel
    OUTLET_CLOSED = "OUTLET_CLOSED"
    # Cancellation
    CANCELLATION_WINDOW_CLOSED = "CANCELLATION_WINDOW_CLOSED"
    GIFT_HANDED_OVER = "GIFT_HANDED_OVER"  # a gift given to the member is not cancelled
    FULFILMENT_DELIVERED = "FULFILMENT_DELIVERED"  # the billing system has delivered it
    FULFILMENT_IN_DOUBT = "FULFILMENT_IN_DOUBT"  # a delivery was sent unanswered: it may have been applied
    REDEMPTION_ALREADY_CANCELLED = "REDEMPTION_ALREADY_CANCELLED"
    CANCELLATION_EXCEEDS_REDEMPTION = "CANCELLATION_EXCEEDS_REDEMPTION"  # more than is left of a line
    ENTRY_OF_A_REDEMPTION = "ENTRY_OF_A_REDEMPTION"  # reverse it by cancelling the redemption
    # Pick-up and fulfilment
    PICKUP_NOT_READY = "PICKUP_NOT_READY"  # handed over or cancelled already
    FULFILMENT_NOT_FAILED = "FULFILMENT_NOT_FAILED"  # only a failed delivery is retried
    FULFILMENT_NOT_IN_DOUBT = "FULFILMENT_NOT_IN_DOUBT"  # only a delivery in doubt is settled
    # Bookings and their run
    BOOKING_NOT_ACTIVE = "BOOKING_NOT_ACTIVE"
    BOOKING_NOT_PAUSED = "BOOKING_NOT_PAUSED"
    BOOKING_CANCELLED = "BOOKING_CANCELLED"
    MONTH_NOT_STARTED = "MONTH_NOT_STARTED"  # a month's bookings run from its first day
    AUTO_REDEMPTION_RUN_UNDER_WAY = "AUTO_REDEMPTION_RUN_UNDER_WAY"
