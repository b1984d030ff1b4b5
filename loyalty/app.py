"""The ASGI application: GraphQL on /graphql, liveness on /healthz, readiness on /readyz."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain import passwords
from domain.errors import ErrorCode
from loyalty import migrate
from loyalty.areas import AREAS
from loyalty.config import Settings
from loyalty.database import make_engine, make_sessions, to_async_url
from loyalty.graphql import GRAPHIQL_ASSETS, GraphQLView, build_schema
from resolvers.context import Services

log = logging.getLogger(__name__)


# Every response: the browser runs and loads nothing but the service's own (the API page included), sniffs
# no types, sends no referrer, and shows the service in no frame.
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
     b"font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]  # fmt: skip


class BodyTooLarge(Exception):
    pass


class Edge:
    """What every HTTP request passes first, in one layer (each layer costs every request its time):

    - a request body is read up to `body_max_bytes`: a larger one (declared, or found while reading) is
      answered 413 with a GraphQL-shaped error, and the rest is never read, so one request cannot bloat
      the process;
    - every response carries `SECURITY_HEADERS`;
    - a client that hangs up before its request was read is no fault of ours: one line at INFO, not an
      error with a traceback (a load test ends thousands of connections that way).
    """

    def __init__(self, app: ASGIApp, body_max_bytes: int) -> None:
        self.app = app
        self.body_max_bytes = body_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        received = 0

        async def answer(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.body_max_bytes:
                    raise BodyTooLarge
            return message

        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        try:
            if declared.isdigit() and int(declared) > self.body_max_bytes:
                raise BodyTooLarge
            await self.app(scope, limited, answer)
        except BodyTooLarge:
            if not started:
                await self.too_large(answer)
        except ClientDisconnect:
            log.info("client disconnected before its request was read: %s %s", scope.get("method"), scope.get("path"))

    async def too_large(self, send: Send) -> None:
        message = f"The request body is larger than {self.body_max_bytes} bytes."
        body = {"errors": [{"message": message, "extensions": {"code": ErrorCode.REQUEST_TOO_LARGE.value}}]}
        await JSONResponse(body, status_code=413, headers={"connection": "close"})({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def configure_hashing(settings: Settings) -> None:
    passwords.configure(time_cost=settings.password_time_cost, memory_cost_kib=settings.password_memory_cost_kib)


gc_thresholds = (10_000, 20, 20)  # young, middle, old generation (Python's defaults: 700, 10, 10)


def app_from_environment() -> Starlette:
    """The app of one worker process of `loyalty serve --workers N`: its settings, and the database the
    parent started, come from the environment the parent set."""
    settings = Settings()
    assert settings.database_url, "the serving parent names the database in DATABASE_URL"
    return create_app(settings, to_async_url(settings.database_url))


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
        # What start-up built (the schema, the tables, the statements) lives as long as the process:
        # moved out of the collector's reach, a collection no longer walks it on every request's garbage.
        # Collecting the young generation every 10,000 allocations instead of 700 spends less time per
        # request for a little more memory between collections (docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        gc.set_threshold(*gc_thresholds)
        yield
        await services.jobs.stop()
        if own_engine:
            await engine.dispose()

    routes: list[BaseRoute] = [
        Route("/graphql", view, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    if not settings.production:  # the API page and its assets, served from the package itself
        routes.append(Mount("/graphiql/assets", StaticFiles(directory=GRAPHIQL_ASSETS), name="graphiql"))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Edge, body_max_bytes=settings.request_body_max_bytes)],
        lifespan=lifespan,
    )
    app.state.services = services
    return app
