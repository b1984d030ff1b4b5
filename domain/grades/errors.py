"""Why a grade change, a grade rule or a review step is refused: codes clients branch on (see the API guide)."""

from __future__ import annotations

from enum import StrEnum


class GradeErrorCode(StrEnum):
    GRADE_RETIRED = "GRADE_RETIRED"  # a retired grade is not given to anyone
    GRADE_IN_USE = "GRADE_IN_USE"  # members, rules or rewards name it: retire it instead
    GRADE_RANK_TAKEN = "GRADE_RANK_TAKEN"  # another grade holds this rank
    GRADE_UNCHANGED = "GRADE_UNCHANGED"  # the member holds this grade already
    NOTHING_MATCHES = "NOTHING_MATCHES"  # a bulk change or decision whose filter matches nothing
    TOO_MANY_MATCHES = "TOO_MANY_MATCHES"  # a bulk change or decision over its cap: narrow the filter
    PROPOSAL_DECIDED = "PROPOSAL_DECIDED"  # approved, rejected or no longer open
    GRADE_REVIEW_RUN_UNDER_WAY = "GRADE_REVIEW_RUN_UNDER_WAY"
    AS_OF_IN_FUTURE = "AS_OF_IN_FUTURE"  # a review looks at what has happened, up to today
    IMPORTANCE_UNCHANGED = "IMPORTANCE_UNCHANGED"
    NO_RULES_IN_FORCE = "NO_RULES_IN_FORCE"  # a review needs a national rule of every active grade on its date
    LATER_REVIEW_DONE = "LATER_REVIEW_DONE"  # a review decides again as of the latest review's date or later
