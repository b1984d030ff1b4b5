"""What every card operation shares: card numbers and selections, PINs, scope."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access import StaffPrincipal
from domain.cards.tables import Card, CardAction, CardEvent, CardState, Channel
from domain.errors import ErrorCode
from domain.organisation.service import in_subtree
from domain.organisation.tables import Branch
from domain.validation import Checker

# Limits of one operation (documented in the API guide).
receive_cards_max = 1_000_000
operation_cards_max = 100_000
listed_numbers_max = 1_000
offenders_shown_max = 20
offenders_looked_up_max = 100  # enough to show `offenders_shown_max` and say "and N more"

_card_number = re.compile(r"^[1-9][0-9]{7,17}$")  # 8 to 18 digits, no leading zero
_pin = re.compile(r"^[0-9]{6}$")


@dataclass(frozen=True)
class CardPolicy:
    failures_max: int = 5  # wrong PINs or proofs of one card before it locks for `lock_seconds`
    lock_seconds: int = 1800
    # Cards one staff account entered wrong PINs or proofs for within `lock_seconds` (numbers that hold no card
    # too) before it proves no card until fewer are (`lifecycle.refuse_if_account_throttled`)
    presenter_cards_max: int = 10


@dataclass(frozen=True)
class Selection:
    """Card numbers chosen by an inclusive range or by a list."""

    first: int | None = None
    last: int | None = None
    numbers: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        return self.last - self.first + 1 if self.first is not None else len(self.numbers)

    def where(self, column: Any) -> Any:
        """The selection as a condition on a card number column (SQLAlchemy)."""
        if self.first is not None:
            return column.between(self.first, self.last)
        return column.in_(self.numbers)

    def sql(self, column: str) -> str:
        """The same condition in SQL text, with the parameters of `parameters`."""
        if self.first is not None:
            return f"{column} BETWEEN CAST(:first AS bigint) AND CAST(:last AS bigint)"
        return f"{column} = ANY(CAST(:numbers AS bigint[]))"

    def series_sql(self) -> str:
        """Every selected number as a set-returning expression, with the parameters of `parameters`."""
        if self.first is not None:
            return "generate_series(CAST(:first AS bigint), CAST(:last AS bigint))"
        return "unnest(CAST(:numbers AS bigint[]))"

    def parameters(self) -> dict[str, Any]:
        return {"first": self.first, "last": self.last, "numbers": list(self.numbers)}


def card_number(check: Checker, field: str, value: Any) -> int | None:
    if not isinstance(value, str) or not _card_number.fullmatch(value):
        check.fail(field, ErrorCode.INVALID, f"{field} must be a card number of 8 to 18 digits.")
        return None
    return int(value)


def parse_selection(check: Checker, given: Any, *, size_max: int = operation_cards_max) -> Selection | None:
    """A range `number_from`–`number_to` (inclusive, same length) or a list of `numbers`, not both."""
    number_from, number_to, numbers = given.number_from, given.number_to, given.numbers
    if numbers:
        if number_from is not None or number_to is not None:
            check.fail("numbers", ErrorCode.INVALID, "Give a range or a list of numbers, not both.")
            return None
        if len(numbers) > listed_numbers_max:
            check.fail("numbers", ErrorCode.OUT_OF_RANGE, f"List at most {listed_numbers_max} numbers; use a range.")
            return None
        parsed = [card_number(check, "numbers", n) for n in numbers]
        if None in parsed:
            return None
        if len(set(parsed)) != len(parsed):
            check.fail("numbers", ErrorCode.DUPLICATE, "A card number is listed twice.")
            return None
        return Selection(numbers=tuple(parsed))
    if number_from is None or number_to is None:
        check.fail("number_from", ErrorCode.REQUIRED, "Give number_from and number_to, or numbers.")
        return None
    first, last = card_number(check, "number_from", number_from), card_number(check, "number_to", number_to)
    if first is None or last is None:
        return None
    if len(number_from) != len(number_to) or first > last:
        check.fail(
            "number_to", ErrorCode.INVALID, "number_to must not be below number_from and must have as many digits."
        )
        return None
    if last - first + 1 > size_max:
        check.fail("number_to", ErrorCode.OUT_OF_RANGE, f"One operation takes at most {size_max:,} cards.")
        return None
    return Selection(first=first, last=last)


def pin(check: Checker, field: str, value: Any) -> str | None:
    """Six digits, not all the same and not a run like 123456."""
    if not isinstance(value, str) or not _pin.fullmatch(value):
        check.fail(field, ErrorCode.INVALID, f"{field} must be 6 digits.")
        return None
    steps = {int(b) - int(a) for a, b in zip(value, value[1:], strict=False)}
    if steps <= {0} or steps == {1} or steps == {-1}:
        check.fail(field, ErrorCode.INVALID, f"{field} is too easy to guess.")
        return None
    return value


def shown(numbers: list[int]) -> str:
    listed = ", ".join(str(n) for n in numbers[:offenders_shown_max])
    more = len(numbers) - offenders_shown_max
    return listed + (f" and {more:,} more" if more > 0 else "")


async def subtree_ids(session: AsyncSession, actor: StaffPrincipal) -> list[int]:
    return list((await session.scalars(sa.select(Branch.id).where(in_subtree(Branch.path, actor.branch_path)))).all())


def event(
    card: Card,
    action: CardAction,
    state_before: CardState,
    *,
    branch_id: int,
    staff_id: int | None,
    channel: Channel,
    reason: str | None = None,
    **detail: Any,
) -> CardEvent:
    return CardEvent(
        card_number=card.number,
        card_type=card.card_type,
        action=action,
        state_before=state_before,
        state_after=card.state,
        branch_id=branch_id,
        member_id=card.member_id,
        staff_id=staff_id,
        channel=channel,
        reason=reason,
        detail={k: v for k, v in detail.items() if v is not None},
    )
