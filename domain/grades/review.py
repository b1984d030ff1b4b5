"""The qualification review [G4]: every customer with accounts and every member, under the grade rules in force
on the as-of date, gives a proposal where their grade would change — ADMIT, UPGRADE, DOWNGRADE, REVOKE — with
the figures and the rule version that justify it. The policy decides which kinds apply at once and what becomes
of downgrades (`GradePolicy`); reviewers approve or reject the rest.

The run is a job of the job runner (its lock per as-of date, its record, figures per chunk), cut into chunks
of customers by id, each chunk one statement (`grade_review_chunk`, migration 0014) in one transaction: once
per (as-of date, customer), so a rerun proposes nothing new; resumable; flat in memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from domain import clock
from domain.access import Permission, Principal, StaffPrincipal, require_staff, role_grants
from domain.columns import records
from domain.errors import DomainError, ErrorCode
from domain.grades.errors import GradeErrorCode
from domain.grades.tables import GradeProposal, ProposalKind, ProposalState
from domain.members.ending import membership_ended
from domain.members.tables import Member
from domain.organisation.service import PROVINCE_OF_PATH, branches_under, subtree_branch_ids
from domain.organisation.tables import Branch
from domain.paging import Page, PageRequest, fetch_page
from domain.points.rules import require_headquarters
from domain.points.tables import EntryType
from domain.validation import Checker, date_min, note_length_max
from domain.work import jobs
from domain.work.commands import BranchId, ClubId, Command, GradeProposalId
from domain.work.jobs import JobRunner, Progress, Running
from domain.work.tables import JobRun, JobStatus
from domain.work.unit import UnitOfWork

GRADE_REVIEW_KIND = "GRADE_REVIEW"
chunk_customers_default = 10_000
workers_default = 2
decisions_max = 1_000  # proposals one decision by filter may take: narrow the filter beyond
# Points that count as earned: what members gain, not corrections, reversals or cancelled redemptions.
EARNED = (EntryType.CONSUMPTION, EntryType.BONUS_TENURE, EntryType.BONUS_ON_TIME, EntryType.BONUS_PROMOTION,
          EntryType.BONUS_ACTIVITY, EntryType.PARTNER_EXCHANGE_IN, EntryType.SURVEY, EntryType.REFERRAL)  # fmt: skip


class DowngradePolicy(StrEnum):
    NOT_APPLIED = "NOT_APPLIED"  # downgrades are recorded as SUPPRESSED_BY_POLICY and never applied [G4]
    AFTER_GRACE = "AFTER_GRACE"  # applied by the first review after a grace, during which the member is warned


@dataclass(frozen=True)
class GradePolicy:
    """The settings of grades: which proposal kinds apply without a reviewer, and what becomes of downgrades."""

    automatic: frozenset[ProposalKind] = frozenset({ProposalKind.UPGRADE})
    downgrades: DowngradePolicy = DowngradePolicy.NOT_APPLIED
    downgrade_grace_months: int = 3
    membership_years: int = 1  # an admitted member's first validity
    annual_grace_months: int = 0  # the annual review ends a membership at once (0), or after this grace [G6]
    ended_points_kept_days: int = 180  # an ended member's points expire (to breakage) this long after at the latest

    def points_end(self, ended_on: date) -> date:
        """The last day of the points of a membership ended on `ended_on`, at the latest."""
        return ended_on + timedelta(days=self.ended_points_kept_days)


def review_date(as_of: date | None, today: date, field: str = "as_of") -> date:
    """A review looks at what has happened: as of today or an earlier day."""
    if as_of is None:
        return today
    if as_of > today:
        raise DomainError(GradeErrorCode.AS_OF_IN_FUTURE, "A review is as of today or an earlier day.", field)
    if as_of < date_min:
        raise DomainError(ErrorCode.OUT_OF_RANGE, f"{field} is too far in the past.", field)
    return as_of


_CHUNK = sa.text(
    "SELECT grade_review_chunk(:run_id, :as_of, :first, :before, :automatic, :downgrades, :grace_months, :earned,"
    " :today, :now, :years) AS figures"
).bindparams(sa.bindparam("automatic", type_=ARRAY(sa.Text)), sa.bindparam("earned", type_=ARRAY(sa.Text)))


# The date of the latest review that proposed, and the active grades without a national rule in force on a date.
_STANDING = sa.text(
    """SELECT (SELECT max(as_of) FROM grade_proposal) AS latest, ARRAY(
           SELECT g.code FROM grade g WHERE g.status = 'ACTIVE' AND NOT EXISTS (
               SELECT 1 FROM grade_rules_in_force(:as_of) r WHERE r.grade_code = g.code AND r.province_id IS NULL)
           ORDER BY g.rank) AS missing"""
)


@dataclass(frozen=True)
class GradeReviewJob:
    """The review as of a date as a job of the runner: chunks of customers by id."""

    kind: ClassVar[str] = GRADE_REVIEW_KIND
    as_of: date
    policy: GradePolicy = field(default_factory=GradePolicy)
    chunk_customers: int = chunk_customers_default
    workers: int = workers_default

    def __post_init__(self) -> None:
        review_date(self.as_of, clock.today())

    @property
    def subject(self) -> str:
        return self.as_of.isoformat()

    def under_way(self) -> DomainError:
        return DomainError(GradeErrorCode.GRADE_REVIEW_RUN_UNDER_WAY,
                           f"The review as of {self.subject} is under way already.", "as_of")  # fmt: skip

    async def total(self, session: AsyncSession) -> int | None:
        """The customers it reviews; refused when a review of another date is under way, when a grade has no
        national rule in force on the date (everyone would lose it), or when a review of a later date has proposed
        already (its proposals would stay open beside this one's: a review decides again going forward only)."""
        other = await jobs.other_under_way(session, self)
        if other is not None:  # its proposals would stay open beside this one's, whichever ended last
            raise DomainError(GradeErrorCode.GRADE_REVIEW_RUN_UNDER_WAY, f"The review as of {other} is under way: one"
                              " review at a time.", "as_of")  # fmt: skip
        latest, missing = (await session.execute(_STANDING, {"as_of": self.as_of})).one()
        if latest is not None and self.as_of < latest:
            raise DomainError(GradeErrorCode.LATER_REVIEW_DONE, f"A review as of {latest} has proposed already: review"
                              f" as of {latest} or later.", "as_of")  # fmt: skip
        if missing:
            message = f"No national rule of {', '.join(missing)} is in force on {self.as_of}: a review would take it"
            raise DomainError(GradeErrorCode.NO_RULES_IN_FORCE, message + " from everyone.", "as_of")
        return await session.scalar(sa.text(
            "SELECT count(*) FROM customer c WHERE EXISTS (SELECT 1 FROM account a WHERE a.customer_id = c.id)"
            " OR EXISTS (SELECT 1 FROM member m WHERE m.customer_id = c.id AND m.status <> 'ENDED')"))  # fmt: skip

    def parameters(self, run: Running) -> dict[str, Any]:
        """What every chunk's statement takes besides its range and time."""
        policy = self.policy
        return {
            "as_of": self.as_of, "run_id": run.record.id, "automatic": sorted(policy.automatic),
            "downgrades": policy.downgrades.value, "grace_months": policy.downgrade_grace_months,
            "earned": [e.value for e in EARNED], "years": policy.membership_years,
        }  # fmt: skip

    statement: ClassVar[Any] = _CHUNK

    async def settled(self, chunk: jobs.Chunk, figures: dict[str, Any], first: int) -> dict[str, int]:
        """What the statement of the chunk of customers from `first` leaves to do in its transaction; the figures
        it counts. The revocations it applied itself end their members' bookings and points with it, as every
        ending does: a run stopped after the chunk leaves none half done."""
        if figures["revoke"] and ProposalKind.REVOKE in self.policy.automatic:
            revoked = _revoked(GradeProposal.as_of == self.as_of, GradeProposal.decided_by.is_(None),
                               GradeProposal.customer_id >= first,
                               GradeProposal.customer_id < first + self.chunk_customers)  # fmt: skip
            await membership_ended(chunk.session, revoked, self.policy.points_end(self.as_of), chunk.uow.now)
        return figures

    async def carry_out(self, run: Running) -> dict[str, int]:
        """Every chunk of customer ids, `workers` at a time, each adding its figures to the run's record."""
        async with run.chunk() as setting_up:
            low, high = (await setting_up.session.execute(sa.text("SELECT min(id), max(id) FROM customer"))).one()
        chunks = range(low or 1, (high or 0) + 1, self.chunk_customers)
        parameters = self.parameters(run)

        async def review(chunk: jobs.Chunk, first: int) -> None:
            figures = await chunk.session.scalar(self.statement, parameters | {
                "first": first, "before": first + self.chunk_customers, "today": chunk.uow.today,
                "now": chunk.uow.now})  # fmt: skip
            chunk.count(**await self.settled(chunk, figures, first))

        await run.each(chunks, review, workers=self.workers)
        return {}


ANNUAL_REVIEW_KIND = "ANNUAL_REVIEW"
_ANNUAL_CHUNK = sa.text(
    "SELECT annual_review_chunk(:run_id, :as_of, :first, :before, :grace_months, :earned, :now) AS figures"
).bindparams(sa.bindparam("earned", type_=ARRAY(sa.Text)))


@dataclass(frozen=True)
class AnnualReviewJob(GradeReviewJob):
    """The annual review as of a date [G6]: members' validity and qualification, by chunks of customers."""

    kind: ClassVar[str] = ANNUAL_REVIEW_KIND
    statement: ClassVar[Any] = _ANNUAL_CHUNK

    def under_way(self) -> DomainError:
        return DomainError(GradeErrorCode.GRADE_REVIEW_RUN_UNDER_WAY,
                           f"The annual review as of {self.subject} is under way already.", "as_of")  # fmt: skip

    def parameters(self, run: Running) -> dict[str, Any]:
        return {"as_of": self.as_of, "run_id": run.record.id, "grace_months": self.policy.annual_grace_months,
                "earned": [e.value for e in EARNED]}  # fmt: skip

    async def settled(self, chunk: jobs.Chunk, figures: dict[str, Any], first: int) -> dict[str, int]:
        """The memberships the chunk ended leave their bookings and points as every ending does, at once."""
        ended = figures.pop("ended_members")
        until = self.policy.points_end(self.as_of)
        await membership_ended(chunk.session, ended, until, chunk.uow.now)
        return figures


async def annual_review(
    sessions: async_sessionmaker, as_of: date, policy: GradePolicy, *, chunk_customers: int = chunk_customers_default
) -> dict[str, Any]:
    """The annual review as of `as_of` to the end in this task (tests): its status and figures."""
    record = await JobRunner(sessions).run(AnnualReviewJob(as_of, policy, chunk_customers=chunk_customers))
    counted = ("members", "extended", "kept", "grace", "ended")
    return {"status": record.status, **{k: int(record.figures.get(k, 0)) for k in counted}}


FIGURES = ("customers", "proposals", "admit", "upgrade", "downgrade", "revoke", "suppressed", "in_grace", "applied")


@dataclass  # not frozen: the GraphQL layer marks the objects it returns with their type
class GradeReviewRun:
    """A review run as clients see it: its job record, read as an as-of date and its figures per kind."""

    id: int
    as_of: date
    status: JobStatus
    staff_id: int | None
    customers_total: int
    customers: int
    proposals: int
    admit: int
    upgrade: int
    downgrade: int
    revoke: int
    suppressed: int
    in_grace: int
    applied: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, record: JobRun) -> GradeReviewRun:
        assert record.kind == GRADE_REVIEW_KIND and record.id is not None and record.started_at is not None
        counted = {name: int(record.figures.get(name, 0)) for name in FIGURES}
        return cls(id=record.id, as_of=date.fromisoformat(record.subject), status=record.status,
                   staff_id=record.staff_id, customers_total=record.total or 0, error=record.error,
                   started_at=record.started_at, finished_at=record.finished_at, **counted)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class RunGradeReview(Command):  # the run's lock makes it once per as-of date at a time
    as_of: date | None = None  # today when left out


async def run_grade_review(uow: UnitOfWork, command: RunGradeReview) -> GradeReviewRun:
    """An administrator's review at headquarters; answers as soon as it is recorded, carried out in the background."""
    actor = await require_headquarters(uow.session, uow.principal, "Grade reviews are run")
    as_of = review_date(command.as_of, uow.today)
    job = GradeReviewJob(as_of, uow.policy(GradePolicy))
    runner = JobRunner(uow.sessions, hand_off=uow.background)
    return GradeReviewRun.of(await runner.start(job, staff_id=actor.staff_id))


async def review_grades(
    sessions: async_sessionmaker, as_of: date, policy: GradePolicy, *,
    chunk_customers: int = chunk_customers_default, workers: int = workers_default, progress: Progress | None = None,
) -> GradeReviewRun:  # fmt: skip
    """The review as of `as_of` to the end in this task (the command line, the bench, tests)."""
    job = GradeReviewJob(as_of, policy, chunk_customers=chunk_customers, workers=workers)
    return GradeReviewRun.of(await JobRunner(sessions).run(job, progress=progress))


async def runs(session: AsyncSession, principal: Principal, as_of: date | None = None) -> list[GradeReviewRun]:
    """The latest review runs (as of `as_of`, if given), newest first (headquarters administrators)."""
    await require_headquarters(session, principal, "Grade reviews are followed")
    subject = None if as_of is None else as_of.isoformat()
    return [GradeReviewRun.of(r) for r in await jobs.runs(session, GRADE_REVIEW_KIND, subject, limit=24)]


# --- proposals -------------------------------------------------------------------------------------


def _reviewer(principal: Principal) -> StaffPrincipal:
    return require_staff(principal, Permission.GRADE_REVIEW)


@dataclass(frozen=True, kw_only=True)
class ProposalFilter:
    kind: ProposalKind | None = None
    state: ProposalState | None = None
    branch_id: BranchId | None = None
    club_id: ClubId | None = None
    grade_from: str | None = None
    grade_to: str | None = None
    as_of: date | None = None


_REVIEWED, _HOME = aliased(Branch), aliased(Branch)


def _province(branch: Any) -> Any:
    return sa.func.substring(branch.path, PROVINCE_OF_PATH)


def _filtered(actor: StaffPrincipal, found: ProposalFilter) -> Any:
    """Proposals of the actor's subtree: a customer's reviewed there; a member's of a member who is there now,
    reviewed there or under the rules of the member's province (a membership moved to another city of the
    province since is that city's to decide; one moved to another province lapsed). Looked up by the member's
    key, proposal by proposal, never by reading the subtree's members. `branch_id`: proposals reviewed in that
    branch's subtree, as every list's."""
    subtree = subtree_branch_ids(actor.branch_path)
    province = re.match(PROVINCE_OF_PATH, actor.branch_path)  # every proposal the actor sees is reviewed in it
    member_here = sa.exists().where(
        Member.id == GradeProposal.member_id, Member.branch_id.in_(subtree), _HOME.id == Member.branch_id,
        _REVIEWED.id == GradeProposal.branch_id,
        GradeProposal.branch_id.in_(subtree) | (_province(_REVIEWED) == _province(_HOME)),
    )  # fmt: skip
    query = sa.select(GradeProposal).where(
        GradeProposal.branch_id.in_(subtree_branch_ids(province.group() if province else actor.branch_path)),
        (GradeProposal.member_id.is_(None) & GradeProposal.branch_id.in_(subtree)) | member_here,
    )
    if found.branch_id is not None:
        root = sa.select(Branch.path).where(Branch.id == found.branch_id).scalar_subquery()
        query = query.where(GradeProposal.branch_id.in_(branches_under(root)))
    for name in ("kind", "state", "club_id", "grade_from", "grade_to", "as_of"):
        value = getattr(found, name)
        if value is not None:
            query = query.where(getattr(GradeProposal, name) == value)
    return query


async def list_proposals(
    session: AsyncSession, principal: Principal, page: PageRequest, *, kind: str | None = None,
    state: str | None = None, branch_id: BranchId | None = None, club_id: ClubId | None = None,
    grade_from: str | None = None, grade_to: str | None = None, as_of: date | None = None,
) -> Page[GradeProposal]:  # fmt: skip
    """The review's proposals for customers of the caller's subtree, newest first (reviewers)."""
    actor = _reviewer(principal)
    found = ProposalFilter(kind=kind, state=state, branch_id=branch_id, club_id=club_id, grade_from=grade_from,
                           grade_to=grade_to, as_of=as_of)  # fmt: skip
    return await fetch_page(session, _filtered(actor, found), GradeProposal.id, page)


async def get_proposals_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[Any]:
    if not role_grants(principal, Permission.GRADE_REVIEW):
        return [None] * len(ids)
    assert isinstance(principal, StaffPrincipal)
    query = _filtered(principal, ProposalFilter()).where(GradeProposal.id.in_(ids))
    found = {p.id: p for p in await records(session, query)}
    return [found.get(i) for i in ids]


class Decision(StrEnum):
    APPROVE = "APPROVE"
    REJECT = "REJECT"


@dataclass(frozen=True, kw_only=True)
class DecideGradeProposal(Command):
    id: GradeProposalId | None
    decision: Decision
    reason: str


@dataclass(frozen=True, kw_only=True)
class DecideGradeProposals(Command):
    """Every PENDING proposal the filter matches in the caller's subtree, all or none, up to `decisions_max`."""

    filter: ProposalFilter
    decision: Decision
    reason: str


@dataclass
class Decided:
    count: int


_APPLY = sa.text("SELECT grade_apply(:ids, :staff, NULL, :reason, :today, :now, :years)").bindparams(
    sa.bindparam("ids", type_=ARRAY(sa.BigInteger))
)


def _revoked(*where: Any) -> sa.Select:
    """The members whose revocations (among those `where` picks) were applied: their memberships ended."""
    return sa.select(GradeProposal.member_id).where(
        GradeProposal.kind == ProposalKind.REVOKE, GradeProposal.state == ProposalState.APPLIED, *where
    )


async def _decide(uow: UnitOfWork, actor: StaffPrincipal, ids: list[int], decision: Decision, reason: str,
                  revoking: bool = True) -> int:  # fmt: skip
    """`revoking`: whether a revocation may be among them (its member's points then end too)."""
    if decision == Decision.APPROVE:
        policy = uow.policy(GradePolicy)
        applied = await uow.session.scalar(_APPLY, {"ids": ids, "staff": actor.staff_id, "reason": reason,
                                                    "today": uow.today, "now": uow.now,
                                                    "years": policy.membership_years})  # fmt: skip
        if revoking:
            until = policy.points_end(uow.today)
            await membership_ended(uow.session, _revoked(GradeProposal.id.in_(ids)), until, uow.now)
        return applied
    rejected = await uow.session.execute(
        sa.update(GradeProposal)
        .where(GradeProposal.id.in_(ids), GradeProposal.state == ProposalState.PENDING)
        .values(state=ProposalState.REJECTED, decided_by=actor.staff_id, decided_at=uow.now, reason=reason)
    )
    return rejected.rowcount


def _reason(reason: Any) -> str:
    check = Checker()
    text = check.text("reason", reason, length_max=note_length_max, required=True)
    check.raise_if_any()
    assert text is not None
    return text


async def decide_grade_proposal(uow: UnitOfWork, command: DecideGradeProposal) -> GradeProposal:
    """Approve (apply) or reject one PENDING proposal of the caller's subtree, with a reason. An approved
    proposal whose member changed since the review LAPSES instead."""
    actor = _reviewer(uow.principal)
    reason = _reason(command.reason)
    query = _filtered(actor, ProposalFilter()).where(GradeProposal.id == command.id).with_for_update()
    proposal = (await uow.session.scalars(query)).first() if command.id else None
    if proposal is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such proposal in your scope.", "id")
    if proposal.state != ProposalState.PENDING:
        raise DomainError(GradeErrorCode.PROPOSAL_DECIDED, f"The proposal is {proposal.state}.", "id")
    await _decide(uow, actor, [proposal.id], Decision(command.decision), reason, proposal.kind == ProposalKind.REVOKE)
    await uow.session.refresh(proposal)
    return proposal


async def decide_grade_proposals(uow: UnitOfWork, command: DecideGradeProposals) -> Decided:
    actor = _reviewer(uow.principal)
    reason = _reason(command.reason)
    if command.filter.state not in (None, ProposalState.PENDING):
        raise DomainError(GradeErrorCode.PROPOSAL_DECIDED, "Only PENDING proposals are decided.", "filter.state")
    query = _filtered(actor, command.filter).where(GradeProposal.state == ProposalState.PENDING)
    ids = list(await uow.session.scalars(
        sa.select(GradeProposal.id).where(GradeProposal.id.in_(query.with_only_columns(GradeProposal.id)))
        .order_by(GradeProposal.id).limit(decisions_max + 1).with_for_update()
    ))  # fmt: skip
    if not ids:
        raise DomainError(GradeErrorCode.NOTHING_MATCHES, "No PENDING proposal matches the filter.", "filter")
    if len(ids) > decisions_max:
        raise DomainError(GradeErrorCode.TOO_MANY_MATCHES, f"More than {decisions_max} proposals match: narrow the"
                          " filter.", "filter")  # fmt: skip
    return Decided(count=await _decide(uow, actor, ids, Decision(command.decision), reason))


_DECISIONS = sa.text(
    "SELECT customer_id, member_id, grade_from, grade_to, rule_id, figures FROM grade_decisions("
    " CAST(:customer AS bigint), CAST(:customer AS bigint) + 1, :as_of, :earned)"
).bindparams(sa.bindparam("earned", type_=ARRAY(sa.Text)))
_RULES = sa.text(
    """SELECT r.id, r.grade_code, r.rank, r.province_id, r.window_months, r.alternatives,
              to_jsonb(f) - 'customer_id' AS figures
       FROM grade_rules_in_force(:as_of) r
       JOIN grade_figures(CAST(:customer AS bigint), CAST(:customer AS bigint) + 1, :as_of, ARRAY[r.window_months],
                          :earned) f ON true
       WHERE r.province_id IS NULL OR r.province_id = branch_province(:branch)
       ORDER BY r.rank, r.province_id IS NULL"""
).bindparams(sa.bindparam("earned", type_=ARRAY(sa.Text)))


async def decision_for(session: AsyncSession, customer_id: int, as_of: date) -> dict[str, Any] | None:
    """What the review would decide for one customer today: grade_to, rule_id, figures (None: not reviewed)."""
    row = (await session.execute(_DECISIONS, {"customer": customer_id, "as_of": as_of,
                                              "earned": [e.value for e in EARNED]})).mappings().first()  # fmt: skip
    return dict(row) if row else None


async def rules_with_figures(session: AsyncSession, customer_id: int, branch_id: int, as_of: date) -> list[Any]:
    """Each rule in force that applies to the customer (their province's override first), with their figures
    over its window: what staff look at before changing a grade, and what a member's progress reads."""
    rows = await session.execute(_RULES, {"customer": customer_id, "branch": branch_id, "as_of": as_of,
                                          "earned": [e.value for e in EARNED]})  # fmt: skip
    seen, applicable = set(), []
    for row in rows.mappings():
        if row["grade_code"] not in seen:  # the province's rule replaces the national one
            seen.add(row["grade_code"])
            applicable.append(row)
    return applicable
