"""Health and readiness endpoints, and the GraphiQL page outside production."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import jwt

from loyalty.app import create_app
from loyalty.config import Settings
from loyalty.database import make_engine


async def test_healthz_and_readyz_report_up_and_at_head(api):
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


async def test_readyz_says_unavailable_when_the_database_is_unreachable(settings):
    app = create_app(settings, "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


async def test_a_signed_in_request_while_the_database_is_unreachable_is_a_graphql_503(settings):
    # given the service with its database out of reach, and a member's valid access token
    app = create_app(settings, "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    now = datetime.now(UTC)
    token = jwt.encode({"sid": 1, "sub": "MEMBER:1", "kind": "MEMBER", "exp": now + timedelta(minutes=5), "iat": now},
                       settings.signing_key, algorithm="HS256")  # fmt: skip
    # when the member asks for anything, then the answer says so, shaped as GraphQL, status 503
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/graphql", json={"query": "{ me { memberNumber } }"},
                                     headers={"authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 503
    assert response.json()["errors"] == [
        {"message": "The service cannot reach its database: try again shortly.", "extensions": {"code": "UNAVAILABLE"}}
    ]


async def test_a_request_that_gets_no_connection_in_time_is_a_graphql_503(settings, engine, demo, logged):
    # given the service with two connections for transactions and one for statements sent alone, waiting at most
    # 0.2 s for one, and all three held elsewhere
    url = engine.url.render_as_string(hide_password=False)
    tight = make_engine(url, pool_size=1, statement_pool_size=1, pool_wait_seconds=0.2, transaction_wait_seconds=0.2)
    app = create_app(settings, url, engine=tight)
    now = datetime.now(UTC)
    token = jwt.encode({"sid": 1, "sub": "MEMBER:1", "kind": "MEMBER", "exp": now + timedelta(minutes=5), "iat": now},
                       settings.signing_key, algorithm="HS256")  # fmt: skip
    login = """mutation { login(input: {kind: STAFF, login: "nobody", password: "not-a-password"}) {
        errors { code } } }"""
    held = await tight.sync_engine.pool.statements.acquire()
    try:
        async with tight.connect(), tight.connect():
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                # when a caller asks for the grades, a member signs in to ask for theirs, and another logs in
                asked = await client.post("/graphql", json={"query": "{ grades { code } }"})
                signed_in = await client.post("/graphql", json={"query": "{ me { memberNumber } }"},
                                              headers={"authorization": f"Bearer {token}"})  # fmt: skip
                logging_in = await client.post("/graphql", json={"query": login})
    finally:
        tight.sync_engine.pool.statements.release(held)
        await tight.dispose()
    # then each is told the service is busy, status 503 with when to try again, and the log says unavailable
    for response in (asked, signed_in, logging_in):
        assert (response.status_code, response.headers.get("retry-after")) == (503, "1"), response.text
        assert [(e["message"], e["extensions"]["code"]) for e in response.json()["errors"]] == [
            ("The service is busy: try again shortly.", "UNAVAILABLE")
        ]
    outcomes = [line.get("outcome") for line in logged() if line.get("event") == "request"][-3:]
    assert outcomes == ["unavailable"] * 3, outcomes


async def test_graphiql_is_served_in_development_only(api, engine):
    page = await api.client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    production = Settings(_env_file=None, environment="production", secret_key="k" * 40)
    app = create_app(production, str(engine.url), engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code != 200 or "graphiql" not in response.text.lower()


async def test_the_api_page_loads_every_asset_from_the_service_alone(api):
    # given the API page (development only)
    page = await api.client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    # then it names no other site, and the browser may run nothing from anywhere else
    references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert references and all(r.startswith("/") and not r.startswith("//") for r in references), references
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    # and every asset it references is served by the service itself
    for reference in references:
        asset = await api.client.get(reference)
        assert asset.status_code == 200 and asset.content, reference
        assert asset.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript", "text/css")


async def test_every_response_carries_the_security_headers(api):
    for response in (await api.client.get("/healthz"), await api.post({"query": "{ __typename }"})):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert "content-security-policy" in response.headers


async def test_a_client_that_hangs_up_before_its_request_is_read_is_one_line_at_info(app, demo, logged):
    # given a POST whose client is gone before its body arrives
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"20")],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
        "scheme": "http",
        "http_version": "1.1",
        "root_path": "",
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    # when the app handles it
    await app(scope, receive, send)
    # then nothing is answered, nothing is raised, and the request's one INFO line says what happened
    assert sent == []
    [line] = logged()
    assert (line["level"], line["event"], line["status"]) == ("info", "request", 499)
    assert line["event_detail"] == "the client disconnected before its request was read"
    assert "exception" not in line
