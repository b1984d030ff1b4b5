"""One statement straight to the driver: the round trip of a hot path without SQLAlchemy's execution layer.

SQLAlchemy's connection, execution-context and result machinery cost about 400 µs of CPU per statement
on this service's machines, more than a whole `{ __typename }` request; the driver's own call costs about
70 µs (docs/benchmarks.md, "One statement straight to the driver"). The paths every request or every
points movement takes (authentication, the one-statement writes, a member's own view) therefore compile
their statement once per process to the driver's SQL and send it on a connection borrowed from the
engine's own pool, outside any transaction: a statement sent alone is its own transaction.

The statement is still written with SQLAlchemy (a Core `select` or a `text` with typed columns), and its
parameters and results pass through the same type processors SQLAlchemy would apply (enums come back as
enums, JSON goes out as JSON), so a path reads the same whichever way it runs.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncEngine

_DIALECT = asyncpg_dialect.dialect()
# Who sees each statement sent this way, before it is sent: the test suite counts round trips with it.
observers: list[Callable[[str], None]] = []


@dataclass(frozen=True)
class Compiled:
    """A statement as the driver takes it: SQL with `$n` placeholders, the parameter names in their order
    with their type processors, and the record type of its rows with their columns' processors."""

    sql: str
    names: tuple[str, ...]
    defaults: tuple[Any, ...]  # the value a parameter has in the statement itself (a limit), if any
    binds: tuple[Callable[[Any], Any] | None, ...]
    record: Any
    results: tuple[Callable[[Any], Any] | None, ...]

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        values = [params.get(name, default) for name, default in zip(self.names, self.defaults, strict=True)]
        return [value if bind is None else bind(value) for bind, value in zip(self.binds, values, strict=True)]

    def record_of(self, row: asyncpg.Record) -> Any:
        if self.record is None:  # a textual statement of untyped columns: the values as the driver gave them
            return _record_type(tuple(row.keys()))._make(row)
        return self.record._make(
            value if result is None else result(value) for result, value in zip(self.results, row, strict=True)
        )


@functools.cache
def compiled(statement: sa.Executable) -> Compiled:
    """`statement` compiled once per process (statements of hot paths are module constants)."""
    done = statement.compile(dialect=_DIALECT)
    assert not any(bind.expanding for bind in done.binds.values()), "a list parameter is one array: `= ANY(:ids)`"
    names = tuple(done.positiontup or ())
    columns = done._result_columns
    return Compiled(
        sql=done.string,
        names=names,
        defaults=tuple(done.binds[name].effective_value for name in names),
        binds=tuple(done.binds[name].type._cached_bind_processor(_DIALECT) for name in names),
        record=_record_type(tuple(column.keyname for column in columns)) if columns else None,
        results=tuple(column.type._cached_result_processor(_DIALECT, None) for column in columns),
    )


@functools.cache
def _record_type(fields: tuple[str, ...]) -> Any:
    return collections.namedtuple("Row", fields)


async def rows(engine: AsyncEngine, statement: sa.Executable, params: Mapping[str, Any]) -> list[Any]:
    """The rows of `statement`, sent alone on a connection of `engine`'s pool: records read by attribute
    and by position, like SQLAlchemy's rows. A driver error is raised as SQLAlchemy's (`DBAPIError` with the
    driver's error as its `orig`), so callers handle both ways alike."""
    done = compiled(statement)
    arguments = done.arguments(params)
    for observe in observers:
        observe(done.sql)
    connection = await engine.raw_connection()
    try:
        found = await connection.driver_connection.fetch(done.sql, *arguments)
    except asyncpg.PostgresError as error:  # the server refused the statement; the connection is fine
        connection.close()
        raise _as_dbapi_error(done.sql, arguments, error) from None
    except BaseException as error:
        # Broken, or left mid-statement (a cancelled request): the pool must not hand it out again.
        connection.invalidate()
        if isinstance(error, Exception):
            raise sa.exc.DBAPIError(
                done.sql, arguments, DriverError(error), hide_parameters=True, connection_invalidated=True
            ) from None
        raise
    connection.close()  # back to the pool
    return [done.record_of(row) for row in found]


def _as_dbapi_error(sql: str, arguments: list[Any], error: asyncpg.PostgresError) -> sa.exc.DBAPIError:
    kind = sa.exc.IntegrityError if isinstance(error, asyncpg.IntegrityConstraintViolationError) else sa.exc.DBAPIError
    return kind(sql, arguments, DriverError(error), hide_parameters=True)  # never in a log: a PIN, a phone


class DriverError(Exception):
    """The driver's error where SQLAlchemy keeps it: its cause is the asyncpg error, as with SQLAlchemy's
    own adapter (`error.orig.__cause__`)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.__cause__ = cause
