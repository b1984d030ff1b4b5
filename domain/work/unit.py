"""One unit of work for every entry point: the mutation runner, login, the CLI and background jobs.

It owns the transaction, the caller, the clock and idempotency:

    async with UnitOfWork(sessions, principal) as uow:
        result = await uow.run(handler, command)

The block commits when it ends normally, and also on a `RecordedRefusal` (a failed PIN or
login whose record must stay, re-raised for the caller to answer); any other exception rolls
everything back.

A unit that runs a mutation of an authenticated caller (`audit`, given by the edge) records its audit
event (`domain/audit/trail.py`): with the work when it commits, in the same statement or transaction, and
on its own after a refusal or a failure undid the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import clock, passwords
from domain.access import Principal
from domain.audit import trail
from domain.columns import REPLAYED
from domain.errors import DomainError, Problem, RecordedRefusal, code_named
from domain.work import driver, idempotency
from domain.work.commands import Command, Idempotent

# The SQLSTATE of a business refusal raised by a database function (migration 0009): the error code is
# its message, the client's message its detail, the field at fault its hint.
REFUSAL_SQLSTATE = "LR001"
MANY_PROBLEMS = "PROBLEMS"  # the message of a refusal of several problems at once (migration 0013)

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)


class UnitOfWork:
    def __init__(
        self,
        sessions: async_sessionmaker | None,
        principal: Principal = None,
        policies: Iterable[object] = (),
        remote_address: str | None = None,
        background: Callable[[Coroutine[Any, Any, Any]], None] | None = None,
        audit: trail.Audit | None = None,
    ) -> None:
        self.sessions = sessions
        self.principal = principal
        self.remote_address = remote_address  # where the request came from, for records such as login attempts
        # How this process starts work that outlives the unit (background runs); none on the command line.
        self.background = background
        self._policies = {type(p): p for p in policies}
        self._session: AsyncSession | None = None  # made on first use: a one-statement unit never needs one
        self._owns_session = False  # made by this unit, which ends its transaction
        self._ran_alone = False  # the unit's one statement ran as its own transaction: no session may follow
        # The idempotency key of the command being run, for a handler whose statement claims it itself.
        self.claim = idempotency.NO_CLAIM
        # The command's result is the stored one of an earlier request with the same key, as it was then.
        self.replayed = False
        self.now: datetime
        # The mutation to audit (an authenticated caller's, from the edge): its command and result once known.
        self.audit = audit if principal is not None and sessions is not None else None
        self._command: Command | None = None
        self._result: Any = None
        self._recorded = False  # the event is written, or part of work that committed
        self._turn: asyncio.Semaphore | None = None  # a hashing turn held to the end (`run`)
        self._queue: asyncio.Lock | None = None  # and the queue of its card, before it

    @classmethod
    def joining(cls, session: AsyncSession, principal: Principal = None, policies: Iterable[object] = ()) -> UnitOfWork:
        """A unit inside a transaction its caller owns (loading the demo data, a chunk of a job): it never
        commits or rolls back itself."""
        uow = cls(None, principal, policies)  # no sessions: it opens no transaction of its own
        uow._session, uow.now = session, clock.now()
        return uow

    @property
    def session(self) -> AsyncSession:
        """The unit's transaction (made on first use, begun on its first statement)."""
        assert not self._ran_alone, "the unit ran its one statement alone already"
        if self._session is None:
            assert self.sessions is not None
            self._session, self._owns_session = self.sessions(), True
        return self._session

    def in_transaction(self) -> None:
        """The unit's work, its one statement too, goes in a transaction of its own, committed when the unit
        ends: a handler may then refuse what its statement did (raising after it), and nothing is kept."""
        self.session  # noqa: B018 (made now: the statement then runs in it)

    async def undo_writes(self) -> None:
        """Undo what the unit's own transaction wrote so far (a refused check's, before an answer that is no
        refusal); a unit joining its caller's transaction leaves that transaction alone."""
        if self._owns_session and self._session is not None:
            await self._session.rollback()

    @property
    def today(self) -> date:
        return clock.day_of(self.now)

    def policy(self, kind: type[T]) -> T:
        """The settings of an area (`CardPolicy`, `AuthPolicy`, …), given when the service started."""
        return self._policies.get(kind) or kind()

    async def __aenter__(self) -> UnitOfWork:
        assert self.sessions is not None, "a unit that joins its caller's transaction is not entered"
        self.now = clock.now()
        return self

    async def __aexit__(self, kind: Any, error: BaseException | None, trace: Any) -> bool:
        try:
            if self._owns_session:
                try:
                    await self._end_transaction(error)
                except Exception as failure:  # the commit failed, and the event with it
                    await self._record_alone(failure)
                    raise
        finally:
            for held in (self._turn, self._queue):
                if held is not None:
                    held.release()
            self._turn = self._queue = None
        await self._record_alone(error)
        return False

    async def _end_transaction(self, error: BaseException | None) -> None:
        session, self._session, self._owns_session = self._session, None, False
        assert session is not None
        try:
            if error is None or isinstance(error, RecordedRefusal):  # a refusal's record is kept, then answered
                if self.audit is not None and not self._recorded:
                    await session.execute(trail.RECORD, self._event(error))
                await session.commit()
                self._recorded = self.audit is not None
            else:
                await session.rollback()
        finally:
            await session.close()

    def _event(self, error: BaseException | None) -> dict[str, Any]:
        assert self.audit is not None
        outcome = trail.outcome_of(error, self.replayed)
        return trail.event(self.audit, self.principal, self.now, self.remote_address, self._command, self._result,
                           outcome)  # fmt: skip

    async def _record_alone(self, error: BaseException | None) -> None:
        """The audit event of a mutation whose work did not carry it (refused, failed, or sending nothing), in a
        statement of its own. A failure to write it never hides the mutation's own failure: that is answered,
        and the loss logged. A cancelled request (not an Exception) leaves only what its work committed."""
        if self.audit is None or self._recorded or not (error is None or isinstance(error, Exception)):
            return
        self._recorded = True
        try:
            await driver.rows(self.sessions.kw["bind"], trail.RECORD, self._event(error))  # type: ignore[union-attr]
        except Exception:
            if error is None:
                raise
            log.warning("the audit event of a refused %s was not written", self.audit.operation, exc_info=True)

    async def statement(self, sql: sa.Executable, **params: Any) -> Sequence[sa.Row[Any]]:
        """The unit's whole work as one statement, in one round trip to the database.

        Sent alone, straight to the driver on a connection of the pool (`domain/work/driver.py`), it is
        its own transaction: no BEGIN and no COMMIT. When the handler used the session before, or the
        unit joins its caller's transaction, it runs inside that transaction instead. A refusal the
        statement raises becomes a DomainError. Sent alone for an audited mutation, it carries the audit
        event (`trail.recorded`): the event commits with it, in the same round trip.
        """
        with refusals_raised():
            if self._session is not None:
                rows = (await self._session.execute(sql, params)).all()
            elif self.audit is not None and not self._recorded:
                assert self.sessions is not None
                self._ran_alone = True
                event = self._event(None)  # the outcome and the result's id are the statement's own
                rows = await driver.rows(self.sessions.kw["bind"], trail.recorded(sql), {**params, **event})
                self._recorded = True
            else:
                assert self.sessions is not None
                self._ran_alone = True
                rows = await driver.rows(self.sessions.kw["bind"], sql, params)
        if rows and rows[0]._fields[-1] == REPLAYED:  # `returned_by(…, replayed=True)`: say so, and drop the flag
            self.replayed = rows[0][-1]
            return [row[:-1] for row in rows]
        return rows

    async def run(self, handler: Callable[[UnitOfWork, Any], Awaitable[R]], command: Command) -> R:
        """Carry out a command; an idempotent one once per key (a replay returns the first result)."""
        if self._command is None:
            self._command = command  # what the audit event names
        if command.hashes() and self._turn is None and self.sessions is not None:
            await self._wait_for_turn(command)
        return await self._carry_out(handler, command)

    async def _wait_for_turn(self, command: Command) -> None:
        """Before the unit's first statement: first behind the requests of the same thing (`Command.queue`: a card),
        holding nothing, then for one of the process's hashing turns; both given back once the unit's transaction
        has ended (`__aexit__`), so that the next request for the row this one holds takes no connection before.
        Each is kept only once taken: a request cancelled while it waits gives back none it did not take."""
        if (key := command.queue()) is not None:
            queue = passwords.queue(key)
            await queue.acquire()
            self._queue = queue
        turn = passwords.turn()
        await turn.acquire()
        self._turn = turn

    async def _carry_out(self, handler: Callable[[UnitOfWork, Any], Awaitable[R]], command: Command) -> R:
        if isinstance(command, Idempotent):
            self._result = await idempotency.run_once(self, handler, command)
        else:
            self._result = await handler(self, command)
        return self._result


@contextlib.asynccontextmanager
async def claimed(
    sessions: async_sessionmaker, entity: Any, key: int, waiting: Any
) -> AsyncIterator[tuple[UnitOfWork, Any]]:
    """One row of an outbox (a delivery, a message) claimed in a unit of work of its own, to be sent and recorded
    before it commits: locked SKIP LOCKED, so that runs side by side never take the same one and anyone else
    waits for one send at most; None when it is `waiting` no more, or someone else holds it."""
    async with UnitOfWork(sessions) as uow:
        query = sa.select(entity).where(entity.id == key, waiting).with_for_update(skip_locked=True)
        yield uow, await uow.session.scalar(query)


@contextlib.contextmanager
def refusals_raised() -> Iterator[None]:
    """A business refusal raised by a database function (SQLSTATE `LR001`) as the DomainError it names."""
    try:
        yield
    except sa.exc.DBAPIError as error:
        cause = getattr(error.orig, "__cause__", None)
        if getattr(cause, "sqlstate", None) != REFUSAL_SQLSTATE:
            raise
        if cause.message == MANY_PROBLEMS:  # `refuse_all`: every problem found, as a JSON array in DETAIL
            found = json.loads(cause.detail)
            raise DomainError.of([Problem(code_named(p["code"]), p["message"], p["field"]) for p in found]) from None
        raise DomainError(code_named(cause.message), cause.detail, cause.hint) from None
