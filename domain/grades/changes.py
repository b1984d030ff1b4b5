"""Manual grade changes [G5] for one member or a filtered set, each with a reason, into the grade history
(`grade_record`, migration 0014: the member's grade, the history entry and the member's notice in one
statement); the history itself; what staff review before a change (`member_grade_review`); and a member's
progress towards the next grade."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access import Permission, Principal, may_read_member, require_staff
from domain.columns import records
from domain.customers.tables import IMPORTANCE_RANK, Importance
from domain.errors import DomainError, ErrorCode
from domain.grades.definitions import active_grade
from domain.grades.errors import GradeErrorCode
from domain.grades.review import DowngradePolicy, GradePolicy, decision_for, rules_with_figures
from domain.grades.rules import THRESHOLDS
from domain.grades.tables import ChangeKind, GradeChangeBatch, GradeProposal, ProposalState
from domain.members import states
from domain.members.service import member_in_scope
from domain.members.states import MemberOperation
from domain.members.tables import Grade, GradeStatus, Member, MemberStatus
from domain.organisation.service import subtree_branch_ids
from domain.validation import Checker, note_length_max, validity_end
from domain.work.commands import BranchId, ClubId, Idempotent, MemberId
from domain.work.unit import UnitOfWork

members_changed_max = 1_000  # a bulk change takes at most this many members, all or none: narrow the filter
history_listed_max = 100

_RECORD = sa.text("SELECT grade_record(:changes, :staff, NULL, :reason, :now)").bindparams(
    sa.bindparam("changes", type_=JSONB)
)


def _reason(check: Checker, reason: Any) -> str | None:
    return check.text("reason", reason, length_max=note_length_max, required=True)


@dataclass(frozen=True, kw_only=True)
class ChangeMemberGrade(Idempotent):
    member_id: MemberId | None
    grade_code: str
    reason: str

    def authorize(self, principal: Principal) -> None:
        require_staff(principal, Permission.GRADE_REVIEW)


async def change_member_grade(uow: UnitOfWork, command: ChangeMemberGrade) -> Member:
    """One member's grade, by a reviewer of their branch, with the figures as of today kept in the history."""
    actor = require_staff(uow.principal, Permission.GRADE_REVIEW)
    check = Checker()
    reason = _reason(check, command.reason)
    check.raise_if_any()
    grade = await active_grade(uow.session, command.grade_code)
    member = await member_in_scope(uow.session, actor, command.member_id, "member_id")  # locked
    states.require(member.status, MemberOperation.CHANGE, "member_id")
    if member.grade_code == grade.code:
        raise DomainError(GradeErrorCode.GRADE_UNCHANGED, f"The member is {grade.code} already.", "grade_code")
    decided = await decision_for(uow.session, member.customer_id, uow.today)
    change = {"member_id": member.id, "grade_from": member.grade_code, "grade_to": grade.code,
              "kind": ChangeKind.MANUAL.value, "figures": decided["figures"] if decided else None}  # fmt: skip
    await uow.session.execute(_RECORD, {"changes": [change], "staff": actor.staff_id, "reason": reason,
                                        "now": uow.now})  # fmt: skip
    await uow.session.refresh(member)
    return member


@dataclass(frozen=True, kw_only=True)
class MemberSet:
    """Which members a bulk change takes (of the caller's subtree); every field given must hold."""

    branch_id: BranchId | None = None
    club_id: ClubId | None = None
    grade_code: str | None = None
    status: MemberStatus | None = None


@dataclass(frozen=True, kw_only=True)
class ChangeMemberGrades(Idempotent):
    filter: MemberSet = field(default_factory=MemberSet)
    grade_code: str
    reason: str

    def authorize(self, principal: Principal) -> None:
        require_staff(principal, Permission.GRADE_REVIEW)


async def change_member_grades(uow: UnitOfWork, command: ChangeMemberGrades) -> GradeChangeBatch:
    """Every member the filter matches in the caller's subtree (whose membership may change and whose grade
    differs) to one grade, all or none, up to `members_changed_max`; the batch records how many."""
    actor = require_staff(uow.principal, Permission.GRADE_REVIEW)
    check = Checker()
    reason = _reason(check, command.reason)
    check.raise_if_any()
    grade = await active_grade(uow.session, command.grade_code)
    chosen = command.filter
    query = sa.select(Member.id, Member.grade_code).where(
        Member.branch_id.in_(subtree_branch_ids(actor.branch_path)),
        Member.status.in_(sorted(states.ALLOWED[MemberOperation.CHANGE])),
        Member.grade_code != grade.code,
    )
    for name in ("branch_id", "club_id", "grade_code", "status"):
        value = getattr(chosen, name)
        if value is not None:
            query = query.where(getattr(Member, name) == value)
    found = (await uow.session.execute(query.order_by(Member.id).limit(members_changed_max + 1)
                                       .with_for_update(key_share=True))).all()  # fmt: skip
    if not found:
        raise DomainError(GradeErrorCode.NOTHING_MATCHES, "No member the filter matches would change.", "filter")
    if len(found) > members_changed_max:
        raise DomainError(GradeErrorCode.TOO_MANY_MATCHES, f"More than {members_changed_max} members match: narrow"
                          " the filter.", "filter")  # fmt: skip
    changes = [{"member_id": m, "grade_from": g, "grade_to": grade.code, "kind": ChangeKind.MANUAL.value}
               for m, g in found]  # fmt: skip
    await uow.session.execute(_RECORD, {"changes": changes, "staff": actor.staff_id, "reason": reason,
                                        "now": uow.now})  # fmt: skip
    described = {name: str(getattr(chosen, name)) for name in ("branch_id", "club_id", "grade_code", "status")
                 if getattr(chosen, name) is not None}  # fmt: skip
    batch = GradeChangeBatch(grade_to=grade.code, filter=described, member_count=len(found), reason=reason,
                             staff_id=actor.staff_id)  # fmt: skip
    uow.session.add(batch)
    await uow.session.flush()
    return batch


# --- reads -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    metric: str
    current: str
    required: str
    met: bool


@dataclass(frozen=True)
class Assessment:
    """How one alternative set of a rule stands against the figures."""

    requirements: list[Requirement]

    @property
    def met(self) -> bool:
        return all(r.met for r in self.requirements)


def assess(alternatives: list[dict[str, Any]], figures: dict[str, Any]) -> list[Assessment]:
    """Each alternative set of a rule against the figures, threshold by threshold (as `grade_decisions` decides)."""
    assessed = []
    for thresholds in alternatives:
        requirements = []
        for metric in THRESHOLDS:
            if thresholds.get(metric) is None:
                continue
            current, required = figures.get(metric), thresholds[metric]
            if metric == "importance":
                met = IMPORTANCE_RANK[Importance(current)] >= IMPORTANCE_RANK[Importance(required)]
            else:
                met = int(current or 0) >= int(required)
            requirements.append(Requirement(metric.upper(), str(current), str(required), met))
        assessed.append(Assessment(requirements))
    return assessed


@dataclass(frozen=True)
class RuleVerdict:
    rule_id: int
    grade_code: str
    national: bool
    window_months: int
    figures: dict[str, Any]
    alternatives: list[Assessment]

    @property
    def met(self) -> bool:
        return any(a.met for a in self.alternatives)


@dataclass(frozen=True)
class GradeReview:
    """One member's figures as of a day and which grade each rule version in force gives them."""

    member_id: int
    as_of: date
    grade_code: str
    proposed_grade_code: str | None  # the best grade the rules give: what a review would propose
    figures: dict[str, Any]
    rules: list[RuleVerdict]


async def _review(session: AsyncSession, member: Member, branch_id: int, as_of: date) -> GradeReview:
    verdicts = [
        RuleVerdict(rule_id=r["id"], grade_code=r["grade_code"], national=r["province_id"] is None,
                    window_months=r["window_months"], figures=r["figures"],
                    alternatives=assess(r["alternatives"], r["figures"]))
        for r in await rules_with_figures(session, member.customer_id, branch_id, as_of)
    ]  # fmt: skip
    best = next((v for v in verdicts if v.met), None)  # by rank: the best grade first
    figures = best.figures if best else (verdicts[0].figures if verdicts else {})
    proposed = best.grade_code if best else None
    return GradeReview(member_id=member.id, as_of=as_of, grade_code=member.grade_code, proposed_grade_code=proposed,
                       figures=figures, rules=verdicts)  # fmt: skip


async def _readable_member(session: AsyncSession, principal: Principal, member_id: int | None) -> tuple[Member, int]:
    found = (await session.execute(
        sa.text("SELECT m.id, b.path, c.branch_id FROM member m JOIN branch b ON b.id = m.branch_id"
                " JOIN customer c ON c.id = m.customer_id WHERE m.id = :id"), {"id": member_id or 0},
    )).first()  # fmt: skip
    if found is None or not may_read_member(principal, found.id, found.path):
        raise DomainError(ErrorCode.NOT_FOUND, "No such member in your scope.", "member")
    member = await session.get(Member, found.id)
    assert member is not None
    return member, found.branch_id


async def member_grade_review(session: AsyncSession, principal: Principal, member_id: int, today: date) -> GradeReview:
    """What staff look at before changing a grade: the member's figures as of today and every rule's verdict."""
    require_staff(principal, Permission.MEMBER_READ)
    member, branch_id = await _readable_member(session, principal, member_id)
    return await _review(session, member, branch_id, today)


@dataclass(frozen=True)
class GradeProgress:
    grade_code: str
    next_grade_code: str | None
    requirements: list[Requirement]  # of the next grade's alternative set nearest to being met
    projected_grade_code: str | None  # what the member would hold after the next review (none: no grade)
    will_downgrade_on: date | None


async def grade_progress(
    session: AsyncSession, principal: Principal, member_id: int, today: date, policy: GradePolicy
) -> GradeProgress:
    member, branch_id = await _readable_member(session, principal, member_id)
    review = await _review(session, member, branch_id, today)
    grades = await records(session, sa.select(Grade).where(Grade.status == GradeStatus.ACTIVE).order_by(Grade.rank))
    rank = {g.code: g.rank for g in grades}
    own = rank.get(member.grade_code, max(rank.values(), default=0) + 1)
    better = [g for g in grades if g.rank < own]
    following = better[-1].code if better else None  # the next grade up
    requirements: list[Requirement] = []
    verdict = next((v for v in review.rules if v.grade_code == following), None)
    if verdict is not None and verdict.alternatives:
        nearest = max(
            verdict.alternatives, key=lambda a: sum(r.met for r in a.requirements) / len(a.requirements or [1])
        )
        requirements = nearest.requirements
    projected, downgrade_on = member.grade_code, None
    proposed = review.proposed_grade_code
    if proposed is not None and rank.get(proposed, own) < own:
        projected = proposed
    elif policy.downgrades == DowngradePolicy.AFTER_GRACE and (proposed is None or rank.get(proposed, own) > own):
        graced = await session.scalar(sa.select(sa.func.min(GradeProposal.applies_on)).where(
            GradeProposal.member_id == member.id, GradeProposal.state == ProposalState.IN_GRACE))  # fmt: skip
        projected = proposed
        downgrade_on = graced or validity_end(today, policy.downgrade_grace_months) + timedelta(days=1)
    return GradeProgress(grade_code=member.grade_code, next_grade_code=following, requirements=requirements,
                         projected_grade_code=projected, will_downgrade_on=downgrade_on)  # fmt: skip
