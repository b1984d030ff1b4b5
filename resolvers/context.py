"""Per-request context: the caller, database sessions and DataLoaders."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from domain.access import Principal
from domain.auth.service import AuthPolicy
from domain.cards.common import CardPolicy
from domain.errors import ErrorCode
from domain.paging import PageRequest
from domain.points import rules
from domain.points import service as points
from domain.work.unit import UnitOfWork
from resolvers.area import Area, Loaders
from resolvers.inputs import filter_arguments
from schema.common import connection


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
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@dataclass
class Services:
    """What lives for the whole process: built once at start-up."""

    sessions: async_sessionmaker  # transactions, for mutations
    read_sessions: async_sessionmaker  # autocommit: no BEGIN/ROLLBACK round trips for reads
    policy: AuthPolicy
    card_policy: CardPolicy
    jobs: Jobs = field(default_factory=Jobs)
    areas: tuple[Area, ...] = ()

    @property
    def policies(self) -> tuple[object, ...]:
        """The areas' settings, handed to every unit of work."""
        return (self.policy, self.card_policy)


class ReadSession:
    """One read connection per request, shared by every loader and query, one statement at a time."""

    def __init__(self, read_sessions: async_sessionmaker) -> None:
        self._factory = read_sessions
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncSession]:
        async with self._lock:
            if self._session is None:
                self._session = self._factory()
            yield self._session

    async def close(self) -> None:
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
        self.loaders = Loaders(self.services.areas, self.reading, self.principal)

    @property
    def sessions(self) -> async_sessionmaker:
        return self.services.sessions

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(
            self.services.sessions,
            self.principal,
            self.services.policies,
            self.remote_address,
            background=lambda work: self.services.jobs.start(work),
        )

    async def read(self, action: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        """Run a query's domain call on the request's read session."""
        async with self.reading() as session:
            return await action(session)

    @property
    def remote_address(self) -> str | None:
        return self.request.client.host if self.request.client else None

    async def expiring_soon(self, member_id: int, days: int) -> list[Any]:
        async with self.reading() as session:
            return await points.expiring_soon(session, member_id, days)

    async def points_statement(self, member_id: int, month: str) -> Any:
        async with self.reading() as session:
            return await points.statement(session, self.principal, member_id, month)

    async def points_rules(self) -> list[Any]:
        async with self.reading() as session:
            return await rules.list_rules(session, self.principal)

    async def points_history(self, member_id: int, filter: Any, *page: Any) -> Any:
        where = filter_arguments(points.history, filter)
        async with self.reading() as session:
            found = await points.history(session, self.principal, member_id, PageRequest(*page), **where)
        return connection(found)
