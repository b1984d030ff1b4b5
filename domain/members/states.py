"""What a member may do in each membership state: the one table every operation asks.

| operation                                   | ACTIVE | SUSPENDED | GRACE ³ | ENDED |
| ------------------------------------------- | ------ | --------- | ------- | ----- |
| log in, read their own data                 | yes    | yes       | yes     | no    |
| earn points (monthly run, bonuses by staff) | yes    | no        | yes     | no    |
| spend points (redemption)                   | yes    | no        | yes     | no    |
| a correction by staff (ADJUSTMENT, reason)  | yes    | yes       | yes     | yes ¹ |
| cards: report lost, unfreeze, replace, PIN  | yes    | yes       | yes     | no ²  |
| change details, club, validity, status      | yes    | yes       | yes     | no    |

¹ marked as a correction of an ended membership in the entry's reason (`MARKS`).
² ending a membership cancels its usable card (reason MEMBERSHIP_ENDED) in the same transaction.
³ the annual review's grace [G6]: the membership ends on `grace_ends_on`, and until then works as ACTIVE.

The SQL paths take what each state does with their operation from here as a parameter (`rules_for`,
`earning`), so the table stays the one place that decides.
"""

from __future__ import annotations

import functools
from enum import StrEnum
from typing import Any

from domain.errors import DomainError
from domain.members.errors import MemberErrorCode
from domain.members.tables import MemberStatus


class MemberOperation(StrEnum):
    LOG_IN = "LOG_IN"
    EARN = "EARN"
    SPEND = "SPEND"
    CORRECT = "CORRECT"
    CARD = "CARD"
    CHANGE = "CHANGE"


ACTIVE, SUSPENDED, ENDED = MemberStatus.ACTIVE, MemberStatus.SUSPENDED, MemberStatus.ENDED
GRACE = MemberStatus.GRACE
ALLOWED: dict[MemberOperation, frozenset[MemberStatus]] = {
    MemberOperation.LOG_IN: frozenset({ACTIVE, SUSPENDED, GRACE}),
    MemberOperation.EARN: frozenset({ACTIVE, GRACE}),
    MemberOperation.SPEND: frozenset({ACTIVE, GRACE}),
    MemberOperation.CORRECT: frozenset({ACTIVE, SUSPENDED, GRACE, ENDED}),
    MemberOperation.CARD: frozenset({ACTIVE, SUSPENDED, GRACE}),
    MemberOperation.CHANGE: frozenset({ACTIVE, SUSPENDED, GRACE}),
}
# What an entry's reason starts with when an operation allowed in a state is marked there.
MARKS = {(MemberOperation.CORRECT, ENDED): "Correction of an ended membership: "}


def allows(status: MemberStatus | str, operation: MemberOperation) -> bool:
    return MemberStatus(status) in ALLOWED[operation]


@functools.cache  # sent with every points movement: made once per process, and never changed
def rules_for(operation: MemberOperation) -> dict[str, dict[str, Any]]:
    """What each state does with `operation`, for a statement to apply inside the database
    (`member_state_reason`, migration 0011): refuse it (with the code and message `refusal` gives) or
    mark the entry's reason."""
    rules: dict[str, dict[str, Any]] = {}
    for status in MemberStatus:
        if not allows(status, operation):
            refused = refusal(status).problems[0]
            rules[status.value] = {"refuse": [refused.code.value, refused.message]}
        elif (operation, status) in MARKS:
            rules[status.value] = {"mark": MARKS[operation, status]}
    return rules


def require(status: MemberStatus | str, operation: MemberOperation, field: str = "member_id") -> None:
    """Refuse `operation` of a member in `status`, with the code of the state that forbids it."""
    if not allows(status, operation):
        raise refusal(status, field)


def earning() -> list[str]:
    """The states whose members earn, for the monthly run's statement."""
    return sorted(ALLOWED[MemberOperation.EARN])


def refusal(status: MemberStatus | str, field: str = "member_id") -> DomainError:
    if MemberStatus(status) == ENDED:
        return DomainError(MemberErrorCode.MEMBERSHIP_ENDED, "This membership has ended.", field)
    return DomainError(MemberErrorCode.MEMBERSHIP_SUSPENDED, "This membership is suspended.", field)
