"""The ASGI application: GraphQL on /graphql, liveness on /healthz, readiness on /readyz."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from domain import passwords
from loyalty import migrate
from loyalty.areas import AREAS
from loyalty.config import Settings
from loyalty.database import make_engine, make_sessions
from loyalty.graphql import GraphQLView, build_schema
from resolvers.context import Services


def configure_hashing(settings: Settings) -> None:
    passwords.configure(time_cost=settings.password_time_cost, memory_cost_kib=settings.password_memory_cost_kib)


def create_app(settings: Settings, database_url: str, engine: AsyncEngine | None = None) -> Starlette:
    """The app; pass `engine` to share one (tests), otherwise it is made and disposed with the app."""
    configure_hashing(settings)
    own_engine = engine is None
    engine = engine or make_engine(database_url, pool_size=settings.database_pool_size)
    services = Services(
        sessions=make_sessions(engine),
        read_sessions=make_sessions(engine.execution_options(isolation_level="AUTOCOMMIT")),
        policies=settings.policies(),
        areas=AREAS,
    )
    view = GraphQLView(build_schema(settings), services, settings)
    head = migrate.head_revision()

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        try:
            async with engine.connect() as connection:
                revision = await connection.scalar(sa.text("SELECT version_num FROM alembic_version"))
        except Exception as error:  # any failure to reach the database means "not ready"
            return JSONResponse({"status": "unavailable", "reason": type(error).__name__}, status_code=503)
        if revision != head:
            return JSONResponse({"status": "migrating", "revision": revision, "head": head}, status_code=503)
        return JSONResponse({"status": "ready", "revision": revision})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await services.jobs.stop()
        if own_engine:
            await engine.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    return app
