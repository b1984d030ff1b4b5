"""One runner for every background run: the monthly accrual today; auto-redemption, grade review and
settlement next. A job plugs in by what it does (`Job`); the runner owns what every run needs:

- One run of a (kind, subject) at a time: an advisory lock, held for the whole run on a
  connection of the run's own, outside any transaction. A process that dies gives the lock back
  with its connection, so a lock nobody holds means nothing carries the run out any more.
- One record per run in `job_run`: RUNNING, then DONE, FAILED with its cause, or INTERRUPTED when
  it was cancelled (the app stopped). A run still recorded RUNNING whose lock nobody holds was left
  by a process that died: it reads INTERRUPTED (`as_they_stand`), and the next start records it so.
- Figures per chunk: each chunk of work is a unit of work that adds its counters to the run's
  figures when it commits, so the record always tells how far the run got.
- Resuming by starting again: a job does only what is left (the accrual claims each bill with its
  entries), so a new run after a failure or an interruption carries on where the last one stopped.

A run is begun (the lock taken and the record written) and then carried out, so that the API
can answer between the two and hand the rest to a background task (`start`); the command line
does both in its own task (`run`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import metrics
from domain.errors import DomainError
from domain.work.tables import JobRun, JobStatus
from domain.work.unit import UnitOfWork

log = logging.getLogger(__name__)

_LOCK_SPACE = 0x6A6F62  # "job": the advisory lock space of the runs; the second key names the (kind, subject)
_WORK_SPACE = 0x776B  # "wk": shared by each chunk's transaction, so that a new run waits for orphaned chunks
_INTERRUPTED = "Interrupted before the end; a new run resumes where it stopped."

HandOff = Callable[[Coroutine[Any, Any, Any]], None]
Progress = Callable[[dict[str, int]], None]
Part = TypeVar("Part")


class Job(Protocol):
    """A kind of background run, for one subject (a month, a settlement period, …)."""

    kind: ClassVar[str]  # e.g. "MONTHLY_ACCRUAL"

    @property
    def subject(self) -> str:
        """What this run works on, e.g. the month "2026-10"; one run of a (kind, subject) at a time."""
        ...

    def under_way(self) -> DomainError:
        """The refusal when a run of the same kind and subject is under way already."""
        ...

    async def total(self, session: AsyncSession) -> int | None:
        """What is left to do as the run starts (read with its record), or None when not known."""
        ...

    async def carry_out(self, run: Running) -> dict[str, int]:
        """Do what is left, in chunks (`run.chunk()`); the figures known only at the end (e.g. members)."""
        ...


@dataclass
class Chunk:
    """One committed piece of a run: a unit of work, and the counters it adds to the run's figures."""

    uow: UnitOfWork
    figures: Counter[str] = field(default_factory=Counter)

    @property
    def session(self) -> AsyncSession:
        return self.uow.session

    def count(self, **figures: int) -> None:
        self.figures.update(figures)


class Running:
    """What a job sees of its run while carrying it out: its record, and its chunks."""

    def __init__(self, record: JobRun, sessions: async_sessionmaker, progress: Progress | None, key: int) -> None:
        self.record = record
        self._sessions = sessions
        self._progress = progress
        self._key = key

    @contextlib.asynccontextmanager
    async def chunk(self) -> AsyncIterator[Chunk]:
        """A unit of work whose counters join the run's figures in the same transaction. It holds a share of
        the subject's work lock until it ends, so a later run can wait for it even after its process died."""
        async with UnitOfWork(self._sessions) as uow:
            await uow.session.execute(_SHARE_WORK, {"space": _WORK_SPACE, "key": self._key})
            chunk = Chunk(uow)
            yield chunk
            if chunk.figures:
                await uow.session.execute(_ADD_FIGURES, {"id": self.record.id, "added": dict(chunk.figures)})
        if self._progress:
            self._progress(dict(chunk.figures))

    async def each(
        self, parts: Iterable[Part], step: Callable[[Chunk, Part], Awaitable[None]], *, workers: int
    ) -> None:
        """`step` for every part, each in a chunk of its own, `workers` chunks at once (each worker takes the next
        part); one failing stops the others. Parts must not wait for each other's locks in a cycle."""
        shared = iter(parts)

        async def work() -> None:
            for part in shared:
                async with self.chunk() as chunk:
                    await step(chunk, part)

        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(work())


_SHARE_WORK = sa.text("SELECT pg_advisory_xact_lock_shared(:space, :key)")
_WAIT_FOR_WORK = sa.text("SELECT pg_advisory_lock(:space, :key), pg_advisory_unlock(:space, :key)")


# Adds each named counter to the run's figures. Concurrent chunks serialise on the record's row:
# each UPDATE reads the figures the previous one committed.
_ADD_FIGURES = sa.text(
    """UPDATE job_run SET figures = figures || (
           SELECT jsonb_object_agg(d.key, coalesce(CAST(job_run.figures ->> d.key AS bigint), 0)
                                          + CAST(d.value AS bigint))
           FROM jsonb_each_text(:added) AS d)
       WHERE id = :id"""
).bindparams(sa.bindparam("added", type_=JSONB))


@dataclass
class Started:
    """A run whose lock is held (on `holder`'s connection) and whose record is written; not carried out yet."""

    record: JobRun
    job: Job
    holder: AsyncSession
    key: int


class JobRunner:
    """Begins runs and carries them out. `hand_off` starts work that outlives the request (the app's
    background tasks); without it, runs are carried out in the caller's task only (`run`)."""

    def __init__(self, sessions: async_sessionmaker, *, hand_off: HandOff | None = None) -> None:
        self._sessions = sessions
        self._hand_off = hand_off

    async def start(self, job: Job, *, staff_id: int | None = None) -> JobRun:
        """Begin a run and hand its carrying out to the background: the record, RUNNING, at once."""
        assert self._hand_off is not None, "a runner that starts background work is given a hand-off"
        started = await self.begin(job, staff_id=staff_id)
        self._hand_off(self.carry_out(started))
        return started.record

    async def run(self, job: Job, *, staff_id: int | None = None, progress: Progress | None = None) -> JobRun:
        """Begin a run and carry it out to its end here; the finished record."""
        return await self.carry_out(await self.begin(job, staff_id=staff_id), progress=progress)

    async def begin(self, job: Job, *, staff_id: int | None = None) -> Started:
        """Take the (kind, subject)'s lock and record the run; refused while another run of it is under way.

        Runs of the subject still recorded RUNNING are marked INTERRUPTED: holding the lock proves
        that nothing carries them out any more.
        """
        key = _lock_key(job.kind, job.subject)
        holder = await self._lock(key)
        if holder is None:
            raise job.under_way()
        try:
            async with UnitOfWork(self._sessions) as uow:
                await uow.session.execute(
                    sa.update(JobRun)
                    .where(JobRun.kind == job.kind, JobRun.subject == job.subject, JobRun.status == JobStatus.RUNNING)
                    .values(status=JobStatus.INTERRUPTED, error=_INTERRUPTED, finished_at=sa.func.now())
                )
                total = await job.total(uow.session)
                record = await uow.session.scalar(
                    insert(JobRun)
                    .values(kind=job.kind, subject=job.subject, staff_id=staff_id, total=total)
                    .returning(JobRun)
                )
        except BaseException:
            await _release(holder, key)
            raise
        assert record is not None
        return Started(record, job, holder, key)

    async def carry_out(self, started: Started, *, progress: Progress | None = None) -> JobRun:
        """Do the started run's work; record how it ended (and why), and give its lock back."""
        record, job = started.record, started.job
        try:
            # The chunks of a run whose process died may still be running in the database (nothing tells a
            # backend its client is gone until it writes to it): wait until the last of them has ended.
            connection = await started.holder.connection()
            await connection.execute(_WAIT_FOR_WORK, {"space": _WORK_SPACE, "key": started.key})
            final = await job.carry_out(Running(record, self._sessions, progress, started.key))
        except asyncio.CancelledError:
            await self._finish(started, JobStatus.INTERRUPTED, _INTERRUPTED)
            raise
        except Exception as error:
            log.exception("The %s run %s of %s stopped on an error", job.kind, record.id, job.subject)
            await self._finish(started, JobStatus.FAILED, _cause(error))
            raise
        return await self._finish(started, JobStatus.DONE, None, final)

    async def _lock(self, key: int) -> AsyncSession | None:
        """A session holding the lock on a connection of its own, outside any transaction; None when taken."""
        holder = self._sessions()
        try:
            connection = await holder.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            locked = await connection.scalar(
                sa.text("SELECT pg_try_advisory_lock(:space, :key)"), {"space": _LOCK_SPACE, "key": key}
            )
        except BaseException:
            await holder.close()
            raise
        if locked:
            return holder
        await holder.close()
        return None

    async def _finish(
        self, started: Started, status: JobStatus, error: str | None, figures: dict[str, int] | None = None
    ) -> JobRun:
        """Record how the run ended and give its lock back in one statement on the lock's connection: whoever
        reads the run ended finds its subject free (a bill of its month can be entered at once). A connection
        that cannot is dropped, taking the lock along, and the end is recorded on another."""
        ended = (
            sa.update(JobRun)
            .where(JobRun.id == started.record.id)
            .values(
                status=status,
                error=error,
                finished_at=sa.func.now(),
                figures=JobRun.figures.op("||")(sa.literal(figures or {}, JSONB)),
            )
            .returning(JobRun)
        )
        unlocked = sa.func.pg_advisory_unlock(_LOCK_SPACE, started.key)
        try:
            finished = (await started.holder.execute(ended.returning(unlocked))).scalar_one()
        except BaseException as failure:
            await started.holder.invalidate()
            if not isinstance(failure, Exception):
                raise
            async with UnitOfWork(self._sessions) as uow:
                finished = (await uow.session.execute(ended)).scalar_one()
        finally:
            await started.holder.close()
        metrics.JOB_RUNS.labels(finished.kind, status.value).inc()
        for figure, value in (finished.figures or {}).items():
            if isinstance(value, int) and value > 0:
                metrics.JOB_FIGURES.labels(finished.kind, figure).inc(value)
        return finished


async def runs_under_way(session: AsyncSession, kind: str, subjects: list[str]) -> list[str]:
    """Those of `subjects` whose run of `kind` is under way, in one statement; of the others none starts before
    the caller's transaction ends (it holds a share of each subject's lock): a change of what a run reads (a bill
    of its month) never slips in beside the run."""
    shared = sa.text(
        "SELECT s FROM unnest(CAST(:subjects AS text[]), CAST(:keys AS int[])) WITH ORDINALITY AS x(s, k, n)"
        " WHERE NOT pg_try_advisory_xact_lock_shared(:space, k) ORDER BY n"
    )
    keys = [_lock_key(kind, subject) for subject in subjects]
    return list(await session.scalars(shared, {"subjects": subjects, "keys": keys, "space": _LOCK_SPACE}))


async def other_under_way(session: AsyncSession, job: Job) -> str | None:
    """For a kind whose runs of different subjects must not overlap (a grade review as of one date beside one as of
    another): the subject of another run of the kind under way, or None. Called from `total`, in the transaction
    that records the run: the kind's lock, held to its commit, makes two runs starting at once see each other."""
    await session.execute(sa.text("SELECT pg_advisory_xact_lock(:space, :key)"),
                          {"space": _LOCK_SPACE, "key": _lock_key(job.kind, "")})  # fmt: skip
    others = await session.scalars(
        sa.select(JobRun).where(
            JobRun.kind == job.kind, JobRun.subject != job.subject, JobRun.status == JobStatus.RUNNING
        )
    )
    running = [r.subject for r in await as_they_stand(session, list(others)) if r.status == JobStatus.RUNNING]
    return running[0] if running else None


def _lock_key(kind: str, subject: str) -> int:
    """The (kind, subject)'s lock key: a non-negative 32-bit number, as `pg_locks` shows it."""
    return zlib.crc32(f"{kind}:{subject}".encode()) & 0x7FFF_FFFF


def _cause(error: BaseException) -> str:
    while isinstance(error, BaseExceptionGroup):  # parallel chunks fail as a group: name the first error
        error = error.exceptions[0]
    return f"Stopped on an error ({type(error).__name__}); a new run resumes where it stopped."


async def _release(holder: AsyncSession, key: int) -> None:
    """Give the lock back, then the connection; a connection that cannot is dropped, taking the lock along."""
    try:
        connection = await holder.connection()
        await connection.execute(sa.text("SELECT pg_advisory_unlock(:space, :key)"), {"space": _LOCK_SPACE, "key": key})
    except BaseException:
        await holder.invalidate()
        raise
    finally:
        await holder.close()


# --- reads ---------------------------------------------------------------------------------------


async def runs(session: AsyncSession, kind: str, subject: str | None, *, limit: int) -> list[JobRun]:
    """The latest runs of `kind` (of `subject`, if given), newest first, as they stand."""
    query = sa.select(JobRun).where(JobRun.kind == kind).order_by(JobRun.id.desc()).limit(limit)
    if subject is not None:
        query = query.where(JobRun.subject == subject)
    return await as_they_stand(session, list((await session.scalars(query)).all()))


async def runs_by_id(session: AsyncSession, kind: str, ids: list[int]) -> list[JobRun | None]:
    """Runs of `kind` by id, in order of `ids`, as they stand; None where there is none."""
    query = sa.select(JobRun).where(JobRun.kind == kind, JobRun.id.in_(ids))
    found = {r.id: r for r in await as_they_stand(session, list((await session.scalars(query)).all()))}
    return [found.get(i) for i in ids]


async def left_interrupted(session: AsyncSession) -> dict[str, int]:
    """Runs, by kind (every kind ever run, 0 for most), that read INTERRUPTED and that no later run of their kind
    and subject followed: work that nothing carries on until someone starts it again, however it stopped (the
    app stopped, or died)."""
    last = sa.select(JobRun).where(JobRun.status.in_([JobStatus.INTERRUPTED, JobStatus.RUNNING]), _NONE_LATER)
    runs = await as_they_stand(session, list((await session.scalars(last)).all()))
    left = collections.Counter(r.kind for r in runs if r.status == JobStatus.INTERRUPTED)
    return {kind: left[kind] for kind in await session.scalars(sa.select(JobRun.kind).distinct())}


_NONE_LATER = sa.text(
    "NOT EXISTS (SELECT 1 FROM job_run l WHERE l.kind = job_run.kind AND l.subject = job_run.subject"
    " AND l.id > job_run.id)"
)


async def as_they_stand(session: AsyncSession, found: list[JobRun]) -> list[JobRun]:
    """A run still recorded RUNNING whose lock nobody holds was left by a process that stopped: it reads
    INTERRUPTED (what it reads as, not a change to the record).

    A run that ends records how it ended before it gives its lock back, so a run read RUNNING whose lock
    is gone a moment later may have just ended: it is read again, and only one still RUNNING after its lock
    was seen gone was left behind. (A run begun after the first read is not among those read.)"""
    if not any(r.status == JobStatus.RUNNING for r in found):
        return found
    held = set(
        await session.scalars(
            sa.text(
                """SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = :space
                   AND objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"""
            ),
            {"space": _LOCK_SPACE},
        )
    )
    for run in found:
        if run.status == JobStatus.RUNNING and _lock_key(run.kind, run.subject) not in held:
            await session.refresh(run)
            if run.status == JobStatus.RUNNING:
                session.expunge(run)
                run.status, run.error = JobStatus.INTERRUPTED, _INTERRUPTED
    return found
