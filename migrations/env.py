"""Alembic environment: runs on a connection handed in by the service, or on DATABASE_URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from domain.columns import metadata
from loyalty.migrate import validate_checks

config = context.config


def run_on(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata(), compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_from_url(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(run_on)
        await connection.commit()
    await validate_checks(engine)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    from loyalty.config import Settings
    from loyalty.database import to_async_url

    url = Settings().database_url
    if not url:
        raise SystemExit("Set DATABASE_URL to run alembic directly.")
    asyncio.run(run_from_url(to_async_url(url)))
