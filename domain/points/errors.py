"""Why a points operation is refused: codes clients branch on (see the API guide)."""

from __future__ import annotations

from enum import StrEnum


class PointsErrorCode(StrEnum):
    REVERSAL_NOT_REVERSIBLE = "REVERSAL_NOT_REVERSIBLE"  # a reversal is corrected by a new entry
    EXPIRY_NOT_REVERSIBLE = "EXPIRY_NOT_REVERSIBLE"  # expired points come back by an adjustment, in a new lot
    TRANSACTION_ALREADY_REVERSED = "TRANSACTION_ALREADY_REVERSED"  # an entry is reversed once
    POINTS_SPENT_OR_EXPIRED = "POINTS_SPENT_OR_EXPIRED"  # a credit whose points are gone cannot be reversed
    RULE_ALREADY_IN_FORCE = "RULE_ALREADY_IN_FORCE"  # another rule of the kind covers some of the dates
    RULE_IN_EFFECT = "RULE_IN_EFFECT"  # a rule that has taken effect is only ended, never rewritten
    BILL_ALREADY_ACCRUED = "BILL_ALREADY_ACCRUED"  # a bill that earned points is never replaced
    MONTH_NOT_FINISHED = "MONTH_NOT_FINISHED"  # only a past month is accrued
    ACCRUAL_RUN_UNDER_WAY = "ACCRUAL_RUN_UNDER_WAY"  # one run of a month at a time
