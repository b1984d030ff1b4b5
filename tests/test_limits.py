"""One anonymous request cannot stall or bloat the server: body size and document length limits."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from loyalty.app import create_app
from loyalty.config import Settings

BODY_MAX = 20_000
LENGTH_MAX = 5_000


@pytest.fixture
def limited(settings: Settings) -> Settings:
    return settings.model_copy(update={"request_body_max_bytes": BODY_MAX, "query_length_max": LENGTH_MAX})


@pytest.fixture
async def client(limited: Settings, engine, demo) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(limited, str(engine.url), engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


def padded(total_bytes: int) -> bytes:
    """A valid GraphQL request of exactly `total_bytes`, padded in a variable the query does not use."""
    empty = json.dumps({"query": "{ __typename }", "variables": {"pad": ""}}).encode()
    return json.dumps({"query": "{ __typename }", "variables": {"pad": "x" * (total_bytes - len(empty))}}).encode()


def commented(length: int) -> str:
    """A document of exactly `length` characters, most of them a comment (comments are no tokens)."""
    query = "{ __typename }\n#"
    return query + "c" * (length - len(query))


@pytest.mark.parametrize("declared", [True, False])
async def test_a_body_at_the_limit_is_read_and_one_over_is_refused_413(client, declared):
    headers = {"content-type": "application/json"}

    async def chunks(body: bytes) -> AsyncIterator[bytes]:  # no Content-Length: found while reading
        for start in range(0, len(body), 4_096):
            yield body[start : start + 4_096]

    for size, status in ((BODY_MAX, 200), (BODY_MAX + 1, 413)):
        body = padded(size)
        assert len(body) == size
        content = body if declared else chunks(body)
        response = await client.post("/graphql", content=content, headers=headers)
        assert response.status_code == status, response.text
        if status == 413:
            assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
            assert "data" not in response.json()
        else:
            assert response.json() == {"data": {"__typename": "Query"}}


async def test_a_document_at_its_length_limit_runs_and_one_character_more_is_refused(client):
    at_limit = await client.post("/graphql", json={"query": commented(LENGTH_MAX)})
    assert at_limit.json() == {"data": {"__typename": "Query"}}
    # one character more is a request error: in application/json, 200 and no data, as any other
    over = await client.post("/graphql", json={"query": commented(LENGTH_MAX + 1)})
    assert over.status_code == 200
    assert over.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert over.json()["data"] is None
    # and for a client that accepts application/graphql-response+json, 400 and no data entry
    strict = {"accept": "application/graphql-response+json"}
    over = await client.post("/graphql", json={"query": commented(LENGTH_MAX + 1)}, headers=strict)
    assert over.status_code == 400 and "data" not in over.json()
    assert over.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


NESTED = 9_000  # levels, within the body limit: far beyond what the JSON decoder follows


@pytest.mark.parametrize(
    "body",
    [
        b"[" * NESTED + b"]" * NESTED,
        b'{"query": "{ __typename }", "variables": {"v": ' + b"[" * NESTED + b"]" * NESTED + b"}}",
        b"null",
        b"\xff\xfe",
        b'{"query": "{ __typename }"',
    ],
)
async def test_a_body_that_is_no_usable_json_is_a_shaped_400(client, body):
    response = await client.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@contextlib.asynccontextmanager
async def served(settings: Settings, engine) -> AsyncIterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(settings, str(engine.url), engine=engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(1_000):  # at most ten seconds
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def test_healthz_keeps_answering_while_large_and_slow_requests_arrive(limited, engine, demo):
    async with served(limited, engine) as port:
        # given clients sending documents at the length limit, and one trickling a body at the size limit
        trickler_reader, trickler = await asyncio.open_connection("127.0.0.1", port)
        trickler.write(
            b"POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            + f"content-length: {BODY_MAX}\r\n\r\n".encode()
            + padded(BODY_MAX)[:100]
        )
        await trickler.drain()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            documents = [client.post("/graphql", json={"query": commented(LENGTH_MAX)}) for _ in range(20)]
            # when a probe asks for /healthz meanwhile
            health = client.get("/healthz")
            answers = await asyncio.gather(health, *documents)
        # then it answers, and so does every document, while the slow body is still arriving
        assert answers[0].json() == {"status": "ok"}
        assert all(a.json() == {"data": {"__typename": "Query"}} for a in answers[1:])
        assert not trickler_reader.at_eof()
        trickler.close()
