"""One statement straight to the driver: the round trip of a hot path without SQLAlchemy's execution layer.

SQLAlchemy's connection, execution-context and result machinery cost about 400 µs of CPU per statement
on this service's machines, more than a whole `{ __typename }` request; the driver's own call costs about
70 µs (docs/benchmarks.md, "One statement straight to the driver"). The paths every request or every
points movement takes (authentication, the one-statement writes, a member's own view) therefore compile
their statement once per process to the driver's SQL and send it on a connection borrowed from the
engine's own pool of such connections (`Connections`), outside any transaction: a statement sent alone is
its own transaction.

The statement is still written with SQLAlchemy (a Core `select` or a `text` with typed columns), and its
parameters and results pass through the same type processors SQLAlchemy would apply (enums come back as
enums, JSON goes out as JSON), so a path reads the same whichever way it runs.
"""

from __future__ import annotations

import asyncio
import collections
import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import metrics

_DIALECT = asyncpg_dialect.dialect()
# Who sees each statement sent this way, before it is sent: the test suite counts round trips with it.
observers: list[Callable[[str], None]] = []


@dataclass(frozen=True, eq=False)
class Compiled:
    """A statement as the driver takes it: SQL with `$n` placeholders, the parameter names in their order
    with their type processors, and the record type of its rows with their columns' processors."""

    sql: str
    names: tuple[str, ...]
    defaults: tuple[Any, ...]  # the value a parameter has in the statement itself (a limit), if any
    binds: tuple[Callable[[Any], Any] | None, ...]
    record: Any
    results: tuple[Callable[[Any], Any] | None, ...]
    converters: dict[Any, Callable[[Any], Any]] = field(default_factory=dict, repr=False)  # by record type

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        values = [params.get(name, default) for name, default in zip(self.names, self.defaults, strict=True)]
        return [value if bind is None else bind(value) for bind, value in zip(self.binds, values, strict=True)]

    def records_of(self, rows: list[asyncpg.Record], make: Callable[[Any], Any] | None = None) -> list[Any]:
        if self.record is None:  # a textual statement of untyped columns: the values as the driver gave them
            return [_record_type(tuple(row.keys()))._make(row) for row in rows]
        return list(map(self.converter(make or self.record._make), rows))  # the converter looked up once

    def converter(self, make: Callable[[Any], Any]) -> Callable[[asyncpg.Record], Any]:
        found = self.converters.get(make)
        if found is None:
            found = self.converters[make] = _converter(self.results, make)
        return found


def _converter(results: tuple[Callable[[Any], Any] | None, ...], make: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A row to what `make` makes of its values, each through its column's processor if it has one: one call,
    written for these columns, instead of a generator of every column per row."""
    if not any(results):
        return make
    values = ", ".join(f"p{i}(row[{i}])" if result else f"row[{i}]" for i, result in enumerate(results))
    scope = {f"p{i}": result for i, result in enumerate(results) if result} | {"make": make}
    exec(f"def convert(row):\n    return make(({values},))", scope)  # indexes and names of our own
    return scope["convert"]


def row_converter(columns: list[sa.Column], make: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A row of these columns, as the driver gives it (a nested row of a table's type too), to what `make` makes."""
    return _converter(tuple(_result_processor(column.type) for column in columns), make)


@functools.cache
def compiled(statement: sa.Executable) -> Compiled:
    """`statement` compiled once per process (statements of hot paths are module constants)."""
    return _compiled_of(statement.compile(dialect=_DIALECT))


_shapes: dict[Any, tuple[Compiled, Any] | None] = {}
shapes_max = 1_000  # statements built per request, by shape: their compiled form, kept per process


def shaped(statement: sa.Executable) -> tuple[Compiled, dict[str, Any]] | None:
    """A statement built for one request (a page's filters and cursor in it): compiled once per shape, as
    SQLAlchemy's own cache does (the same cache key, the values it holds taken out), and the values; None
    for a statement the driver cannot take as it is (a list parameter rendered per call, `IN (…)`)."""
    key = statement._generate_cache_key()
    if key is None:  # a construct SQLAlchemy cannot key
        return None
    if key.key not in _shapes:
        if len(_shapes) >= shapes_max:
            _shapes.clear()
        done = statement.compile(dialect=_DIALECT, cache_key=key)
        expanding = any(bind.expanding for bind in done.binds.values())
        _shapes[key.key] = None if expanding else (_compiled_of(done), done)
    found = _shapes[key.key]
    return None if found is None else (found[0], found[1].construct_params(extracted_parameters=key.bindparams))


def _compiled_of(done: Any) -> Compiled:
    assert not any(bind.expanding for bind in done.binds.values()), "a list parameter is one array: `= ANY(:ids)`"
    names = tuple(done.positiontup or ())
    columns = done._result_columns
    return Compiled(
        sql=done.string,
        names=names,
        defaults=tuple(done.binds[name].effective_value for name in names),
        binds=tuple(_bind_processor(done.binds[name].type) for name in names),
        record=_record_type(tuple(column.keyname for column in columns)) if columns else None,
        results=tuple(_result_processor(column.type) for column in columns),
    )


def _result_processor(kind: Any) -> Callable[[Any], Any] | None:
    """How a column's value comes in. A number's processor depends on the column's type in the database,
    which SQLAlchemy learns only from a result: the driver gives a `numeric` as a Decimal and a `double` as a
    float already, so only a Numeric that wants floats needs one."""
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
        return None if kind.asdecimal else float
    if isinstance(kind, sa.Enum) and sa.String().result_processor(_DIALECT, None) is None:
        return kind._object_lookup.__getitem__  # a stored name to its member (None to None) in one call
    return kind._cached_result_processor(_DIALECT, None)


def _bind_processor(kind: Any) -> Callable[[Any], Any] | None:
    """How a parameter's value goes out; none for an array of values that go out as they are (keys)."""
    if isinstance(kind, sa.ARRAY) and kind.item_type._cached_bind_processor(_DIALECT) is None:
        return None
    return kind._cached_bind_processor(_DIALECT)


@functools.cache
def _record_type(fields: tuple[str, ...]) -> Any:
    return collections.namedtuple("Row", fields)


retire_seconds_max = 10.0  # to close a connection whose statement was cancelled, before it is simply dropped


class PoolBusy(Exception):
    """No connection came free in time: the process has more requests in flight than its pool serves (the
    client is told to try again shortly, HTTP 503)."""


class Connections:
    """The driver's own connections of an engine, for statements sent alone: at most `size` open, the idle
    ones reused last-in first-out, a caller over the size waiting for one to come back.

    Borrowing one costs a few microseconds, against about 60 µs through the engine's pool (a greenlet, the
    pool's events, the reset on return) — a tenth of a small request. The connections hold no session state
    between statements (each statement is its own transaction), so nothing is reset on return. A
    connection that fails other than by the server refusing a statement is closed, and so is every
    connection opened before it (a restarted server drops them all), each when it is next taken."""

    def __init__(
        self, connect: Callable[[], Awaitable[asyncpg.Connection]], size: int, wait_seconds: float | None = None
    ) -> None:
        self.connect = connect
        self.wait_seconds = wait_seconds  # for a free connection, before `PoolBusy`; None: as long as it takes
        self.size = size
        self._free = asyncio.Semaphore(size)
        self._idle: list[tuple[int, asyncpg.Connection]] = []  # (generation, connection)
        self._generation = 0  # raised when a connection breaks: the older ones are suspect
        self._retiring: set[asyncio.Task[None]] = set()  # connections closing after a cancelled statement
        metrics.POOL_CAPACITY.inc(size)

    async def acquire(self) -> tuple[int, asyncpg.Connection]:
        if self._free.locked():
            metrics.POOL_WAITING.inc()
            try:
                async with asyncio.timeout(self.wait_seconds):
                    await self._free.acquire()
            except TimeoutError:
                raise PoolBusy(f"No connection came free within {self.wait_seconds} s.") from None
            finally:
                metrics.POOL_WAITING.dec()
        else:
            await self._free.acquire()  # a free place: taken at once, without suspending
        try:
            while self._idle:
                generation, connection = self._idle.pop()
                if generation == self._generation and not connection.is_closed():
                    break
                connection.terminate()
            else:
                generation, connection = self._generation, await self.connect()
        except BaseException:
            self._free.release()
            raise
        metrics.POOL_IN_USE.inc()
        return generation, connection

    def release(self, taken: tuple[int, asyncpg.Connection], broken: bool = False) -> None:
        generation, connection = taken
        metrics.POOL_IN_USE.dec()
        if broken:
            self._generation = max(self._generation, generation + 1)
            connection.terminate()
        elif generation == self._generation:
            self._idle.append(taken)
        else:
            connection.terminate()
        self._free.release()

    def retire(self, taken: tuple[int, asyncpg.Connection]) -> None:
        """A connection whose statement was cancelled midway (its request gone): the driver asks the server
        to cancel the statement, and the connection is closed once that request has gone out, so that the
        statement does not run on (a write to its commit) in a session the pool no longer counts. Its place
        is free again only then."""

        async def close() -> None:
            try:
                await asyncio.wait_for(taken[1].close(), retire_seconds_max)  # waits for the cancel request
            except BaseException:
                taken[1].terminate()
                raise
            finally:
                metrics.POOL_IN_USE.dec()
                self._free.release()

        task = asyncio.ensure_future(close())
        self._retiring.add(task)
        task.add_done_callback(self._retired)

    def _retired(self, task: asyncio.Task[None]) -> None:
        self._retiring.discard(task)
        if not task.cancelled():
            task.exception()  # a close that failed or took too long ended in terminate(): nothing to report

    def terminate(self) -> None:
        """Close the idle connections at once (the engine is disposed); one in use is closed when it is back."""
        self._generation += 1
        for _, connection in self._idle:
            connection.terminate()
        self._idle.clear()
        metrics.POOL_CAPACITY.dec(self.size)


def connections_of(engine: AsyncEngine) -> Connections:
    """The driver's connections of `engine` (`loyalty.database.make_engine` gives every engine its own)."""
    return engine.sync_engine.pool.statements  # type: ignore[attr-defined]


async def rows(
    engine: AsyncEngine,
    statement: sa.Executable,
    params: Mapping[str, Any],
    make: Callable[[Any], Any] | None = None,
) -> list[Any]:
    """The rows of `statement` (a constant: compiled once per process), sent alone on one of `engine`'s
    driver connections: records read by attribute and by position, like SQLAlchemy's rows (or what `make`
    makes of each row's values, a table's record type's `_make`). A driver error is raised as SQLAlchemy's
    (`DBAPIError` with the driver's error as its `orig`), so callers handle both ways alike."""
    done = compiled(statement)
    return await _sent(engine, done, done.arguments(params), make)


async def built(
    engine: AsyncEngine, statement: sa.Executable, make: Callable[[Any], Any] | None = None
) -> list[Any] | None:
    """The rows of `statement` built for this request, its values in it (`shaped`), sent as `rows` does; None
    when the driver cannot take it as it is (the caller sends it through SQLAlchemy)."""
    found = shaped(statement)
    if found is None:
        return None
    done, values = found
    return await _sent(engine, done, done.arguments(values), make)


async def _sent(
    engine: AsyncEngine, done: Compiled, arguments: list[Any], make: Callable[[Any], Any] | None
) -> list[Any]:
    for observe in observers:
        observe(done.sql)
    pool = connections_of(engine)
    taken = await pool.acquire()
    try:
        found = await taken[1].fetch(done.sql, *arguments)
    except asyncpg.PostgresError as error:  # the server refused the statement, or ended the session
        ended = _session_ended(error) or taken[1].is_closed()
        pool.release(taken, broken=ended)
        raise _as_dbapi_error(done.sql, arguments, error, ended) from None
    except asyncio.CancelledError:
        pool.retire(taken)  # left mid-statement: the statement is cancelled, the connection closed
        raise
    except BaseException as error:
        # Broken: never handed out again.
        pool.release(taken, broken=True)
        if isinstance(error, Exception):
            raise sa.exc.DBAPIError(
                done.sql, arguments, DriverError(error), hide_parameters=True, connection_invalidated=True
            ) from None
        raise
    pool.release(taken)
    return done.records_of(found, make)


def _session_ended(error: asyncpg.PostgresError) -> bool:
    """The server ends the session with this error (terminated, shutting down, the connection lost): its
    connection is of no further use."""
    state = getattr(error, "sqlstate", None) or ""
    return state.startswith("08") or state in ("57P01", "57P02", "57P03")


def _as_dbapi_error(
    sql: str, arguments: list[Any], error: asyncpg.PostgresError, ended: bool = False
) -> sa.exc.DBAPIError:
    kind = sa.exc.IntegrityError if isinstance(error, asyncpg.IntegrityConstraintViolationError) else sa.exc.DBAPIError
    # never in a log: a PIN, a phone
    return kind(sql, arguments, DriverError(error), hide_parameters=True, connection_invalidated=ended)


class DriverError(Exception):
    """The driver's error where SQLAlchemy keeps it: its cause is the asyncpg error, as with SQLAlchemy's
    own adapter (`error.orig.__cause__`)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.__cause__ = cause
