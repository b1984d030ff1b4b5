"""Rules as data with effective dates (inclusive), shared by the areas that keep them: a rule takes effect
from tomorrow at the earliest, and once in effect only its end may move, to today or later. So what a rule
said about any day before tomorrow never changes, and past decisions stay explained by it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import DomainError, ErrorCode
from domain.points.errors import PointsErrorCode
from domain.work.commands import UNCHANGED


def from_tomorrow(today: date) -> str:
    return f"A rule takes effect from tomorrow ({today + timedelta(days=1)}) at the earliest: the past keeps its rules."


async def one_at_a_time(session: AsyncSession, *slot: object) -> None:
    """Wait until no other transaction checks or changes the rules of `slot` (e.g. a grade and a branch): an
    overlap check then sees every rule committed before it, and two rules made at once never both pass."""
    key = ":".join(map(str, slot))
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0))))


def check_dates(start: date, end: date | None) -> None:
    if end is not None and end < start:
        raise DomainError(ErrorCode.INVALID, "effective_to must not be before effective_from.", "effective_to")


def keeps_the_past(rule: Any, given: dict[str, Any], today: date, frozen: tuple[str, ...]) -> None:
    """Refuse a change (`given`, by field) that would alter what `rule` said about a day before tomorrow:
    once in effect, its `effective_from` and the `frozen` fields stay, and it ends today or later."""
    if rule.effective_from > today:  # not in effect yet: anything may change, within the future
        if given.get("effective_from") is not None and given["effective_from"] <= today:
            raise DomainError(PointsErrorCode.RULE_IN_EFFECT, from_tomorrow(today), "effective_from")
        return
    if rule.effective_to is not None and rule.effective_to < today:
        raise DomainError(PointsErrorCode.RULE_IN_EFFECT, "This rule has ended: it stays as it was.", "id")
    for field in ("effective_from", *frozen):
        if field in given and given[field] != getattr(rule, field):
            raise DomainError(PointsErrorCode.RULE_IN_EFFECT, f"The rule has taken effect: its {field} stays; end it"
                              " and create a new rule.", field)  # fmt: skip
    ends = given.get("effective_to", UNCHANGED)
    if ends is not UNCHANGED and ends is not None and ends < today:
        raise DomainError(PointsErrorCode.RULE_IN_EFFECT, f"The rule has taken effect: it can end on today ({today})"
                          " or later, not before.", "effective_to")  # fmt: skip


def change_action(before: dict[str, Any], after: dict[str, Any], given: dict[str, Any]) -> str | None:
    """What an update of a dated rule is, for its history: RETIRE when it only ends the rule, UPDATE otherwise;
    None when it changed nothing (nothing to record)."""
    if after == before:
        return None
    return "RETIRE" if given.keys() == {"effective_to"} and after.get("effective_to") else "UPDATE"
