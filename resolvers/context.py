"""Per-request context: the caller, database sessions and DataLoaders."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from strawberry.dataloader import DataLoader

from domain import customers, members, organisation, partners
from domain.access import Permission, Principal, require_staff
from domain.auth import AuthPolicy
from domain.cards import queries as card_queries
from domain.cards.common import CardPolicy
from domain.errors import ErrorCode
from domain.paging import PageRequest
from domain.points import accrual, rules
from domain.points import service as points
from domain.tables import Branch, Grade, Partner, Staff
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


Reading = Callable[[], contextlib.AbstractAsyncContextManager[AsyncSession]]


def _loader(reading: Reading, fetch: Callable[[AsyncSession, list[Any]], Awaitable[list[Any]]]):
    async def load(keys: list[Any]) -> list[Any]:
        async with reading() as session:
            return await fetch(session, keys)

    return DataLoader(load_fn=load)


async def _by_id(session: AsyncSession, table: Any, ids: list[Any], key: str = "id") -> list[Any]:
    column = getattr(table, key)
    rows = {getattr(r, key): r for r in (await session.scalars(select(table).where(column.in_(ids)))).all()}
    return [rows.get(i) for i in ids]


class Loaders:
    """One DataLoader per (entity, key); `…_scoped` loaders apply the caller's read rights (node lookups)."""

    def __init__(self, sessions: Reading, principal: Principal) -> None:
        p = principal
        self.branches = _loader(sessions, lambda s, ids: _by_id(s, Branch, ids))
        self.branches_scoped = _loader(sessions, lambda s, ids: organisation.get_branches(s, p, ids))
        self.clubs = _loader(sessions, organisation.get_clubs)
        self.clubs_scoped = _loader(sessions, lambda s, ids: organisation.get_clubs_scoped(s, p, ids))
        self.grades = _loader(sessions, lambda s, codes: _by_id(s, Grade, codes, "code"))
        self.staff = _loader(sessions, lambda s, ids: _by_id(s, Staff, ids))
        self.staff_scoped = _loader(sessions, lambda s, ids: organisation.get_staff_scoped(s, p, ids))
        self.partners = _loader(sessions, lambda s, ids: _by_id(s, Partner, ids))
        self.partners_scoped = _loader(sessions, lambda s, ids: partners.get_partners_scoped(s, p, ids))
        self.api_clients_scoped = _loader(sessions, lambda s, ids: partners.get_api_clients_scoped(s, p, ids))
        self.customers = _loader(sessions, customers.get_customers)
        self.customers_scoped = _loader(sessions, lambda s, ids: customers.get_customers_scoped(s, p, ids))
        self.accounts_by_customer = _loader(sessions, customers.accounts_by_customer)
        self.accounts_scoped = _loader(sessions, lambda s, ids: customers.get_accounts_scoped(s, p, ids))
        self.subscriber_numbers_by_account = _loader(sessions, customers.subscriber_numbers_by_account)
        self.members_scoped = _loader(sessions, lambda s, ids: members.get_members_scoped(s, p, ids))
        self.cards_scoped = _loader(sessions, lambda s, numbers: card_queries.get_cards_scoped(s, p, numbers))
        self.card_of_member = _loader(sessions, card_queries.usable_card_of_members)
        self.card_history = _loader(sessions, card_queries.history)
        self.card_batches = _loader(sessions, card_queries.batches)
        self.points = _loader(sessions, points.summaries)
        self.transactions_scoped = _loader(sessions, lambda s, ids: points.get_transactions_scoped(s, p, ids))
        self.rule_changes = _loader(sessions, rules.rule_changes)
        self.applications_scoped = _loader(sessions, lambda s, ids: card_queries.get_applications_scoped(s, p, ids))
        self.accrual_runs_scoped = _loader(sessions, lambda s, ids: accrual.runs_by_id(s, p, ids))


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
        self.loaders = Loaders(self.reading, self.principal)

    @property
    def sessions(self) -> async_sessionmaker:
        return self.services.sessions

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
        from resolvers.edge import fields  # the edge module imports this one

        where = fields(filter) if filter else {}
        async with self.reading() as session:
            found = await points.history(session, self.principal, member_id, PageRequest(*page), **where)
        return connection(found)

    async def credit_history(self, customer_id: int) -> list[Any]:
        require_staff(self.principal, Permission.CUSTOMER_READ)
        async with self.reading() as session:
            return await customers.credit_history(session, customer_id)
