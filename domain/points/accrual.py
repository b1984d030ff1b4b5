"""The monthly points run [P3]: every paid bill of a month earns its member points.

For each bill: consumption points = yuan actually paid × points per yuan × the multiplier of the grade
the member held when the month ended (rounded down), where a payment above the bill counts as the bill (an
overpayment is a credit the billing system carries into the next month, and earns nothing more); an on-time
bonus when paid in full by the due date; a tenure bonus per full year in the network (since the
customer's first account opened). A late or unpaid
bill costs a percentage of the member's points instead of the on-time bonus: taken once every bill of the run
has earned, each late bill the percentage of the same balance, so that a penalty never depends on how the month
was cut into chunks. Entries take effect on the first day after the billing month, so their validity counts from
then.

The run works in committed chunks of bills, each written set-based by a few statements (see
`docs/benchmarks.md` for why), then in committed chunks of the members whose late bills wait for their penalty.
A bill is claimed in `accrual` in the same transaction as its entries (a late one marked `penalty_due` until its
penalty is taken), so running a month twice changes nothing, and a run that stopped half way resumes
where it stopped. Memory stays flat: one chunk at a time. The run of a month is a job of the
job runner (`domain/work/jobs.py`: the month's lock, its record in `job_run`, figures per chunk,
how it ended), so that the API can answer once it is recorded and leave the rest to a background
task.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from itertools import pairwise
from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import clock
from domain.access import Principal
from domain.errors import AccessDenied, DomainError, ErrorCode
from domain.members.states import earning
from domain.members.tables import MemberStatus
from domain.points import rules
from domain.points.bills import ACCRUAL_KIND, billing_month_min, finished, next_month
from domain.points.bills import month as parse_month
from domain.points.errors import PointsErrorCode
from domain.points.tables import Accrual, Bill, PointsRule, RuleKind
from domain.work import jobs
from domain.work.commands import Command
from domain.work.jobs import JobRunner, Progress, Running
from domain.work.tables import JobRun, JobStatus
from domain.work.unit import UnitOfWork

# The bills of a suspended member are left for a run of their month after the suspension ends: a suspended member
# earns nothing, and a bill is claimed once (one claimed with nobody to earn it would be lost for good).
WAITING = [MemberStatus.SUSPENDED.value]
chunk_bills_default = 10_000
workers_default = 2
bill_id_max = 2**63 - 1


@dataclass(frozen=True)
class Rates:
    points_per_yuan: Decimal
    multipliers: dict[str, Decimal]
    on_time_bonus: int
    tenure_bonus_per_year: int
    late_penalty_percent: Decimal

    @classmethod
    def of(cls, in_force: list[PointsRule]) -> Rates:
        by_kind: dict[RuleKind, Decimal] = {r.kind: r.value for r in in_force if r.grade_code is None}
        return cls(
            points_per_yuan=by_kind.get(RuleKind.POINTS_PER_YUAN, Decimal(0)),
            multipliers={r.grade_code: r.value for r in in_force if r.kind == RuleKind.GRADE_MULTIPLIER},
            on_time_bonus=int(by_kind.get(RuleKind.ON_TIME_BONUS, 0)),
            tenure_bonus_per_year=int(by_kind.get(RuleKind.TENURE_BONUS_PER_YEAR, 0)),
            late_penalty_percent=by_kind.get(RuleKind.LATE_PENALTY_PERCENT, Decimal(0)),
        )


@dataclass(frozen=True)
class Chunk:
    bills: int
    points: int


# The bill of a suspended member waits for a run after the suspension (`WAITING`).
NOT_WAITING = """NOT EXISTS (SELECT 1 FROM account a JOIN member s ON s.customer_id = a.customer_id
                        WHERE a.id = b.account_id AND s.status::text = ANY(:waiting) AND s.joined_on <= :month_end)"""
# A bill is accrued once it is paid in full, or once its due date has passed: one not yet due and not
# paid in full is left for a later run of its month, which picks it up (a bill is claimed only when it
# is accrued, and it may be replaced until then). A bill of 0 fen needs no payment.
SETTLED_OR_DUE = "(b.amount_paid_fen >= b.amount_billed_fen OR b.due_date < :today)"

# A chunk of the month's bills in one statement: claim them, compute what each earns under
# the rates (consumption = paid yuan × points per yuan × the grade's multiplier, rounded down;
# the on-time bonus; the tenure bonus per full year since the customer's first account), fill
# one lot per member, write one entry per bill and type, and add the totals to the balances
# (locked in member order, so two runs never deadlock).
_EARN_SQL = (
    """
WITH bills AS (  -- the chunk's bills not claimed yet; every lookup below is by key, never a scan
    SELECT b.id, b.amount_paid_fen, b.amount_billed_fen, b.due_date, b.paid_date,
           (SELECT a.customer_id FROM account a WHERE a.id = b.account_id) AS customer_id
    FROM bill b
    WHERE b.billing_month = :month AND b.id >= :first AND b.id < :before
      AND NOT EXISTS (SELECT 1 FROM accrual x WHERE x.bill_id = b.id AND x.bill_id >= :first AND x.bill_id < :before)
      AND """
    + NOT_WAITING
    + """
      AND """
    + SETTLED_OR_DUE
    + """
), facts AS (
    SELECT b.id AS bill_id, m.id AS member_id, least(b.amount_paid_fen, b.amount_billed_fen) AS paid,
           (b.amount_paid_fen < b.amount_billed_fen OR b.paid_date > b.due_date) AS late,
           coalesce(g.multiplier, 1) AS multiplier,
           (SELECT min(a.opened_on) FROM account a WHERE a.customer_id = b.customer_id) AS since
    FROM bills b
    LEFT JOIN LATERAL (SELECT id,  -- a member earns on the months since they joined, as the grade held then
                              coalesce((SELECT c.grade_from FROM grade_change c  -- the grade the month ended in
                                        WHERE c.member_id = member.id AND c.changed_at >= :month_over
                                        ORDER BY c.id LIMIT 1), grade_code) AS grade_code
                       FROM member
                       WHERE customer_id = b.customer_id AND status::text = ANY(:earning) AND joined_on <= :month_end
                       LIMIT 1) AS m ON true
    LEFT JOIN unnest(CAST(:grades AS text[]), CAST(:multipliers AS numeric[])) AS g(code, multiplier)
        ON g.code = m.grade_code
), earnings AS (
    SELECT f.bill_id, f.member_id, e.entry_type, e.points
    FROM facts f CROSS JOIN LATERAL (VALUES
        ('CONSUMPTION', CAST(div(f.paid * CAST(:per_yuan AS numeric) * f.multiplier, 100) AS bigint)),
        ('BONUS_ON_TIME', CASE WHEN f.late THEN 0 ELSE CAST(:on_time AS bigint) END),
        ('BONUS_TENURE', CAST(:tenure AS bigint)
                         * greatest(CAST(extract(year FROM age(:month_end, f.since)) AS bigint), 0))
    ) AS e(entry_type, points)
    WHERE f.member_id IS NOT NULL AND e.points > 0
), claimed AS (  -- no other run of the month is under way (the job runner holds its lock)
    INSERT INTO accrual (bill_id, member_id, points, penalty_due)
    SELECT f.bill_id, f.member_id, coalesce(e.points, 0), f.late IS TRUE AND f.member_id IS NOT NULL AND :penalising
    FROM facts f LEFT JOIN (SELECT bill_id, sum(points) AS points FROM earnings GROUP BY bill_id) e
        ON e.bill_id = f.bill_id
    RETURNING bill_id
), earned AS (
    SELECT e.* FROM earnings e JOIN claimed c ON c.bill_id = e.bill_id
), lots AS (
    INSERT INTO points_lot (member_id, amount, remaining, earned_on, expires_on)
    SELECT member_id, sum(points), sum(points), :awarded_on, :expires_on FROM earned GROUP BY member_id
    RETURNING id, member_id
), entries AS (
    INSERT INTO ledger_transaction (member_id, entry_type, account, points, effective_on, reason, bill_id, lot_id)
    SELECT e.member_id, e.entry_type, 'ISSUANCE', e.points, :awarded_on, :reason, e.bill_id, l.id
    FROM earned e JOIN lots l ON l.member_id = e.member_id
), balances AS (
    INSERT INTO points_balance (member_id, posted)
    SELECT f.member_id, coalesce(sum(e.points), 0)
    FROM facts f JOIN claimed c ON c.bill_id = f.bill_id LEFT JOIN earned e ON e.bill_id = f.bill_id
    WHERE f.member_id IS NOT NULL
    GROUP BY f.member_id ORDER BY f.member_id
    ON CONFLICT (member_id) DO UPDATE
        SET posted = points_balance.posted + excluded.posted, updated_at = now()
)
SELECT (SELECT count(*) FROM claimed), (SELECT coalesce(sum(points), 0) FROM earned)
"""
)


async def _earn(session: AsyncSession, month: date, bills: range, rates: Rates, expires_on: date, today: date) -> Chunk:
    month_end = next_month(month) - timedelta(days=1)
    row = (
        await session.execute(
            sa.text(_EARN_SQL),
            {
                "month": month,
                "today": today,
                "earning": earning(),
                "waiting": WAITING,
                "first": bills.start,
                "before": bills.stop,
                "grades": list(rates.multipliers),
                "multipliers": list(rates.multipliers.values()),
                "per_yuan": rates.points_per_yuan,
                "on_time": rates.on_time_bonus,
                "tenure": rates.tenure_bonus_per_year,
                "penalising": rates.late_penalty_percent > 0,
                "month_end": month_end,
                "month_over": datetime.combine(month_end + timedelta(days=1), time.min, tzinfo=clock.zone),
                "awarded_on": month_end + timedelta(days=1),
                "expires_on": expires_on,
                "reason": f"Bill of {month:%Y-%m}",
            },
        )
    ).one()
    return Chunk(row[0], int(row[1]))


# The members of a month's late bills whose penalties are due (every bill of the run has earned).
_PENALTY_DUE_SQL = """
SELECT DISTINCT x.member_id FROM accrual x JOIN bill b ON b.id = x.bill_id
WHERE x.penalty_due AND b.billing_month = :month ORDER BY x.member_id
"""
# A chunk of those members' late bills, their penalties taken in this transaction.
_LATE_SQL = """
UPDATE accrual x SET penalty_due = false, penalised_at = now() FROM bill b
WHERE x.penalty_due AND x.member_id = ANY(CAST(:members AS bigint[])) AND b.id = x.bill_id AND b.billing_month = :month
RETURNING x.bill_id, x.member_id
"""
# Those members' balances, locked in member order (as every chunk locks them) until the penalties are written;
# then what each may lose, read after the lock (a statement of its own, which sees what committed meanwhile): what
# they may spend on the day the penalties are taken.
_BALANCES_LOCKED_SQL = """
SELECT 1 FROM points_balance WHERE member_id = ANY(CAST(:members AS bigint[])) ORDER BY member_id FOR UPDATE
"""
_AVAILABLE_SQL = """
SELECT member_id, posted - held - points_expired(member_id, :spent_on) FROM points_balance
WHERE member_id = ANY(CAST(:members AS bigint[]))
"""
# Penalties of a chunk of members: per member, one PENALTY entry of the chosen points (each late bill costs
# a percentage of the balance after the month's earnings, together never more than the
# balance), drawn from the soonest-expiring lots still valid when taken (`spent_on`) by a running sum.
_PENALTY_SQL = """
WITH need AS (
    SELECT p.member_id, least(p.points, b.posted - b.held - points_expired(p.member_id, :spent_on)) AS points,
           p.reason
    FROM unnest(CAST(:members AS bigint[]), CAST(:points AS bigint[]), CAST(:reasons AS text[]))
         AS p(member_id, points, reason)
    JOIN points_balance b ON b.member_id = p.member_id
    WHERE least(p.points, b.posted - b.held - points_expired(p.member_id, :spent_on)) > 0
), tx AS (
    INSERT INTO ledger_transaction (member_id, entry_type, account, points, effective_on, reason)
    SELECT member_id, 'PENALTY', 'ADJUSTMENT', -points, :awarded_on, reason FROM need
    RETURNING id, member_id, -points AS points
), ordered AS (
    SELECT l.id, l.member_id, l.remaining,
           sum(l.remaining) OVER (PARTITION BY l.member_id ORDER BY l.expires_on, l.id) AS running
    FROM need n CROSS JOIN LATERAL (
        SELECT id, member_id, remaining, expires_on FROM points_lot
        WHERE member_id = n.member_id AND remaining > 0 AND expires_on >= :spent_on
        ORDER BY expires_on, id) AS l
), draws AS (
    SELECT o.id, tx.id AS transaction_id, least(o.remaining, tx.points - (o.running - o.remaining)) AS taken
    FROM ordered o JOIN tx ON tx.member_id = o.member_id
    WHERE o.running - o.remaining < tx.points
), drawn AS (
    UPDATE points_lot l SET remaining = l.remaining - d.taken FROM draws d
    WHERE l.id = d.id AND l.id = ANY(ARRAY(SELECT id FROM draws))  -- by the key, never a scan of all lots
), moves AS (
    INSERT INTO lot_movement (lot_id, transaction_id, amount) SELECT id, transaction_id, -taken FROM draws
)
UPDATE points_balance b SET posted = b.posted - tx.points, updated_at = now() FROM tx WHERE b.member_id = tx.member_id
"""


async def _penalise(
    session: AsyncSession, month: date, members: list[int], rates: Rates, awarded_on: date, today: date
) -> dict[int, int]:
    """Penalties for the month's late or unpaid bills of `members` still due; returns the points taken per bill.
    Dated the day the month's points are awarded, they are taken today: from what is valid today (a month accrued
    late never takes points that have ended since, whether or not the day's expiry has run)."""
    spent_on = max(awarded_on, today)
    await session.execute(sa.text(_BALANCES_LOCKED_SQL), {"members": members})
    available = dict((await session.execute(sa.text(_AVAILABLE_SQL), {"members": members, "spent_on": spent_on})).all())
    late = sorted((await session.execute(sa.text(_LATE_SQL), {"members": members, "month": month})).all())
    bills_of: dict[int, list[int]] = {}
    for bill, member in late:
        bills_of.setdefault(member, []).append(bill)
    per_bill: dict[int, int] = {}
    per_member: dict[int, int] = {}
    for member, bills in bills_of.items():  # each bill the percentage of one balance, together never more than it
        balance = max(available.get(member, 0), 0)
        share = int((Decimal(balance) * rates.late_penalty_percent / 100).to_integral_value(ROUND_DOWN))
        for bill in bills:
            per_bill[bill] = -min(share, balance - per_member.get(member, 0))
            per_member[member] = per_member.get(member, 0) - per_bill[bill]
    charged = {m: p for m, p in per_member.items() if p > 0}
    if charged:
        reasons = [_late_bills(bills_of[member]) for member in charged]
        await session.execute(
            sa.text(_PENALTY_SQL),
            {
                "members": list(charged),
                "points": list(charged.values()),
                "reasons": reasons,
                "awarded_on": awarded_on,
                "spent_on": spent_on,
            },  # fmt: skip
        )
    penalties = {bill: points for bill, points in per_bill.items() if points}
    if penalties:
        await session.execute(
            sa.text(
                """UPDATE accrual SET points = accrual.points + v.points
                   FROM unnest(CAST(:bills AS bigint[]), CAST(:points AS bigint[])) AS v(bill_id, points)
                   WHERE accrual.bill_id = v.bill_id"""
            ),
            {"bills": list(penalties), "points": list(penalties.values())},
        )
    return penalties


penalty_reason_length_max = 400  # within an entry's reason, whatever the number of bills


def _late_bills(bills: list[int]) -> str:
    """A penalty's reason: the late or unpaid bills it is for, as many as fit, and how many more (each bill's
    penalty is kept with its claim in `accrual`)."""
    reason, parts = "Late or unpaid bills", [f"{', ' if shown else ' '}{bill}" for shown, bill in enumerate(bills)]
    if len(reason) + sum(map(len, parts)) <= penalty_reason_length_max:
        return reason + "".join(parts)
    for shown, part in enumerate(parts):
        if len(reason) + len(part) + len(f" and {len(bills) - shown - 1} more") > penalty_reason_length_max:
            return f"{reason} and {len(bills) - shown} more"
        reason += part
    raise AssertionError("the whole list fits")  # pragma: no cover


async def _chunks(session: AsyncSession, month: date, chunk_bills: int) -> list[range]:
    """The month's bill ids cut into ranges of `chunk_bills` bills; the last range is open-ended."""
    starts = list(
        (
            await session.scalars(
                sa.text(
                    """SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM bill
                                      WHERE billing_month = :month) AS b
                       WHERE (n - 1) % :size = 0 ORDER BY id"""
                ),
                {"month": month, "size": chunk_bills},
            )
        ).all()
    )
    return [range(first, before) for first, before in pairwise([*starts, bill_id_max])] if starts else []


def finished_month(first_day: date, today: date) -> date:
    """`first_day` when its month has ended by `today`: points are earned only for a finished month,
    whoever starts the run (the API, the command line, a test); and only from the month bills are kept from
    (a run before it would find no bill, yet stand in the runs as the month's)."""
    if first_day.day != 1 or not finished(first_day, today):
        raise DomainError(
            PointsErrorCode.MONTH_NOT_FINISHED, f"Only a finished month can be accrued, not {first_day:%Y-%m}.", "month"
        )
    if first_day < billing_month_min:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, f"Bills are kept from {billing_month_min:%Y-%m} on, not {first_day:%Y-%m}.", "month"
        )
    return first_day


@dataclass(frozen=True)
class MonthlyAccrualJob:
    """The run of a month as a job of the runner: chunks of bills, resumed by the bills' claims."""

    kind: ClassVar[str] = ACCRUAL_KIND
    month: date  # its first day
    chunk_bills: int = chunk_bills_default
    workers: int = workers_default

    def __post_init__(self) -> None:
        finished_month(self.month, clock.today())

    @property
    def subject(self) -> str:
        return f"{self.month:%Y-%m}"

    def under_way(self) -> DomainError:
        return DomainError(
            PointsErrorCode.ACCRUAL_RUN_UNDER_WAY, f"The run for {self.subject} is under way already.", "month"
        )

    async def total(self, session: AsyncSession) -> int | None:
        """The month's bills not accrued yet that a run would accrue today."""
        return await session.scalar(
            sa.select(sa.func.count())
            .select_from(Bill.__table__.alias("b"))
            .where(
                sa.text("b.billing_month = :month AND " + SETTLED_OR_DUE),
                sa.text("NOT EXISTS (SELECT 1 FROM accrual x WHERE x.bill_id = b.id)"),
                sa.text(NOT_WAITING),
            )
            .params(
                month=self.month,
                today=clock.today(),
                waiting=WAITING,
                month_end=next_month(self.month) - timedelta(days=1),
            )  # fmt: skip
        )

    async def carry_out(self, run: Running) -> dict[str, int]:
        """Accrue every bill of the month not accrued yet; see the module's description.

        Chunks are independent (each member's balance rows are locked in member order), so
        `workers` of them run at once; each adds its figures to the run's record as it commits.
        """
        month_end = next_month(self.month) - timedelta(days=1)
        awarded_on, today = month_end + timedelta(days=1), clock.today()
        async with run.chunk() as setting_up:
            # Bills arrive in bulk (an import of half a million) just before a run: without fresh statistics
            # the planner reads the first chunks' lookups as scans (docs/benchmarks.md).
            await setting_up.session.execute(sa.text("ANALYZE bill"))
            rates = Rates.of(await rules.rules_in_force(setting_up.session, month_end))
            expires_on = await rules.expiry_date(setting_up.session, awarded_on)
            if expires_on <= today:  # a month accrued so late that its points would be born expired: their
                expires_on = await rules.expiry_date(setting_up.session, today)  # validity counts from today
            chunks = await _chunks(setting_up.session, self.month, self.chunk_bills)

        async def earn(chunk: jobs.Chunk, bills: range) -> None:
            earned = await _earn(chunk.session, self.month, bills, rates, expires_on, today)
            chunk.count(bills=earned.bills, points=earned.points)

        async def penalise(chunk: jobs.Chunk, members: list[int]) -> None:
            penalties = await _penalise(chunk.session, self.month, members, rates, awarded_on, today)
            chunk.count(points=sum(penalties.values()), penalties=len(penalties))

        await run.each(chunks, earn, workers=self.workers)
        async with run.chunk() as listing:  # once every bill has earned, the penalties from one balance each
            due = list((await listing.session.scalars(sa.text(_PENALTY_DUE_SQL), {"month": self.month})).all())
        parts = (due[i : i + self.chunk_bills] for i in range(0, len(due), self.chunk_bills))
        await run.each(parts, penalise, workers=self.workers)
        async with run.chunk() as counting:  # the members whose points this run moved
            members = await counting.session.scalar(
                sa.select(sa.func.count(sa.distinct(Accrual.member_id)))
                .join(Bill, Bill.id == Accrual.bill_id)
                .where(Bill.billing_month == self.month, Accrual.points != 0,
                       sa.or_(Accrual.accrued_at >= run.record.started_at,
                              Accrual.penalised_at >= run.record.started_at))
            )  # fmt: skip
        return {"members": members or 0}


FIGURES = ("bills", "members", "points", "penalties")


@dataclass  # not frozen: the GraphQL layer marks the objects it returns with their type
class MonthlyAccrualRun:
    """A monthly run as clients see it: its job record, read as a month and its bills."""

    id: int
    month: date
    status: JobStatus
    staff_id: int | None  # none: started from the command line
    bills_total: int  # still to earn when it started
    bills: int
    members: int
    points: int  # net of penalties
    penalties: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, record: JobRun) -> MonthlyAccrualRun:
        assert record.kind == MonthlyAccrualJob.kind and record.id is not None and record.started_at is not None
        counted = {name: int(record.figures.get(name, 0)) for name in FIGURES}
        return cls(id=record.id, month=parse_month(record.subject), status=record.status, staff_id=record.staff_id,
                   bills_total=record.total or 0, error=record.error, started_at=record.started_at,
                   finished_at=record.finished_at, **counted)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class RunMonthlyAccrual(Command):
    month: date  # its first day


async def run_monthly_accrual(uow: UnitOfWork, command: RunMonthlyAccrual) -> MonthlyAccrualRun:
    """An administrator's run: headquarters only, of a finished month; answers as soon as it is recorded
    and is carried out in the background."""
    actor = await rules.require_headquarters(uow.session, uow.principal, "Monthly runs are started")
    first_day = finished_month(command.month, uow.today)
    runner = JobRunner(uow.sessions, hand_off=uow.background)
    return MonthlyAccrualRun.of(await runner.start(MonthlyAccrualJob(first_day), staff_id=actor.staff_id))


async def accrue_month(
    sessions: async_sessionmaker,
    month: date,
    *,
    chunk_bills: int = chunk_bills_default,
    workers: int = workers_default,
    progress: Progress | None = None,
) -> MonthlyAccrualRun:
    """Run `month` (its first day) to its end in this task (the bench, tests); see `MonthlyAccrualJob`."""
    job = MonthlyAccrualJob(month, chunk_bills=chunk_bills, workers=workers)
    return MonthlyAccrualRun.of(await JobRunner(sessions).run(job, progress=progress))


runs_listed_max = 24


async def runs(session: AsyncSession, principal: Principal, month: date | None = None) -> list[MonthlyAccrualRun]:
    """The latest runs (of `month`, if given), newest first (headquarters administrators)."""
    await rules.require_headquarters(session, principal, "Monthly runs are followed")
    subject = None if month is None else f"{month:%Y-%m}"
    found = await jobs.runs(session, MonthlyAccrualJob.kind, subject, limit=runs_listed_max)
    return [MonthlyAccrualRun.of(r) for r in found]


async def runs_by_id(session: AsyncSession, principal: Principal, ids: list[int]) -> list[MonthlyAccrualRun | None]:
    """Runs by id, in order; none for anyone but a headquarters administrator (node lookups)."""
    try:
        await rules.require_headquarters(session, principal)
    except AccessDenied:
        return [None for _ in ids]
    found = await jobs.runs_by_id(session, MonthlyAccrualJob.kind, ids)
    return [None if r is None else MonthlyAccrualRun.of(r) for r in found]
