"""Grades as GraphQL types: rules, the review's proposals and runs, the grade history, a member's grade review
and progress (roots are database rows or the domain's dataclasses)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay

from domain.customers.tables import Importance as DomainImportance
from domain.grades import tables as grades_tables
from domain.grades.changes import Assessment, GradeProgress, GradeReview, Requirement, RuleVerdict
from domain.grades.definitions import rank_max
from domain.grades.review import Decision as DomainDecision
from domain.grades.review import GradeReviewRun
from domain.grades.rules import THRESHOLDS, alternatives_max
from domain.paging import listed_max
from domain.work.tables import JobStatus
from schema.common import Importance, Long, MemberStatus, UserError, joined, listed, node_keys, row_type
from schema.organisation import BranchType, ClubType, GradeType, Roaming, StaffType

if TYPE_CHECKING:
    from schema.customers import CustomerType
    from schema.members import MemberType

ProposalKind = strawberry.enum(grades_tables.ProposalKind, name="GradeProposalKind")
ProposalState = strawberry.enum(grades_tables.ProposalState, name="GradeProposalState")
ChangeKind = strawberry.enum(grades_tables.ChangeKind, name="GradeChangeKind")
Decision = strawberry.enum(DomainDecision, name="GradeDecision")
GradeReviewRunStatus = strawberry.enum(JobStatus, name="GradeReviewRunStatus")

_Member = Annotated["MemberType", strawberry.lazy("schema.members")]
_Customer = Annotated["CustomerType", strawberry.lazy("schema.customers")]


@strawberry.type(description="One alternative set of a grade rule: every threshold given must hold (at least).")
class GradeThresholds:
    months_in_network: int | None = None
    arpu_fen: int | None = strawberry.field(default=None, description="Average paid per month over the window.")
    points_earned: int | None = strawberry.field(default=None, description="Earned in the window (not balance).")
    importance: Importance | None = None
    spend_fen: int | None = strawberry.field(default=None, description="Paid in the window.")


@strawberry.input(name="GradeThresholdsInput")
class GradeThresholdsInput:
    months_in_network: int | None = None
    arpu_fen: int | None = None
    points_earned: int | None = None
    importance: Importance | None = None
    spend_fen: int | None = None


def _thresholds(stored: dict[str, Any]) -> GradeThresholds:
    given = dict(stored)
    if given.get("importance") is not None:
        given["importance"] = DomainImportance(given["importance"])
    return GradeThresholds(**given)


@strawberry.type(description="What the rules look at for a customer, as of a day, over a window of whole months.")
class GradeFigures:
    window_months: int
    months_in_network: int
    arpu_fen: Long
    points_earned: Long
    importance: Importance
    spend_fen: Long


def figures_of(stored: dict[str, Any] | None) -> GradeFigures | None:
    if not stored:
        return None
    whole = {name: int(stored[name]) for name in ("window_months", "months_in_network", "arpu_fen", "points_earned",
                                                  "spend_fen")}  # fmt: skip
    return GradeFigures(importance=DomainImportance(stored["importance"]), **whole)


@strawberry.type(name="CustomerImportanceChange", description="A change of a customer's importance [G3].")
class CustomerImportanceChangeType:
    importance_before: Importance
    importance_after: Importance
    reason: str
    changed_at: datetime
    is_type_of = row_type(grades_tables.CustomerImportanceChange)

    @strawberry.field
    @joined("staff", "staff_id")
    def staff(self, info: strawberry.Info) -> StaffType: ...


@strawberry.type(name="GradeRuleChange", description="A change of a grade rule: who, when, before and after.")
class GradeRuleChangeType:
    action: str
    before: strawberry.scalars.JSON | None
    after: strawberry.scalars.JSON
    changed_at: datetime
    is_type_of = row_type(grades_tables.GradeRuleChange)

    @strawberry.field
    @joined("staff", "staff_id")
    def staff(self, info: strawberry.Info) -> StaffType | None: ...


@strawberry.type(name="GradeRule", description="What a grade asks, nationally or as a province's override [G3].")
class GradeRuleType(relay.Node):
    id: relay.NodeID[int]
    window_months: int = strawberry.field(description="ARPU, spend and points earned count over this many months.")
    effective_from: date
    effective_to: date | None
    is_type_of = row_type(grades_tables.GradeRule)

    @strawberry.field
    @joined("grades", "grade_code")
    def grade(self, info: strawberry.Info) -> GradeType: ...

    @strawberry.field(description="Headquarters for the national rule, or the province it overrides it for.")
    @joined("branches", "branch_id")
    def branch(self, info: strawberry.Info) -> BranchType: ...

    @strawberry.field(description="A customer qualifies when one set holds in full.", metadata=listed(alternatives_max))
    def alternatives(self) -> list[GradeThresholds]:
        return [_thresholds(a) for a in self.alternatives]

    @strawberry.field(
        description="Its last 100 changes, oldest first: who, when, before and after.", metadata=listed(listed_max)
    )
    @joined("grade_rule_changes", "id")
    def changes(self, info: strawberry.Info) -> list[GradeRuleChangeType]: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.grade_rules_scoped.load_many(node_keys(node_ids))


@strawberry.type(name="GradeProposal", description="What a qualification review found for a customer [G4].")
class GradeProposalType(relay.Node):
    id: relay.NodeID[int]
    as_of: date
    kind: ProposalKind
    state: ProposalState
    grade_from: str | None
    grade_to: str | None
    applies_on: date | None = strawberry.field(description="When a downgrade in grace applies at the earliest.")
    decided_at: datetime | None
    reason: str | None
    created_at: datetime
    is_type_of = row_type(grades_tables.GradeProposal)

    @strawberry.field
    def figures(self) -> GradeFigures | None:
        return figures_of(self.figures)

    @strawberry.field
    @joined("customers", "customer_id")
    def customer(self, info: strawberry.Info) -> _Customer | None: ...

    @strawberry.field
    @joined("members_scoped", "member_id")
    def member(self, info: strawberry.Info) -> _Member | None: ...

    @strawberry.field
    @joined("branches", "branch_id")
    def branch(self, info: strawberry.Info) -> BranchType: ...

    @strawberry.field(description="The member's club, or the club an admitted customer joins.")
    @joined("clubs", "club_id")
    def club(self, info: strawberry.Info) -> ClubType | None: ...

    @strawberry.field(description="The rule version that gives the proposed grade.")
    @joined("grade_rules", "rule_id")
    def rule(self, info: strawberry.Info) -> GradeRuleType | None: ...

    @strawberry.field
    @joined("staff", "decided_by")
    def decided_by(self, info: strawberry.Info) -> StaffType | None: ...

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False):
        return await info.context.loaders.grade_proposals_scoped.load_many(node_keys(node_ids))


@strawberry.type(name="GradeChange", description="One entry of a member's grade history [G5].")
class GradeChangeType:
    grade_from: str | None
    grade_to: str | None = strawberry.field(description="None when the membership was revoked.")
    kind: ChangeKind
    reason: str
    changed_at: datetime
    is_type_of = row_type(grades_tables.GradeChange)

    @strawberry.field
    def figures(self) -> GradeFigures | None:
        return figures_of(self.figures)

    @strawberry.field(description="Who changed it; none for a review run's automatic change.")
    @joined("staff", "staff_id")
    def staff(self, info: strawberry.Info) -> StaffType | None: ...


@strawberry.type(name="GradeReviewRun", description="A qualification review run [G4]: how far it got, per kind.")
class GradeReviewRunType:
    id: int
    as_of: date
    status: GradeReviewRunStatus
    customers_total: int
    proposals: int = strawberry.field(description="New proposals: a rerun of the same date makes none.")
    admit: int
    upgrade: int
    downgrade: int
    revoke: int
    suppressed: int = strawberry.field(description="Downgrades the policy does not apply.")
    in_grace: int
    applied: int = strawberry.field(description="Proposals of the automatic kinds, applied by the run.")
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    is_type_of = row_type(GradeReviewRun)

    @strawberry.field(description="Who started it; none when it was started from the command line.")
    @joined("staff", "staff_id")
    def started_by(self, info: strawberry.Info) -> StaffType | None: ...


@strawberry.type(name="GradeRequirement", description="One threshold against the member's figure.")
class RequirementType:
    metric: str
    current: str
    required: str
    met: bool
    is_type_of = row_type(Requirement)


@strawberry.type(name="GradeAlternative", description="One alternative set of a rule against the figures.")
class AssessmentType:
    requirements: list[RequirementType] = strawberry.field(metadata=listed(len(THRESHOLDS)))
    met: bool
    is_type_of = row_type(Assessment)


@strawberry.type(name="GradeRuleVerdict", description="What one rule version in force gives the member.")
class RuleVerdictType:
    national: bool
    window_months: int
    met: bool
    alternatives: list[AssessmentType] = strawberry.field(metadata=listed(alternatives_max))
    is_type_of = row_type(RuleVerdict)

    @strawberry.field
    @joined("grade_rules", "rule_id")
    def rule(self, info: strawberry.Info) -> GradeRuleType | None: ...

    @strawberry.field
    @joined("grades", "grade_code")
    def grade(self, info: strawberry.Info) -> GradeType: ...

    @strawberry.field(name="figures")
    def figures_field(self) -> GradeFigures | None:
        return figures_of(self.figures)


@strawberry.type(name="MemberGradeReview", description="A member's figures today and each rule's verdict [G5].")
class GradeReviewType:
    as_of: date
    rules: list[RuleVerdictType] = strawberry.field(
        description="Each grade's rule in force: the national one, and the province's own.",
        metadata=listed(2 * rank_max),
    )
    is_type_of = row_type(GradeReview)

    @strawberry.field
    @joined("grades", "grade_code")
    def grade(self, info: strawberry.Info) -> GradeType: ...

    @strawberry.field(description="The best grade the rules give now: what a review would propose.")
    @joined("grades", "proposed_grade_code")
    def proposed_grade(self, info: strawberry.Info) -> GradeType | None: ...

    @strawberry.field(name="figures")
    def figures_field(self) -> GradeFigures | None:
        return figures_of(self.figures)

    @strawberry.field
    @joined("members_scoped", "member_id")
    def member(self, info: strawberry.Info) -> _Member | None: ...


@strawberry.type(name="GradeProgress", description="Where the member stands against the next grade [G3].")
class GradeProgressType:
    requirements: list[RequirementType] = strawberry.field(
        description="The next grade's alternative set nearest to being met; empty at the top grade.",
        metadata=listed(len(THRESHOLDS)),
    )
    will_downgrade_on: date | None = strawberry.field(
        description="When the policy applies downgrades and the member no longer qualifies: when it would apply."
    )
    is_type_of = row_type(GradeProgress)

    @strawberry.field
    @joined("grades", "grade_code")
    def grade(self, info: strawberry.Info) -> GradeType: ...

    @strawberry.field
    @joined("grades", "next_grade_code")
    def next_grade(self, info: strawberry.Info) -> GradeType | None: ...

    @strawberry.field(description="The grade the member would hold after the next review; none: no grade.")
    @joined("grades", "projected_grade_code")
    def projected_grade(self, info: strawberry.Info) -> GradeType | None: ...


# --- inputs and payloads ------------------------------------------------------------------


@strawberry.input
class CreateGradeInput:
    code: str
    name: str
    rank: int = strawberry.field(description="1 is the highest grade; every grade has its own rank.")
    card_type: str
    roaming: Roaming
    service_standards: str | None = None


@strawberry.input(description="Only the fields given change; a grade's code never does.")
class UpdateGradeInput:
    code: str
    name: str | None = strawberry.UNSET
    rank: int | None = strawberry.UNSET
    card_type: str | None = strawberry.UNSET
    roaming: Roaming | None = strawberry.UNSET
    service_standards: str | None = strawberry.UNSET


@strawberry.input
class GradeCodeInput:
    code: str


@strawberry.type
class GradePayload:
    errors: list[UserError]
    grade: GradeType | None = None


@strawberry.input
class SetCustomerImportanceInput:
    customer_id: relay.GlobalID
    importance: Importance
    reason: str


@strawberry.type
class SetCustomerImportancePayload:
    errors: list[UserError]
    customer: _Customer | None = None


@strawberry.input
class CreateGradeRuleInput:
    grade_code: str
    window_months: int = strawberry.field(description="1 to 36 whole months before the review's month.")
    alternatives: list[GradeThresholdsInput]
    effective_from: date = strawberry.field(description="Tomorrow at the earliest: the past keeps its rules.")
    effective_to: date | None = None
    branch_id: relay.GlobalID | None = strawberry.field(
        default=None, description="A province overriding the national rule for its customers; none: national."
    )


@strawberry.input(description="A rule in effect takes only a new end (today or later).")
class UpdateGradeRuleInput:
    id: relay.GlobalID
    window_months: int | None = strawberry.UNSET
    alternatives: list[GradeThresholdsInput] | None = strawberry.UNSET
    effective_from: date | None = strawberry.UNSET
    effective_to: date | None = strawberry.UNSET


@strawberry.type
class GradeRulePayload:
    errors: list[UserError]
    rule: GradeRuleType | None = None


@strawberry.input
class RunGradeReviewInput:
    as_of: date | None = strawberry.field(default=None, description="Today or earlier; today when left out.")


@strawberry.type
class RunGradeReviewPayload:
    errors: list[UserError]
    run: GradeReviewRunType | None = None


@strawberry.input
class GradeProposalFilter:
    kind: ProposalKind | None = strawberry.UNSET
    state: ProposalState | None = strawberry.UNSET
    branch_id: relay.GlobalID | None = strawberry.UNSET
    club_id: relay.GlobalID | None = strawberry.UNSET
    grade_from: str | None = strawberry.UNSET
    grade_to: str | None = strawberry.UNSET
    as_of: date | None = strawberry.UNSET


@strawberry.input
class DecideGradeProposalInput:
    id: relay.GlobalID
    decision: Decision
    reason: str


@strawberry.type
class DecideGradeProposalPayload:
    errors: list[UserError]
    proposal: GradeProposalType | None = None


@strawberry.input(description="Every PENDING proposal the filter matches in your subtree, all or none (≤ 1,000).")
class DecideGradeProposalsInput:
    filter: GradeProposalFilter
    decision: Decision
    reason: str


@strawberry.type
class DecideGradeProposalsPayload:
    errors: list[UserError]
    count: int | None = None


@strawberry.input
class ChangeMemberGradeInput:
    member_id: relay.GlobalID
    grade_code: str
    reason: str
    idempotency_key: str


@strawberry.type
class ChangeMemberGradePayload:
    errors: list[UserError]
    member: _Member | None = None
    replayed: bool = False


@strawberry.input(description="Members of your subtree; every field given must hold.")
class MemberSetInput:
    branch_id: relay.GlobalID | None = None
    club_id: relay.GlobalID | None = None
    grade_code: str | None = None
    status: MemberStatus | None = None


@strawberry.input(description="Every member the filter matches (whose grade differs), all or none (≤ 1,000).")
class ChangeMemberGradesInput:
    filter: MemberSetInput
    grade_code: str
    reason: str
    idempotency_key: str


@strawberry.type
class ChangeMemberGradesPayload:
    errors: list[UserError]
    batch: strawberry.Private[Any] = None
    replayed: bool = False

    @strawberry.field(description="How many members changed grade.")
    def count(self) -> int | None:
        return self.batch.member_count if self.batch is not None else None
