"""Points rules as data with effective dates [P2]: earning, validity (expiry) and penalties.

A rule is in force from `effective_from` to `effective_to` (inclusive; open-ended when null).
Rules cannot rewrite the past: a rule takes effect from tomorrow at the earliest, and once it has
taken effect (its first day is today or earlier) its value and first day are frozen: it can only be
ended, on today or a later day, and superseded by a new rule. So a bill of a past month, however
late it arrives, earns under the rules that were in force in its month. Every change is recorded
with who, when, before and after. (A club's founding rules, from before its ledger has any entry,
are set up once by `establish`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access import Permission, Principal, StaffPrincipal, require_staff
from domain.columns import records
from domain.dated import change_action, check_dates, one_at_a_time
from domain.errors import AccessDenied, DomainError, ErrorCode
from domain.members.tables import Grade
from domain.organisation.tables import Branch, BranchLevel
from domain.points.errors import PointsErrorCode
from domain.points.tables import LedgerTransaction, PointsRule, PointsRuleChange, RuleKind
from domain.work.commands import UNCHANGED, Command, PointsRuleId, changes
from domain.work.unit import UnitOfWork

NEVER = date(9999, 12, 31)
VALIDITY_KINDS = (RuleKind.EXPIRY_YEAR_END_AFTER_YEARS, RuleKind.EXPIRY_AFTER_MONTHS)
# The largest value each kind may take, so that a typo cannot create a billion points.
VALUE_MAX = {
    RuleKind.POINTS_PER_YUAN: Decimal(100),
    RuleKind.GRADE_MULTIPLIER: Decimal(10),
    RuleKind.TENURE_BONUS_PER_YEAR: Decimal(10_000),
    RuleKind.ON_TIME_BONUS: Decimal(100_000),
    RuleKind.LATE_PENALTY_PERCENT: Decimal(100),
    RuleKind.EXPIRY_YEAR_END_AFTER_YEARS: Decimal(10),
    RuleKind.EXPIRY_AFTER_MONTHS: Decimal(120),
}
# The smallest, where 0 makes no sense: points valid for 0 months are born expired (0 years: this year's end).
VALUE_MIN = {RuleKind.EXPIRY_AFTER_MONTHS: Decimal(1)}
WHOLE_KINDS = {*VALIDITY_KINDS, RuleKind.TENURE_BONUS_PER_YEAR, RuleKind.ON_TIME_BONUS}


def snapshot(rule: PointsRule) -> dict[str, Any]:
    """A rule as its change history stores it (clients read the keys in their own names)."""
    return {
        "kind": rule.kind.value,
        "grade_code": rule.grade_code,
        "value": format(Decimal(rule.value).normalize(), "f"),  # 10, not 10.0000 as read back
        "effective_from": rule.effective_from.isoformat(),
        "effective_to": rule.effective_to.isoformat() if rule.effective_to else None,
    }


def _value(kind: RuleKind, value: Any) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise DomainError(ErrorCode.INVALID, "value must be a number.", "value") from None
    least = VALUE_MIN.get(kind, Decimal(0))
    if not number.is_finite() or not least <= number <= VALUE_MAX[kind] or number != round(number, 4):
        raise DomainError(ErrorCode.OUT_OF_RANGE, f"value must be {least} to {VALUE_MAX[kind]} (4 decimals).", "value")
    if kind in WHOLE_KINDS and number != number.to_integral_value():
        raise DomainError(ErrorCode.INVALID, f"{kind.value} takes a whole number.", "value")
    return number


async def _check_no_overlap(session: AsyncSession, rule: PointsRule) -> None:
    kinds = VALIDITY_KINDS if rule.kind in VALIDITY_KINDS else (rule.kind,)
    await one_at_a_time(session, "points_rule", *sorted(kinds), rule.grade_code)
    query = sa.select(PointsRule.id).where(
        PointsRule.kind.in_(kinds),
        PointsRule.grade_code.is_(None) if rule.grade_code is None else PointsRule.grade_code == rule.grade_code,
        PointsRule.effective_from <= (rule.effective_to or NEVER),
        sa.func.coalesce(PointsRule.effective_to, NEVER) >= rule.effective_from,
        PointsRule.id != rule.id if rule.id else sa.true(),
    )
    if await session.scalar(query) is not None:
        raise DomainError(
            PointsErrorCode.RULE_ALREADY_IN_FORCE,
            "Another rule of this kind is in force for these dates.",
            "effective_from",
        )


def _check_future(start: date, today: date) -> None:
    if start <= today:
        raise DomainError(
            PointsErrorCode.RULE_IN_EFFECT,
            f"A rule takes effect from tomorrow ({today + timedelta(days=1)}) at the earliest: the past keeps"
            " its rules.",
            "effective_from",
        )


async def require_headquarters(
    session: AsyncSession, principal: Principal, what: str = "Points rules are maintained"
) -> StaffPrincipal:
    """Rules and monthly runs apply club-wide, so only headquarters administrators handle them (`what`)."""
    actor = require_staff(principal, Permission.POINTS_RULES)
    branch = await session.get(Branch, actor.branch_id)
    if branch is None or branch.level != BranchLevel.HQ:
        raise AccessDenied(ErrorCode.FORBIDDEN, f"{what} at headquarters.")
    return actor


@dataclass(frozen=True, kw_only=True)
class CreatePointsRule(Command):
    kind: RuleKind
    value: Decimal
    effective_from: date
    effective_to: date | None = None
    grade_code: str | None = None


async def create_points_rule(uow: UnitOfWork, command: CreatePointsRule) -> PointsRule:
    actor = await require_headquarters(uow.session, uow.principal)
    kind = RuleKind(command.kind)
    check_dates(command.effective_from, command.effective_to)
    if (kind == RuleKind.GRADE_MULTIPLIER) != (command.grade_code is not None):
        raise DomainError(
            ErrorCode.INVALID, "grade_code is for GRADE_MULTIPLIER rules, and required there.", "grade_code"
        )
    if command.grade_code is not None and await uow.session.get(Grade, command.grade_code) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such grade.", "grade_code")
    _check_future(command.effective_from, uow.today)
    rule = PointsRule(
        kind=kind,
        value=_value(kind, command.value),
        effective_from=command.effective_from,
        effective_to=command.effective_to,
        grade_code=command.grade_code,
    )
    return await _add(uow.session, rule, actor.staff_id)


async def _add(session: AsyncSession, rule: PointsRule, staff_id: int | None) -> PointsRule:
    await _check_no_overlap(session, rule)
    session.add(rule)
    await session.flush()
    session.add(PointsRuleChange(rule_id=rule.id, action="CREATE", after=snapshot(rule), staff_id=staff_id))
    return rule


async def establish(session: AsyncSession, rule: PointsRule, staff_id: int | None = None) -> PointsRule:
    """A founding rule of a club, from any date: only before the ledger has any entry (set-up, the demo),
    so that it rewrites nothing."""
    if await session.scalar(sa.select(sa.exists().where(LedgerTransaction.id.is_not(None)))):
        raise DomainError(PointsErrorCode.RULE_IN_EFFECT, "The ledger has entries: rules now change by updates.")
    rule.value = _value(rule.kind, rule.value)
    check_dates(rule.effective_from, rule.effective_to)
    return await _add(session, rule, staff_id)


@dataclass(frozen=True, kw_only=True)
class UpdatePointsRule(Command):
    """Only the fields given change; setting `effective_to` alone retires the rule. A rule that has taken
    effect takes only an `effective_to` of today or later."""

    id: PointsRuleId | None
    value: Decimal | None = UNCHANGED
    effective_from: date | None = UNCHANGED
    effective_to: date | None = UNCHANGED


async def update_points_rule(uow: UnitOfWork, command: UpdatePointsRule) -> PointsRule:
    """Change a rule's value or dates; entries already made keep the points they were given."""
    actor = await require_headquarters(uow.session, uow.principal)
    rule = await uow.session.get(PointsRule, command.id, with_for_update=True) if command.id is not None else None
    if rule is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such rule.", "id")
    before = snapshot(rule)
    given = changes(command, "value", "effective_from", "effective_to")
    _check_keeps_the_past(rule, given, uow.today)
    if "value" in given:
        rule.value = _value(rule.kind, given["value"])
    if given.get("effective_from", rule.effective_from) is None:
        raise DomainError(ErrorCode.REQUIRED, "effective_from is required.", "effective_from")
    for field in ("effective_from", "effective_to"):
        if field in given:
            setattr(rule, field, given[field])
    check_dates(rule.effective_from, rule.effective_to)
    await _check_no_overlap(uow.session, rule)
    after = snapshot(rule)
    if action := change_action(before, after, given):
        uow.session.add(
            PointsRuleChange(rule_id=rule.id, action=action, before=before, after=after, staff_id=actor.staff_id)
        )
        await uow.session.flush()
    return rule


def _check_keeps_the_past(rule: PointsRule, given: dict[str, Any], today: date) -> None:
    """A change that would alter what the rule said about a day before tomorrow is refused."""
    if rule.effective_from > today:  # not in effect yet: anything may change, within the future
        if given.get("effective_from") is not None:
            _check_future(given["effective_from"], today)
        return
    if rule.effective_to is not None and rule.effective_to < today:
        raise DomainError(PointsErrorCode.RULE_IN_EFFECT, "This rule has ended: it stays as it was.", "id")
    for field in ("value", "effective_from"):
        if field in given and given[field] != getattr(rule, field):
            raise DomainError(
                PointsErrorCode.RULE_IN_EFFECT,
                f"The rule has taken effect: its {field} stays; end it and create a new rule.",
                field,
            )
    if "effective_to" in given and given["effective_to"] is not None and given["effective_to"] < today:
        raise DomainError(
            PointsErrorCode.RULE_IN_EFFECT,
            f"The rule has taken effect: it can end on today ({today}) or later, not before.",
            "effective_to",
        )


async def rules_in_force(session: AsyncSession, on: date) -> list[PointsRule]:
    query = sa.select(PointsRule).where(
        PointsRule.effective_from <= on, sa.func.coalesce(PointsRule.effective_to, NEVER) >= on
    )
    return list((await session.scalars(query)).all())


async def grade_multipliers(session: AsyncSession, grade_codes: list[str]) -> list[Decimal | None]:
    """The earning multiplier of each grade today: its GRADE_MULTIPLIER rule in force (none: the grade earns the
    plain rate)."""
    from domain import clock

    today = clock.today()
    query = sa.select(PointsRule.grade_code, PointsRule.value).where(
        PointsRule.kind == RuleKind.GRADE_MULTIPLIER, PointsRule.grade_code.in_(grade_codes),
        PointsRule.effective_from <= today, sa.func.coalesce(PointsRule.effective_to, NEVER) >= today,
    )  # fmt: skip
    found = {code: Decimal(value).normalize() for code, value in (await session.execute(query)).all()}
    return [found.get(code) for code in grade_codes]


async def expiry_date(session: AsyncSession, earned_on: date) -> date:
    """The last day points earned on `earned_on` may be used, under the validity rule in force then.

    Computed by the database (`points_expiry_date`, migration 0009), where the ledger's own
    functions compute it when they fill a lot: one definition, read inside the statement.
    """
    return await session.scalar(sa.select(sa.func.points_expiry_date(sa.bindparam("on", earned_on, sa.Date))))


async def list_rules(session: AsyncSession, principal: Principal) -> list[PointsRule]:
    require_staff(principal, Permission.POINTS_READ)
    query = sa.select(PointsRule).order_by(PointsRule.kind, PointsRule.grade_code, PointsRule.effective_from)
    return await records(session, query.limit(1_000))


# --- during the move to commands -------------------------------------------------------------------
