"""Pre-booked automatic redemption [R3]: a member (or staff for them) books a monthly conversion of points into
minutes, content or bill credit; a monthly run carries out every active booking of its month.

Each booking runs once per month (`auto_redemption_execution`): a normal redemption of the BOOKING channel
(its ledger entry, line and fulfilment), or a skip recorded with the code of the check it failed, so a run
never fails for one member's sake. A month skipped for a reason that may pass within it (`RETRIED_REASONS`) is
tried again by the month's later runs while it lasts (the month is run daily): the execution keeps the last
try. The run is a job of the job runner (the month's lock, its record, figures per chunk), cut into chunks of
bookings by id, each chunk one statement (`auto_redeem_chunk`, migration 0013) in one transaction: resumable
after a crash, flat in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import clock
from domain.access import MemberPrincipal, Permission, Principal, StaffPrincipal, require_authenticated, require_staff
from domain.columns import records
from domain.errors import AccessDenied, DomainError, ErrorCode
from domain.members import states
from domain.members.service import member_in_scope
from domain.members.states import MemberOperation, rules_for
from domain.members.tables import Member, MemberStatus
from domain.points.bills import month as parse_month
from domain.points.bills import next_month
from domain.points.rules import require_headquarters
from domain.redemption import queries
from domain.redemption.catalogue import NEVER, require_member_reader, reward_booked
from domain.redemption.errors import RedemptionErrorCode
from domain.redemption.redeem import figures_max, quantity_max
from domain.redemption.tables import (
    DELIVERED_KINDS,
    AutoRedemption,
    BookingStatus,
    ItemStatus,
)
from domain.work import jobs
from domain.work.commands import AutoRedemptionId, Command, Idempotent, MemberId, RewardItemId
from domain.work.jobs import JobRunner, Progress, Running
from domain.work.tables import JobRun, JobStatus
from domain.work.unit import UnitOfWork

AUTO_REDEMPTION_KIND = "AUTO_REDEMPTION"
chunk_bookings_default = 10_000
workers_default = 2
booking_id_max = 2**63 - 1
bookings_listed_max = 100
executions_listed_max = 24
# The skips a later run of the month tries again: reasons that may pass within it (as migration 0056 has them).
RETRIED_REASONS = ("INSUFFICIENT_POINTS", "BELOW_MINIMUM_BALANCE", "DAILY_LIMIT_REACHED", "NO_BILLING_ACCOUNT",
                   "PRICE_CHANGED")  # fmt: skip


def first_day_of(day: date) -> date:
    return day.replace(day=1)


def _require_booker(principal: Principal) -> MemberPrincipal | StaffPrincipal:
    require_authenticated(principal)
    if isinstance(principal, MemberPrincipal):
        return principal
    return require_staff(principal, Permission.REDEMPTION_SERVE)


@dataclass(frozen=True, kw_only=True)
class BookAutoRedemption(Idempotent):
    item_id: RewardItemId | None
    quantity: int
    start_month: date  # its first day
    end_month: date | None = None
    member_id: MemberId | None = None  # staff name the member; a member books for themselves

    def authorize(self, principal: Principal) -> None:
        _require_booker(principal)


async def book_auto_redemption(uow: UnitOfWork, command: BookAutoRedemption) -> AutoRedemption:
    """Book a monthly conversion from `start_month` (this month or later) to `end_month` (open when left out)."""
    caller = _require_booker(uow.principal)
    if command.quantity is None or not 1 <= command.quantity <= quantity_max:
        raise DomainError(ErrorCode.OUT_OF_RANGE, f"quantity must be between 1 and {quantity_max}.", "quantity")
    if command.start_month < first_day_of(uow.today):
        raise DomainError(ErrorCode.OUT_OF_RANGE, "A booking starts this month or later.", "start_month")
    if command.end_month is not None and command.end_month < command.start_month:
        raise DomainError(ErrorCode.INVALID, "end_month must not be before start_month.", "end_month")
    member = await _member_of(uow, caller, command.member_id)
    _require_spending(member, uow.today)
    member_id = member.id
    first = max(command.start_month, uow.today)
    last = NEVER if command.end_month is None else next_month(command.end_month) - timedelta(days=1)
    # Kept as it is while the booking is made: a retirement that ends the reward's bookings waits for this one.
    seen = await reward_booked(uow.session, caller, member, command.item_id, (first, last))
    if seen is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such reward.", "item_id")
    item, at_home = seen.item, seen.at_home
    if item.kind not in DELIVERED_KINDS:
        raise DomainError(RedemptionErrorCode.ITEM_KIND_NOT_OFFERED, "A booking converts points into minutes,"
                          " content or bill credit.", "item_id")  # fmt: skip
    if item.status != ItemStatus.ACTIVE:
        raise DomainError(RedemptionErrorCode.ITEM_NOT_ACTIVE, f"{item.name} is {item.status}.", "item_id")
    if not at_home:
        raise DomainError(RedemptionErrorCode.ITEM_NOT_IN_SCOPE, f"{item.name} is offered in another province"
                          " only.", "item_id")  # fmt: skip
    if not seen.grade_allowed:  # no month's run could carry it out, unless the member's grade changes
        raise DomainError(RedemptionErrorCode.GRADE_NOT_ALLOWED, f"{item.name} is not offered to"
                          f" {member.grade_code} members in the months booked.", "item_id")  # fmt: skip
    for limit, code, per in ((item.daily_limit, RedemptionErrorCode.DAILY_LIMIT_REACHED, "a day"),
                             (item.monthly_limit, RedemptionErrorCode.MONTHLY_LIMIT_REACHED, "a month")):  # fmt: skip
        if limit is not None and command.quantity > limit:  # no month's run could ever carry it out
            raise DomainError(code, f"A member redeems at most {limit} of {item.name} {per}.", "quantity")
    unit = max(item.points_price, item.benefit_amount or 0)  # points, fen or minutes: each held as a redemption's
    if unit * command.quantity > figures_max:
        raise DomainError(ErrorCode.OUT_OF_RANGE, f"At most {figures_max // unit} of {item.name} in one redemption.",
                          "quantity")  # fmt: skip
    booking = AutoRedemption(member_id=member_id, item_id=item.id, quantity=command.quantity,
                             unit_points=item.points_price,
                             start_month=command.start_month, end_month=command.end_month,
                             status=BookingStatus.ACTIVE,
                             staff_id=caller.staff_id if isinstance(caller, StaffPrincipal) else None)  # fmt: skip
    uow.session.add(booking)
    await uow.session.flush()
    return booking


async def _member_of(uow: UnitOfWork, caller: MemberPrincipal | StaffPrincipal, member_id: int | None) -> Member:
    if isinstance(caller, MemberPrincipal):
        if member_id is not None and member_id != caller.member_id:
            raise DomainError(ErrorCode.NOT_FOUND, "No such member in your scope.", "member_id")
        # FOR SHARE: an ending under way (it holds the member, then ends their bookings) is waited for and seen, and
        # one that starts meanwhile waits for this booking, and ends it too
        member = await uow.session.get(Member, caller.member_id, with_for_update={"read": True})
        assert member is not None
        return member
    if member_id is None:
        raise DomainError(ErrorCode.REQUIRED, "Name the member you book for.", "member_id")
    return await member_in_scope(uow.session, caller, member_id, "member_id")


def _require_spending(member: Member, today: date, field: str = "member_id") -> None:
    """A booking is made or resumed for a membership that may spend today, as every redemption is (its run checks
    it each month)."""
    states.require(member.status, MemberOperation.SPEND, field)
    if member.status == MemberStatus.GRACE and member.grace_ends_on is not None and member.grace_ends_on <= today:
        raise DomainError(RedemptionErrorCode.MEMBERSHIP_EXPIRED, f"The membership's grace ended on"
                          f" {member.grace_ends_on}.", field)  # fmt: skip
    if member.status != MemberStatus.GRACE and member.valid_until < today:
        raise DomainError(RedemptionErrorCode.MEMBERSHIP_EXPIRED, f"The membership was valid until"
                          f" {member.valid_until}.", field)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class ChangeBooking(Idempotent):
    id: AutoRedemptionId | None

    def authorize(self, principal: Principal) -> None:
        _require_booker(principal)


class PauseAutoRedemption(ChangeBooking):
    """An active booking skips its months until resumed."""


class ResumeAutoRedemption(ChangeBooking):
    """A paused booking runs again from this month: a month it was paused at the end of (paused in it or before,
    resumed after it) is never charged, even by that month's run made late. Only the last pause is remembered (one
    made in the month the booking was resumed in joins the one before)."""


class CancelAutoRedemption(ChangeBooking):
    """A booking ends for good; its executions stay."""


# (the states a change applies to, the state it leaves, the refusal of every other state)
_CHANGES = {
    PauseAutoRedemption: ({BookingStatus.ACTIVE}, BookingStatus.PAUSED, RedemptionErrorCode.BOOKING_NOT_ACTIVE),
    ResumeAutoRedemption: ({BookingStatus.PAUSED}, BookingStatus.ACTIVE, RedemptionErrorCode.BOOKING_NOT_PAUSED),
    CancelAutoRedemption: (
        {BookingStatus.ACTIVE, BookingStatus.PAUSED}, BookingStatus.CANCELLED, RedemptionErrorCode.BOOKING_CANCELLED,
    ),
}  # fmt: skip


async def _change(uow: UnitOfWork, command: ChangeBooking) -> AutoRedemption:
    caller = _require_booker(uow.principal)
    booking = await uow.session.get(AutoRedemption, command.id, with_for_update=True) if command.id else None
    member: Member | None = None
    if booking is not None and isinstance(caller, StaffPrincipal):
        try:
            # the member unlocked: an ending locks the member, then the bookings (`membership_ended`)
            member = await member_in_scope(uow.session, caller, booking.member_id, "id", lock=False)
        except DomainError:
            booking = None
    if booking is None or isinstance(caller, MemberPrincipal) and booking.member_id != caller.member_id:
        raise DomainError(ErrorCode.NOT_FOUND, "No such booking in your scope.", "id")
    applies_to, to, refusal = _CHANGES[type(command)]
    if booking.status == BookingStatus.CANCELLED:
        refusal = RedemptionErrorCode.BOOKING_CANCELLED
    if booking.status not in applies_to:
        raise DomainError(refusal, f"The booking is {booking.status}.", "id")
    if to == BookingStatus.ACTIVE:  # resumed: as if booked again
        member = member or await uow.session.get(Member, booking.member_id)
        assert member is not None
        _require_spending(member, uow.today, "id")
        booking.resumed_month = first_day_of(uow.today)  # the months it was paused at the end of are skipped
    elif to == BookingStatus.PAUSED and booking.resumed_month != first_day_of(uow.today):
        booking.paused_month = first_day_of(uow.today)  # paused again in the month it was resumed in: one pause
    booking.status, booking.updated_at = to, uow.now
    await uow.session.flush()
    return booking


async def pause_auto_redemption(uow: UnitOfWork, command: PauseAutoRedemption) -> AutoRedemption:
    return await _change(uow, command)


async def resume_auto_redemption(uow: UnitOfWork, command: ResumeAutoRedemption) -> AutoRedemption:
    return await _change(uow, command)


async def cancel_auto_redemption(uow: UnitOfWork, command: CancelAutoRedemption) -> AutoRedemption:
    return await _change(uow, command)


# --- the monthly run -------------------------------------------------------------------------------


def started_month(first_day: date, today: date) -> date:
    """`first_day` when its month has begun by `today`: a month's bookings run from its first day."""
    if first_day.day != 1 or first_day > today:
        raise DomainError(RedemptionErrorCode.MONTH_NOT_STARTED, f"{first_day:%Y-%m} has not begun.", "month")
    return first_day


_CHUNK = sa.text("SELECT auto_redeem_chunk(:month, :first, :before, :today, :states, :run_id) AS figures").bindparams(
    sa.bindparam("states", type_=JSONB)
)

_DUE = """FROM auto_redemption b
          WHERE b.status = 'ACTIVE' AND b.start_month <= :month
            AND NOT coalesce(b.paused_month <= :month AND :month < b.resumed_month, false)
            AND coalesce(b.end_month, DATE '9999-12-01') >= :month
            AND NOT EXISTS (SELECT 1 FROM auto_redemption_execution x WHERE x.booking_id = b.id AND x.month = :month
                            AND (x.outcome = 'REDEEMED' OR NOT :retrying OR x.reason <> ALL(:retried)))"""

# The first booking id of each chunk of `:size` due bookings.
_CHUNK_STARTS = sa.text(
    f"""SELECT id FROM (SELECT b.id, row_number() OVER (ORDER BY b.id) AS n {_DUE}) AS due
        WHERE (n - 1) % :size = 0 ORDER BY id"""
)


@dataclass(frozen=True)
class AutoRedemptionJob:
    """The bookings of a month as a job of the runner: chunks of bookings, resumed by their executions."""

    kind: ClassVar[str] = AUTO_REDEMPTION_KIND
    month: date  # its first day
    chunk_bookings: int = chunk_bookings_default
    workers: int = workers_default

    def __post_init__(self) -> None:
        started_month(self.month, clock.today())

    @property
    def subject(self) -> str:
        return f"{self.month:%Y-%m}"

    def under_way(self) -> DomainError:
        return DomainError(RedemptionErrorCode.AUTO_REDEMPTION_RUN_UNDER_WAY,
                           f"The bookings' run of {self.subject} is under way already.", "month")  # fmt: skip

    async def total(self, session: AsyncSession) -> int | None:
        return await session.scalar(sa.text(f"SELECT count(*) {_DUE}"), self._due(clock.today()))

    def _due(self, today: date) -> dict[str, Any]:
        """The month's bookings not yet run, and, while the month lasts, those skipped for a reason that may pass
        within it (a run tries them again: `auto_redeem_chunk`, migration 0056)."""
        return {"month": self.month, "retrying": today < next_month(self.month), "retried": list(RETRIED_REASONS)}

    async def carry_out(self, run: Running) -> dict[str, int]:
        """Every due booking of the month, `workers` chunks at a time (each locks its members' balances in
        member order, so chunks never deadlock), each adding its figures to the run's record."""
        today = clock.today()
        async with run.chunk() as setting_up:
            starts = list(
                await setting_up.session.scalars(_CHUNK_STARTS, self._due(today) | {"size": self.chunk_bookings})
            )
        states = rules_for(MemberOperation.SPEND)

        async def redeem(chunk: jobs.Chunk, bounds: tuple[int, int]) -> None:
            first, before = bounds
            figures = await chunk.session.scalar(_CHUNK, {"month": self.month, "first": first, "before": before,
                                                          "today": today, "states": states,
                                                          "run_id": run.record.id})  # fmt: skip
            chunk.count(bookings=figures["redeemed"] + figures["skipped"], **figures)

        await run.each(pairwise([*starts, booking_id_max]), redeem, workers=self.workers)
        return {}


FIGURES = ("bookings", "redeemed", "skipped", "points")


@dataclass  # not frozen: the GraphQL layer marks the objects it returns with their type
class AutoRedemptionRun:
    """A run of a month's bookings as clients see it: its job record, read as a month and its figures."""

    id: int
    month: date
    status: JobStatus
    staff_id: int | None
    bookings_total: int
    bookings: int
    redeemed: int
    skipped: int
    points: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, record: JobRun) -> AutoRedemptionRun:
        assert record.kind == AUTO_REDEMPTION_KIND and record.id is not None and record.started_at is not None
        counted = {name: int(record.figures.get(name, 0)) for name in FIGURES}
        return cls(id=record.id, month=parse_month(record.subject), status=record.status, staff_id=record.staff_id,
                   bookings_total=record.total or 0, error=record.error, started_at=record.started_at,
                   finished_at=record.finished_at, **counted)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class RunAutoRedemption(Command):  # the run's lock makes it once per month at a time
    month: date


async def run_auto_redemption(uow: UnitOfWork, command: RunAutoRedemption) -> AutoRedemptionRun:
    """An administrator's run at headquarters of a month that has begun; answers as soon as it is recorded
    and is carried out in the background."""
    actor = await require_headquarters(uow.session, uow.principal, "Booked redemptions are run")
    first_day = started_month(command.month, uow.today)
    runner = JobRunner(uow.sessions, hand_off=uow.background)
    return AutoRedemptionRun.of(await runner.start(AutoRedemptionJob(first_day), staff_id=actor.staff_id))


async def auto_redeem_month(
    sessions: async_sessionmaker, month: date, *, chunk_bookings: int = chunk_bookings_default,
    workers: int = workers_default, progress: Progress | None = None,
) -> AutoRedemptionRun:  # fmt: skip
    """Run `month`'s bookings to the end in this task (the command line, the bench, tests)."""
    job = AutoRedemptionJob(month, chunk_bookings=chunk_bookings, workers=workers)
    return AutoRedemptionRun.of(await JobRunner(sessions).run(job, progress=progress))


async def runs(session: AsyncSession, principal: Principal, month: date | None = None) -> list[AutoRedemptionRun]:
    """The latest runs (of `month`, if given), newest first (headquarters administrators)."""
    await require_headquarters(session, principal, "Booked redemptions' runs are followed")
    subject = None if month is None else f"{month:%Y-%m}"
    return [AutoRedemptionRun.of(r) for r in await jobs.runs(session, AUTO_REDEMPTION_KIND, subject, limit=24)]


async def runs_by_id(session: AsyncSession, principal: Principal, ids: list[int]) -> list[AutoRedemptionRun | None]:
    try:
        await require_headquarters(session, principal)
    except AccessDenied:
        return [None for _ in ids]
    found = await jobs.runs_by_id(session, AUTO_REDEMPTION_KIND, ids)
    return [None if r is None else AutoRedemptionRun.of(r) for r in found]


# --- reads -----------------------------------------------------------------------------------------


async def member_bookings(session: AsyncSession, principal: Principal, member_id: int) -> list[AutoRedemption]:
    """A member's bookings, newest first: the member's own, or a member's of the caller's subtree."""
    await require_member_reader(session, principal, member_id)
    query = (
        sa.select(AutoRedemption)
        .where(AutoRedemption.member_id == member_id)
        .order_by(AutoRedemption.id.desc())
        .limit(bookings_listed_max)
    )
    return await records(session, query)


async def get_bookings_scoped(session: AsyncSession, principal: Principal, ids: list[int]) -> list[Any]:
    """Bookings by id for `node(id:)`: the member's own; staff those of members of their subtree."""
    return await queries.scoped(session, principal, AutoRedemption, ids, AutoRedemption.member_id,
                                lambda actor: queries.of_subtree(actor, AutoRedemption.member_id))  # fmt: skip
