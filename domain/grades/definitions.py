"""Grade definitions as data [G1]: headquarters administrators add and edit grades, and retire them — a grade
that members, rules or rewards name is never deleted. And customer importance [G3], set by reviewers with a
reason and kept in a history, which grade rules may ask for."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access import Permission, require_staff
from domain.cards.tables import USABLE_STATES, Card
from domain.columns import records, same_code
from domain.customers.service import customer_in_scope
from domain.customers.tables import Customer, Importance
from domain.errors import DomainError, ErrorCode
from domain.grades.errors import GradeErrorCode
from domain.grades.tables import CustomerImportanceChange
from domain.members.tables import Grade, GradeStatus, Member, Roaming
from domain.points.rules import require_headquarters
from domain.validation import Checker, name_length_max, note_length_max
from domain.work.commands import UNCHANGED, Command, CustomerId, changes
from domain.work.unit import UnitOfWork

rank_max = 99
service_standards_length_max = 2_000
card_type_length_max = 32


@dataclass(frozen=True, kw_only=True)
class CreateGrade(Command):
    code: str
    name: str
    rank: int
    card_type: str
    roaming: Roaming
    service_standards: str | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateGrade(Command):
    """Only the fields given change; a grade's code never does."""

    code: str
    name: str | None = UNCHANGED
    rank: int | None = UNCHANGED
    card_type: str | None = UNCHANGED
    roaming: Roaming | None = UNCHANGED
    service_standards: str | None = UNCHANGED


@dataclass(frozen=True, kw_only=True)
class RetireGrade(Command):
    code: str


@dataclass(frozen=True, kw_only=True)
class DeleteGrade(Command):
    code: str


def _checked(check: Checker, given: dict) -> dict:
    clean = {}
    if "name" in given:
        clean["name"] = check.text("name", given["name"], length_max=name_length_max, required=True)
    if "rank" in given:
        clean["rank"] = check.integer("rank", given["rank"], minimum=1, maximum=rank_max)
        if given["rank"] is None:
            check.fail("rank", ErrorCode.REQUIRED, "rank is required.")
    if "card_type" in given:
        clean["card_type"] = check.code("card_type", given["card_type"])
    if "roaming" in given:
        if given["roaming"] is None:
            check.fail("roaming", ErrorCode.REQUIRED, "roaming is required.")
        else:
            clean["national_roaming"] = Roaming(given["roaming"]) == Roaming.NATIONAL
    if "service_standards" in given:
        clean["service_standards"] = (
            check.text("service_standards", given["service_standards"], length_max=service_standards_length_max) or ""
        )
    return clean


async def _check_rank_free(session: AsyncSession, rank: int | None, code: str) -> None:
    if rank is not None and await session.scalar(sa.select(Grade.code).where(Grade.rank == rank, Grade.code != code)):
        raise DomainError(GradeErrorCode.GRADE_RANK_TAKEN, f"Another grade has rank {rank}.", "rank")


async def create_grade(uow: UnitOfWork, command: CreateGrade) -> Grade:
    await require_headquarters(uow.session, uow.principal, "Grades are maintained")
    check = Checker()
    code = check.code("code", command.code)
    clean = _checked(check, {name: getattr(command, name) for name in
                             ("name", "rank", "card_type", "roaming", "service_standards")})  # fmt: skip
    check.raise_if_any()
    assert code is not None
    held = await uow.session.scalar(sa.select(Grade.code).where(same_code(Grade.code, code)))
    if held is not None:  # whatever its letters' case, as every code
        raise DomainError(ErrorCode.DUPLICATE, f"A grade {held} exists already.", "code")
    await _check_rank_free(uow.session, clean["rank"], code)
    grade = Grade(code=code, status=GradeStatus.ACTIVE, **clean)
    uow.session.add(grade)
    await uow.session.flush()
    return grade


async def _grade(session: AsyncSession, code: str | None, field: str = "code", *, given: bool = False) -> Grade:
    """The grade `code`, locked to change it, or (`given`) to give it: then a retirement or deletion under way is
    waited for, and seen."""
    lock = {"key_share": True} if given else True
    found = isinstance(code, str) and code
    grade = await session.get(Grade, code, with_for_update=lock, populate_existing=True) if found else None
    if grade is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such grade.", field)
    return grade


async def update_grade(uow: UnitOfWork, command: UpdateGrade) -> Grade:
    await require_headquarters(uow.session, uow.principal, "Grades are maintained")
    check = Checker()
    clean = _checked(check, changes(command, "name", "rank", "card_type", "roaming", "service_standards"))
    check.raise_if_any()
    grade = await _grade(uow.session, command.code)
    await _check_rank_free(uow.session, clean.get("rank"), grade.code)
    if clean.get("card_type", grade.card_type) != grade.card_type and await uow.session.scalar(
        _CARDS_OF_GRADE, {"code": grade.code}
    ):
        raise DomainError(
            GradeErrorCode.GRADE_IN_USE,
            f"{grade.code}'s members hold {grade.card_type} cards: a card"
            " type follows the grade, so it changes only on a grade no card is of.",
            "card_type",
        )
    for name, value in clean.items():
        setattr(grade, name, value)
    await uow.session.flush()
    return grade


_CARDS_OF_GRADE = sa.select(  # a usable card of a member of the grade
    sa.exists().where(Card.member_id == Member.id, Member.grade_code == sa.bindparam("code"),
                      Card.state.in_(USABLE_STATES))
)  # fmt: skip


async def retire_grade(uow: UnitOfWork, command: RetireGrade) -> Grade:
    """A retired grade stays on the members who hold it and in the history; no review or change gives it."""
    await require_headquarters(uow.session, uow.principal, "Grades are maintained")
    grade = await _grade(uow.session, command.code)
    if grade.status == GradeStatus.RETIRED:
        raise DomainError(GradeErrorCode.GRADE_RETIRED, f"{grade.code} is retired already.", "code")
    grade.status = GradeStatus.RETIRED
    await uow.session.flush()
    return grade


async def delete_grade(uow: UnitOfWork, command: DeleteGrade) -> Grade:
    """Only a grade nothing names: no member, grade rule, points rule or reward (retire it otherwise)."""
    await require_headquarters(uow.session, uow.principal, "Grades are maintained")
    grade = await _grade(uow.session, command.code)
    named = sa.text(
        """SELECT EXISTS (SELECT 1 FROM member WHERE grade_code = :code)
               OR EXISTS (SELECT 1 FROM grade_rule WHERE grade_code = :code)
               OR EXISTS (SELECT 1 FROM points_rule WHERE grade_code = :code)
               OR EXISTS (SELECT 1 FROM consumption_rule WHERE grade_code = :code)
               OR EXISTS (SELECT 1 FROM reward_item WHERE jsonb_exists(grade_codes, :code))
               OR EXISTS (SELECT 1 FROM grade_change WHERE grade_from = :code OR grade_to = :code)"""
    )
    if await uow.session.scalar(named, {"code": grade.code}):
        raise DomainError(GradeErrorCode.GRADE_IN_USE, f"{grade.code} is in use: retire it instead.", "code")
    await uow.session.delete(grade)
    await uow.session.flush()
    return grade


async def list_grades(session: AsyncSession) -> list[Grade]:
    return await records(session, sa.select(Grade).order_by(Grade.rank))


async def active_grade(session: AsyncSession, code: str | None, field: str = "grade_code") -> Grade:
    """The grade `code` when it may be given: NOT_FOUND, or GRADE_RETIRED."""
    grade = await _grade(session, code, field, given=True)
    if grade.status == GradeStatus.RETIRED:
        raise DomainError(GradeErrorCode.GRADE_RETIRED, f"{grade.code} is retired: it is not given.", field)
    return grade


# --- customer importance -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SetCustomerImportance(Command):
    customer_id: CustomerId | None
    importance: Importance
    reason: str


async def set_customer_importance(uow: UnitOfWork, command: SetCustomerImportance) -> Customer:
    """The new importance, with the change and its reason kept in the customer's history."""
    actor = require_staff(uow.principal, Permission.GRADE_REVIEW)
    check = Checker()
    reason = check.text("reason", command.reason, length_max=note_length_max, required=True)
    check.raise_if_any()
    customer = await customer_in_scope(uow.session, actor, command.customer_id, "customer_id", lock=True)
    importance = Importance(command.importance)
    if customer.importance == importance:
        raise DomainError(GradeErrorCode.IMPORTANCE_UNCHANGED, f"The importance is {importance} already.", "importance")
    change = CustomerImportanceChange(customer_id=customer.id, importance_before=customer.importance,
                                      importance_after=importance, reason=reason, staff_id=actor.staff_id)  # fmt: skip
    uow.session.add(change)
    customer.importance, customer.updated_at = importance, uow.now
    await uow.session.flush()
    return customer
