"""Grade rules as data with effective dates [G3]: what each grade asks of a customer, nationally or as a
province's override for its customers. A rule lists alternative sets of thresholds; a customer qualifies
when one set holds in full. Rules never rewrite the past (`domain.dated`): a proposal or change keeps the id of
the rule version that decided it, and every change of a rule is recorded (who, when, before, after)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access import Permission, Principal, StaffPrincipal, require_staff
from domain.columns import records
from domain.customers.tables import Importance
from domain.dated import change_action, check_dates, from_tomorrow, keeps_the_past, one_at_a_time
from domain.errors import AccessDenied, DomainError, ErrorCode
from domain.grades.definitions import active_grade
from domain.grades.tables import GradeRule, GradeRuleChange
from domain.organisation.tables import Branch, BranchLevel
from domain.points.errors import PointsErrorCode
from domain.points.rules import NEVER
from domain.validation import Checker, money_fen_max
from domain.work.commands import UNCHANGED, BranchId, Command, GradeRuleId, changes
from domain.work.unit import UnitOfWork

window_months_max = 36
alternatives_max = 5
months_in_network_max = 1_200
points_earned_max = 100_000_000


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """One alternative set: every threshold given must hold (at least); one left out is not asked."""

    months_in_network: int | None = None
    arpu_fen: int | None = None
    points_earned: int | None = None
    importance: Importance | None = None
    spend_fen: int | None = None


THRESHOLDS = tuple(f.name for f in fields(Thresholds))
_MAXIMA = {"months_in_network": months_in_network_max, "arpu_fen": money_fen_max,
           "points_earned": points_earned_max, "spend_fen": money_fen_max}  # fmt: skip


def _alternatives(check: Checker, given: Any) -> list[dict[str, Any]] | None:
    if not isinstance(given, list | tuple) or not 1 <= len(given) <= alternatives_max:
        check.fail("alternatives", ErrorCode.OUT_OF_RANGE, f"A rule has 1 to {alternatives_max} alternative sets.")
        return None
    stored = []
    for n, thresholds in enumerate(given):
        one: dict[str, Any] = {}
        for name in THRESHOLDS:
            value = getattr(thresholds, name)
            if value is None:
                continue
            if name == "importance":
                one[name] = Importance(value).value
            elif check.integer(f"alternatives.{n}.{name}", value, minimum=0, maximum=_MAXIMA[name]) is not None:
                one[name] = value
        if not one and not any(p.field.startswith(f"alternatives.{n}.") for p in check.problems):
            check.fail(f"alternatives.{n}", ErrorCode.REQUIRED, "An alternative set asks for one threshold at least.")
        stored.append(one)
    return stored


def snapshot(rule: GradeRule) -> dict[str, Any]:
    return {
        "grade_code": rule.grade_code,
        "branch_id": rule.branch_id,
        "window_months": rule.window_months,
        "alternatives": rule.alternatives,
        "effective_from": rule.effective_from.isoformat(),
        "effective_to": rule.effective_to.isoformat() if rule.effective_to else None,
    }


async def _rule_keeper(
    session: AsyncSession, principal: Principal, branch_id: int | None
) -> tuple[StaffPrincipal, Branch]:
    """Administrators keep rules: headquarters' the national ones, a province's (or headquarters') its overrides."""
    actor = require_staff(principal, Permission.POINTS_RULES)
    branch = await session.get(Branch, actor.branch_id if branch_id is None else branch_id)
    if branch is None or branch_id is not None and not actor.covers(branch.path):
        raise DomainError(ErrorCode.NOT_FOUND, "No such branch in your scope.", "branch_id")
    if branch.level not in (BranchLevel.HQ, BranchLevel.PROVINCE):
        raise DomainError(ErrorCode.INVALID, "Grade rules are national or a province's.", "branch_id")
    if branch_id is None and branch.level != BranchLevel.HQ:
        raise AccessDenied(ErrorCode.FORBIDDEN, "National grade rules are maintained at headquarters.")
    return actor, branch


@dataclass(frozen=True, kw_only=True)
class CreateGradeRule(Command):
    grade_code: str
    window_months: int
    alternatives: list[Thresholds]
    effective_from: date
    effective_to: date | None = None
    branch_id: BranchId | None = None  # a province overriding the national rule; none: national


async def create_grade_rule(uow: UnitOfWork, command: CreateGradeRule) -> GradeRule:
    actor, branch = await _rule_keeper(uow.session, uow.principal, command.branch_id)
    check = Checker()
    check.integer("window_months", command.window_months, minimum=1, maximum=window_months_max)
    alternatives = _alternatives(check, command.alternatives)
    if command.effective_from <= uow.today:
        check.fail("effective_from", PointsErrorCode.RULE_IN_EFFECT, from_tomorrow(uow.today))
    check.raise_if_any()
    grade = await active_grade(uow.session, command.grade_code)
    rule = GradeRule(grade_code=grade.code, branch_id=branch.id, window_months=command.window_months,
                     alternatives=alternatives, effective_from=command.effective_from,
                     effective_to=command.effective_to)  # fmt: skip
    return await _add(uow.session, rule, actor.staff_id)


async def _add(session: AsyncSession, rule: GradeRule, staff_id: int | None) -> GradeRule:
    check_dates(rule.effective_from, rule.effective_to)
    await _check_no_overlap(session, rule)
    session.add(rule)
    await session.flush()
    session.add(GradeRuleChange(rule_id=rule.id, action="CREATE", after=snapshot(rule), staff_id=staff_id))
    return rule


async def establish_grade_rule(session: AsyncSession, rule: GradeRule) -> GradeRule:
    """A club's founding rule, from any date: only before any review decided anything (set-up, the demo)."""
    if await session.scalar(sa.text("SELECT EXISTS (SELECT 1 FROM grade_proposal)")):
        raise DomainError(PointsErrorCode.RULE_IN_EFFECT, "Reviews have run: rules now change by updates.")
    return await _add(session, rule, None)


async def _check_no_overlap(session: AsyncSession, rule: GradeRule) -> None:
    await one_at_a_time(session, "grade_rule", rule.grade_code, rule.branch_id)
    query = sa.select(GradeRule.id).where(
        GradeRule.grade_code == rule.grade_code,
        GradeRule.branch_id == rule.branch_id,
        GradeRule.effective_from <= (rule.effective_to or NEVER),
        sa.func.coalesce(GradeRule.effective_to, NEVER) >= rule.effective_from,
        GradeRule.id != rule.id if rule.id else sa.true(),
    )
    if await session.scalar(query) is not None:
        raise DomainError(PointsErrorCode.RULE_ALREADY_IN_FORCE, "Another rule of this grade and branch is in force"
                          " for these dates.", "effective_from")  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class UpdateGradeRule(Command):
    """Setting `effective_to` alone ends the rule; a rule in effect takes nothing else."""

    id: GradeRuleId | None
    window_months: int | None = UNCHANGED
    alternatives: list[Thresholds] | None = UNCHANGED
    effective_from: date | None = UNCHANGED
    effective_to: date | None = UNCHANGED


async def update_grade_rule(uow: UnitOfWork, command: UpdateGradeRule) -> GradeRule:
    rule = await uow.session.get(GradeRule, command.id, with_for_update=True) if command.id else None
    if rule is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such rule.", "id")
    actor, _ = await _rule_keeper(uow.session, uow.principal, None if await _national(uow.session, rule)
                                  else rule.branch_id)  # fmt: skip
    given = changes(command, "window_months", "alternatives", "effective_from", "effective_to")
    check = Checker()
    if "window_months" in given:
        if given["window_months"] is None:
            check.fail("window_months", ErrorCode.REQUIRED, "window_months is required.")
        check.integer("window_months", given["window_months"], minimum=1, maximum=window_months_max)
    if "alternatives" in given:
        given["alternatives"] = _alternatives(check, given["alternatives"])
    if "effective_from" in given and given["effective_from"] is None:
        check.fail("effective_from", ErrorCode.REQUIRED, "effective_from is required.")
    check.raise_if_any()
    keeps_the_past(rule, given, uow.today, ("window_months", "alternatives"))
    before = snapshot(rule)
    for field, value in given.items():
        setattr(rule, field, value)
    check_dates(rule.effective_from, rule.effective_to)
    await _check_no_overlap(uow.session, rule)
    after = snapshot(rule)
    if action := change_action(before, after, given):
        uow.session.add(GradeRuleChange(rule_id=rule.id, action=action, before=before, after=after,
                                        staff_id=actor.staff_id))  # fmt: skip
        await uow.session.flush()
    return rule


async def _national(session: AsyncSession, rule: GradeRule) -> bool:
    return await session.scalar(sa.select(Branch.level).where(Branch.id == rule.branch_id)) == BranchLevel.HQ


async def list_grade_rules(session: AsyncSession, principal: Principal) -> list[GradeRule]:
    """Every grade rule, national and provincial, by grade and date (staff who read members)."""
    require_staff(principal, Permission.MEMBER_READ)
    query = sa.select(GradeRule).order_by(GradeRule.grade_code, GradeRule.branch_id, GradeRule.effective_from)
    return await records(session, query.limit(1_000))


async def get_rules_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[GradeRule | None]:
    """Rules by id for `node(id:)`: staff who read members; None for everyone else."""
    try:
        require_staff(principal, Permission.MEMBER_READ)
    except AccessDenied:
        return [None] * len(ids)
    found = {r.id: r for r in await records(session, sa.select(GradeRule).where(GradeRule.id.in_(ids)))}
    return [found.get(i) for i in ids]
