"""The ASGI application: GraphQL on /graphql, liveness on /healthz, readiness on /readyz."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import hmac
import ipaddress
import logging
import os
import re
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain import clock, metrics, passwords, requests
from domain.auth import principals
from domain.auth.service import AuthPolicy
from domain.errors import ErrorCode
from domain.work import driver, jobs
from loyalty import logs, migrate, tracing
from loyalty.areas import AREAS
from loyalty.config import Settings
from loyalty.database import make_engine, make_sessions, to_async_url
from loyalty.graphql import GRAPHIQL_ASSETS, GraphQLView, build_schema
from resolvers.context import Services

log = logging.getLogger(__name__)
access = logs.get("loyalty.access")


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


_REQUEST_ID_MAX = 128  # characters of a request id a proxy may hand on
_REQUEST_ID = re.compile(rf"[A-Za-z0-9._:@+=/-]{{1,{_REQUEST_ID_MAX}}}")
_ROUTED = {"/graphql", "/healthz", "/readyz", "/metrics"}  # paths named in the metrics; any other is "other"


class Networks:
    """Whether an address lies in one of a list of networks (the trusted proxies, who may read the metrics)."""

    def __init__(self, networks: list[str]) -> None:
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]

    @functools.lru_cache(maxsize=1_024)  # noqa: B019 — one per app, the clients' addresses few
    def __contains__(self, address: object) -> bool:
        try:
            ip = ipaddress.ip_address(str(address))
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks)


class Edge:
    """What every HTTP request passes first, in one layer (each layer costs every request its time):

    - the request's record (`domain/requests.py`): its id is the trusted proxy's `X-Request-ID`, or one
      of our own, and is returned in the response's `X-Request-ID`; behind a trusted proxy, the client
      is the address the proxy names in `X-Forwarded-For`;
    - once answered, one log line (`request`) and one observation of the latency metric: the
      operation, outcome, status and duration;
    - a request body is read up to `body_max_bytes`: a larger one (declared, or found while reading) is
      answered 413 with a GraphQL-shaped error, and the rest is never read, so one request cannot bloat
      the process;
    - every response carries `SECURITY_HEADERS`;
    - a client that hangs up before its request was read is no fault of ours: its line says so at INFO,
      with no traceback (a load test ends thousands of connections that way).
    """

    def __init__(
        self, app: ASGIApp, body_max_bytes: int, trusted_proxies: Networks | None = None, traced: bool = False
    ) -> None:
        self.app = app
        self.traced = traced  # inside OpenTelemetry's middleware: the log lines name the trace
        self.body_max_bytes = body_max_bytes
        self.trusted_proxies = trusted_proxies or Networks([])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = None
        peer = scope.get("client")
        if self.trusted_proxies and peer and peer[0] in self.trusted_proxies:
            request_id, scope = self.forwarded(scope, headers)
        path = scope.get("path", "")
        record = requests.RequestRecord(
            request_id or os.urandom(16).hex(),  # as random as a UUID's, a fifth of its cost
            client=scope["client"][0] if scope.get("client") else None,
            operation=f"{scope.get('method')} {path}" if path in _ROUTED else "other",
        )
        if self.traced:
            record.trace_id = tracing.current_trace_id()
        token = requests.begin(record)
        status = 0
        received = 0
        id_header = (b"x-request-id", record.request_id.encode())

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS, id_header]}
            await send(message)

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.body_max_bytes:
                    raise BodyTooLarge
            return message

        declared = headers.get(b"content-length", b"")
        try:
            if declared.isdigit() and int(declared) > self.body_max_bytes:
                raise BodyTooLarge
            await self.app(scope, limited, answer)
        except BodyTooLarge:
            if not status:
                await self.too_large(answer)
        except ClientDisconnect:
            status = _CLIENT_CLOSED
        except Exception:
            record.refused(ErrorCode.INTERNAL.value, requests.Outcome.INTERNAL)
            status = status or 500  # answered by Starlette's error handler, outside this layer
            raise
        finally:
            self.answered(record, scope, status)
            requests.end(token)

    def forwarded(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[str | None, Scope]:
        """What a trusted proxy says of the request: its id, and the client it came from (the last address
        in `X-Forwarded-For` that is not one of the proxies; a header sent on several lines, as proxies that add a
        line of their own do, is read as one list in their order)."""
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.fullmatch(given) else None
        lines = [value for name, value in scope.get("headers") or [] if name == b"x-forwarded-for"]
        hops = [h.strip() for h in b",".join(lines).decode("latin-1").split(",") if h.strip()]
        for hop in reversed(hops):
            if not _is_address(hop):
                break  # not an address: the proxy's word for the client is no good
            if hop not in self.trusted_proxies:
                return request_id, {**scope, "client": (hop, 0), FORWARDED_BY_TRUSTED: True}
        return request_id, {**scope, FORWARDED_BY_TRUSTED: False}  # from a proxy, for a client it did not name

    def answered(self, record: requests.RequestRecord, scope: Scope, status: int) -> None:
        if status >= 500 and status != 503:
            record.refused(ErrorCode.INTERNAL.value, requests.Outcome.INTERNAL)
        elif status >= 400 and record.outcome == requests.Outcome.OK:  # 503: not ready (migrating), unavailable
            record.outcome = requests.Outcome.ERROR  # refused before GraphQL ran: 404, 405, 413, 415, …
        seconds = record.seconds
        operation = record.operation or "other"
        metrics.series(metrics.REQUEST_SECONDS, operation, record.outcome).observe(seconds)
        fields = {
            "method": scope.get("method"),
            "path": scope.get("path"),
            "status": status,
            "outcome": record.outcome,
            "duration_ms": round(seconds * 1_000, 2),
            "client": record.client,
        }
        if record.operation_name:
            fields["operation_name"] = record.operation_name
        if record.codes:
            fields["codes"] = record.codes
        if record.credential_refused:
            fields["credential_refused"] = record.credential_refused
        if status == _CLIENT_CLOSED:
            fields["event_detail"] = "the client disconnected before its request was read"
        ours = record.outcome in (requests.Outcome.INTERNAL, requests.Outcome.UNAVAILABLE)
        (access.warning if ours else access.info)("request", **fields)

    async def too_large(self, send: Send) -> None:
        message = f"The request body is larger than {self.body_max_bytes} bytes."
        body = {"errors": [{"message": message, "extensions": {"code": ErrorCode.REQUEST_TOO_LARGE.value}}]}
        await JSONResponse(body, status_code=413, headers={"connection": "close"})({"type": "http"}, _no_body, send)


FORWARDED_BY_TRUSTED = "loyalty.forwarded_by_trusted_proxy"  # in the scope: the client is the proxy's word


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


_CLIENT_CLOSED = 499  # the status a request's line shows when its client hung up before it was answered


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


_FORWARDING = ("x-forwarded-for", "forwarded", "x-real-ip")


def may_read_metrics(request: Request, readers: Networks, token: str | None) -> bool:
    """A reader by address is one that came straight from there: a request a proxy the service does not
    trust handed on (it says whom for) comes from wherever the proxy's client is, though it arrives from the
    proxy's address, which may be a reader's (a proxy on the same host: 127.0.0.1)."""
    via_trusted = request.scope.get(FORWARDED_BY_TRUSTED)  # True: the client the proxy named; False: none
    handed_on = via_trusted is False or (via_trusted is None and any(h in request.headers for h in _FORWARDING))
    if not handed_on and request.client and request.client.host in readers:
        return True
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(credential.encode(), token.encode())


def metrics_text() -> bytes:
    """The metrics in Prometheus' text format: this process's, or all workers' when they share a directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def configure_hashing(settings: Settings) -> None:
    passwords.configure(time_cost=settings.password_time_cost, memory_cost_kib=settings.password_memory_cost_kib)


gc_thresholds = (10_000, 20, 20)  # young, middle, old generation (Python's defaults: 700, 10, 10)


def app_from_environment() -> Starlette:
    """The app of one worker process of `loyalty serve --workers N`: its settings, and the database the
    parent started, come from the environment the parent set."""
    settings = Settings()
    assert settings.database_url, "the serving parent names the database in DATABASE_URL"
    logs.configure(settings.log_level, settings.logs_as_json)
    return create_app(settings, to_async_url(settings.database_url))


def create_app(
    settings: Settings, database_url: str, engine: AsyncEngine | None = None, tracer_provider: Any = None
) -> Starlette:
    """The app; pass `engine` to share one (tests), otherwise it is made and disposed with the app. It is
    traced when OpenTelemetry's exporter is configured (`loyalty.tracing`), or to `tracer_provider`."""
    configure_hashing(settings)
    clock.use_zone(settings.time_zone)
    own_engine = engine is None
    engine = engine or make_engine(
        database_url,
        pool_size=settings.database_pool_size,
        statement_pool_size=settings.database_statement_pool_size,
        pool_wait_seconds=settings.database_pool_wait_seconds,
        idle_in_transaction_seconds=settings.database_idle_in_transaction_seconds,
    )
    services = Services(
        sessions=make_sessions(engine),
        read_sessions=make_sessions(engine.execution_options(isolation_level="AUTOCOMMIT")),
        policies=settings.policies(),
        areas=AREAS,
    )
    tracer_provider = tracer_provider or tracing.provider_from_environment()
    view = GraphQLView(build_schema(settings, tracer_provider), services, settings)
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

    metrics_readers = Networks(settings.metrics_networks)

    async def metrics_page(request: Request) -> Response:
        """The metrics, to a client from `metrics_networks` or with the metrics token; to anyone else, none."""
        if not may_read_metrics(request, metrics_readers, settings.metrics_token):
            return JSONResponse({"errors": [{"message": "Not found.", "extensions": {"code": "NOT_FOUND"}}]}, 404)
        try:
            async with services.read_sessions() as session:
                for kind, left in (await jobs.left_interrupted(session)).items():
                    metrics.JOB_RUNS_LEFT_INTERRUPTED.labels(kind).set(left)
        except Exception as error:  # the page still answers what the processes counted
            log.warning("the runs left interrupted could not be read: %s", type(error).__name__)
        return Response(metrics_text(), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # What start-up built (the schema, the tables, the statements) lives as long as the process:
        # moved out of the collector's reach, a collection no longer walks it on every request's garbage.
        # Collecting the young generation every 10,000 allocations instead of 700 spends less time per
        # request for a little more memory between collections (docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        gc.set_threshold(*gc_thresholds)
        # The principals of the sessions in use are remembered while their changes are heard of.
        remembered = services.policy(AuthPolicy).principals
        hearing = None
        if remembered is not None and remembered.seconds > 0:
            hearing = asyncio.create_task(principals.listen(remembered, driver.connections_of(engine).connect))
        yield
        if hearing is not None:
            hearing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hearing
        await services.jobs.stop()
        if own_engine:
            await engine.dispose()
        if tracer_provider is not None:
            tracing.stop(tracer_provider)

    routes: list[BaseRoute] = [
        Route("/graphql", view),  # every method: the view refuses what is not GraphQL's (405, `Allow: POST`)
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_page),
    ]
    if not settings.production:  # the API page and its assets, served from the package itself
        routes.append(Mount("/graphiql/assets", StaticFiles(directory=GRAPHIQL_ASSETS), name="graphiql"))
    app = Starlette(
        routes=routes,
        middleware=[
            *tracing.middleware(tracer_provider, Networks(settings.trusted_proxies)),
            Middleware(
                Edge,
                body_max_bytes=settings.request_body_max_bytes,
                trusted_proxies=Networks(settings.trusted_proxies),
                traced=tracer_provider is not None,
            ),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.schema = view.schema  # its parsed documents, for the tests of their limits
    return app
