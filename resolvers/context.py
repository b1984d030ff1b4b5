"""Per-request context: the caller, database sessions and DataLoaders."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import Request

from domain.access import Principal
from domain.audit.trail import Audit
from domain.auth.principals import Principals
from domain.auth.service import AuthPolicy
from domain.errors import ErrorCode
from domain.work.unit import UnitOfWork
from resolvers.area import Area, Loaders

T = TypeVar("T")


class Jobs:
    """Work a request starts and leaves running after its answer (monthly runs); stopped with the app."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # the work logged and recorded its own failure

    async def stop(self) -> None:
        """Cancel what is still running and wait until each has recorded where it stopped."""
        await asyncio.sleep(0)  # a task not started yet would be cancelled before its own clean-up could run
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@dataclass
class Services:
    """What lives for the whole process: built once at start-up."""

    sessions: async_sessionmaker  # transactions, for mutations
    read_sessions: async_sessionmaker  # autocommit: no BEGIN/ROLLBACK round trips for reads
    policies: tuple[object, ...]  # the areas' settings (`AuthPolicy`, `CardPolicy`, …), handed to every unit of work
    jobs: Jobs = field(default_factory=Jobs)
    areas: tuple[Area, ...] = ()

    def policy(self, kind: type[T]) -> T:
        return next(p for p in self.policies if isinstance(p, kind))

    @functools.cached_property
    def principals(self) -> Principals | None:
        """What the process remembers of principals, and of the rows of small tables (`domain/auth/principals.py`)."""
        return next((p.principals for p in self.policies if isinstance(p, AuthPolicy)), None)

    @property
    def engine(self) -> AsyncEngine:
        """The engine whose pool serves the statements sent straight to the driver (`domain/work/driver.py`)."""
        return self.sessions.kw["bind"]


class ReadSession:
    """One read connection per request, shared by every loader and query, one statement at a time.

    Closed when the operation ends, after the read in progress, if any: an error can end an operation
    while a loader's batch is still reading (the executor stops waiting for the other fields), and the
    connection must not go back to the pool mid-statement. A read that starts after that has a session of
    its own, closed when it ends."""

    def __init__(self, read_sessions: async_sessionmaker) -> None:
        self._factory = read_sessions
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncSession]:
        async with self._lock:
            if self._closed:
                async with self._factory() as session:
                    yield session
                return
            if self._session is None:
                self._session = self._factory()
            yield self._session

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """The request's turn to read, without the session: a statement sent straight to the driver (a
        loader's batch) waits for the read in progress, so that the request's reads run one at a time in the
        order they were asked for, as on the one connection (and its batches gather the same keys however
        fast the database answers)."""
        async with self._lock:
            yield

    async def release(self) -> None:
        """The connection back to the pool, after the read in progress; a later read takes another."""
        async with self._lock:
            await self._release()

    async def close(self) -> None:
        """For good, when the operation ends."""
        async with self._lock:
            self._closed = True
            await self._release()

    async def _release(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass
class Context:
    request: Request
    services: Services
    reading: ReadSession
    principal: Principal
    # Why authentication failed, when a bearer token was sent but refused.
    auth_problem: ErrorCode | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        services = self.services
        self.loaders = Loaders(services.areas, self.reading, services.engine, self.principal, services.principals)

    def unit_of_work(self, audit: Audit | None = None) -> UnitOfWork:
        """A unit of work of the caller; `audit` names the mutation it runs, recorded in the audit trail."""
        return UnitOfWork(
            self.services.sessions,
            self.principal,
            self.services.policies,
            self.remote_address,
            background=lambda work: self.services.jobs.start(work),
            audit=audit,
        )

    async def read(self, action: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        """Run a query's domain call on the request's read session."""
        async with self.reading() as session:
            return await action(session)

    @property
    def remote_address(self) -> str | None:
        return self.request.client.host if self.request.client else None
