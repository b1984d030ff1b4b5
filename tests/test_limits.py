"""One anonymous request cannot stall or bloat the server: body size and document length limits, the fields
a document selects, the list items an operation could return, and the parsed documents a process keeps."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from loyalty import completion
from loyalty import graphql as loyalty_graphql
from loyalty.app import create_app
from loyalty.config import Settings
from loyalty.demo import Demo
from tests.api import Api

BODY_MAX = 20_000
LENGTH_MAX = 5_000


@pytest.fixture
def limited(settings: Settings) -> Settings:
    return settings.model_copy(update={"request_body_max_bytes": BODY_MAX, "query_length_max": LENGTH_MAX})


@pytest.fixture
def limited_app(limited: Settings, engine):
    return create_app(limited, str(engine.url), engine=engine)


@pytest.fixture
async def client(limited_app, demo) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=limited_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
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
        # not UTF-8, though the standard library's decoder would take it
        '{"query": "{ __typename }"}'.encode("utf-16"),
        '{"query": "{ __typename }"}'.encode("utf-16-le"),
        '{"query": "{ __typename }"}'.encode("utf-32"),
        # numbers JSON has not, though the standard library's decoder would take them
        b'{"query": "{ __typename }", "variables": {"v": NaN}}',
        b'{"query": "{ __typename }", "variables": {"v": -Infinity}}',
        b'{"query": "{ __typename }", "variables": {"v": 1e999}}',
    ],
)
async def test_a_body_that_is_no_usable_json_is_a_shaped_400(client, body):
    response = await client.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'{"query": "{ __typename }", "query": "mutation { logout { errors { code } } }"}', '"query"'),
        (b'{"query": "query($v: ID!) { node(id: $v) { id } }", "variables": {"v": "1", "v": "2"}}', '"v"'),
        (b'{"query": "{ __typename }", "variables": {"a": [{"b": 1, "b": 1}]}}', '"b"'),
    ],
)
async def test_a_body_naming_a_member_twice_in_one_object_is_a_shaped_400(client, body, named):
    # given a body whose object names a member twice (a proxy reading the first would see another request)
    # when it is sent, then it is refused before anything runs, naming the member
    response = await client.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["message"].endswith(f"{named} is named twice in one object."), error


async def test_a_document_at_its_field_limit_runs_and_one_field_more_is_refused(client):
    # given documents that select the same field many times, whose validation takes time by the square of them
    fields_max = loyalty_graphql.query_fields_max
    at_limit = "{" + " __typename" * fields_max + " }"
    over = "{" + " grades { code }" * (fields_max // 2 + 1) + " }"
    spread = "{" + " ... on Query { __typename }" * (fields_max + 1) + " }"
    # when they are sent, then the one at the limit runs
    assert (await client.post("/graphql", json={"query": at_limit})).json() == {"data": {"__typename": "Query"}}
    # and those over it are refused before validation, wherever their fields are
    for query in (over, spread):
        answer = (await client.post("/graphql", json={"query": query})).json()
        assert answer["data"] is None
        assert [e["extensions"]["code"] for e in answer["errors"]] == ["QUERY_TOO_COMPLEX"], answer


def list_items_refusal(items: int) -> list[dict]:
    """The top-level errors of an operation refused for the list items it could return."""
    message = (
        f"The query could return up to {items:,} list items; at most {loyalty_graphql.list_items_max:,} are"
        " allowed: ask for smaller pages."
    )
    return [{"message": message, "extensions": {"code": "QUERY_TOO_COMPLEX"}}]


def reads_refusal(reads: int) -> list[dict]:
    """The top-level errors of an operation refused for the objects its fields could read for one by one."""
    message = (
        f"The query could read the database on its own for {reads:,} objects (a member's points history, statement"
        f" or redemptions in each of a page, …); at most {loyalty_graphql.reads_max} are allowed: ask for them one"
        " object at a time, or for a smaller page."
    )
    return [{"message": message, "extensions": {"code": "QUERY_TOO_COMPLEX"}}]


def refused_as(answer: dict) -> list[dict]:
    """`answer`'s top-level errors, as messages and extensions, for an answer that ran nothing."""
    assert answer["data"] is None, answer
    return [{"message": e["message"], "extensions": e["extensions"]} for e in answer["errors"]]


# 100 members, each with 100 redemptions: the most list items an operation may ask for (10,100).
PAGE_OF_PAGES = "members(first: 100) { edges { node { redemptions(first: 100) { edges { node { id } } } } } }"
ONE_MORE = "clubs(first: 1) { edges { cursor } }"


async def test_nested_pages_under_aliases_are_refused_before_anything_runs(client, engine, demo: Demo, statements):
    # given a member, and a document within the depth, alias, field and token limits that nests pages of 100:
    # 15 aliases × 100 redemptions × 100 redemptions of each one's member
    api = Api(client, engine, demo)
    await api.token("member")
    aliases = " ".join(f"b{i}: redemptions(first:100){{edges{{node{{member{{...M}}}}}}}}" for i in range(15))
    attack = (
        "fragment R on Redemption{id points lines{quantity item{code}}} "
        "fragment M on Member{redemptions(first:100){edges{node{...R}}}} "
        f"{{ me {{ {aliases} }} }}"
    )
    statements.clear()
    # when the member sends it
    answer = await api.gql(attack, as_="member")
    # then it is refused for the 301,500 list items it could return (a redemption's lines, a short list, as one),
    # and for the 1,515 members' redemptions it could read one by one, before any redemption is read
    assert refused_as(answer) == list_items_refusal(15 * (100 + 100 * (100 + 100 * 1))) + reads_refusal(1_515)
    assert not any("redemption" in statement.lower() for statement in statements), statements


async def test_a_page_of_full_pages_runs_at_the_list_items_limit_and_one_item_more_is_refused(
    client, engine, demo: Demo
):
    # given staff, and a page of 100 members each with a page of 100 redemptions: the limit
    api = Api(client, engine, demo)
    assert loyalty_graphql.list_items_max == 100 + 100 * 100
    # when it is asked for, then it runs
    answer = await api.gql(f"{{ {PAGE_OF_PAGES} }}", as_="hq_admin")
    assert "errors" not in answer and answer["data"]["members"]["edges"], answer
    # and with one list item more it is refused
    answer = await api.gql(f"{{ {PAGE_OF_PAGES} {ONE_MORE} }}", as_="hq_admin")
    assert refused_as(answer) == list_items_refusal(10_101)


async def test_a_plain_list_counts_the_most_items_it_declares(client, engine, demo: Demo):
    # given staff, and a page of 100 members each with their grade history (the last 100 changes): the limit
    api = Api(client, engine, demo)
    histories = "members(first: 100) { edges { node { gradeHistory { kind } } } }"
    # when it is asked for, then it runs
    answer = await api.gql(f"{{ {histories} }}", as_="hq_admin")
    assert "errors" not in answer and answer["data"]["members"]["edges"], answer
    # and with one list item more it is refused, as a page of pages is
    answer = await api.gql(f"{{ {histories} {ONE_MORE} }}", as_="hq_admin")
    assert refused_as(answer) == list_items_refusal(10_101)
    # and the statements of a page of 11 members, each of up to 1,000 entries, are refused
    statements = 'members(first: 11) { edges { node { pointsStatement(month: "2026-01") { entries { id } } } } }'
    answer = await api.gql(f"{{ {statements} }}", as_="hq_admin")
    assert refused_as(answer) == list_items_refusal(11 * (1 + 1_000))


@pytest.mark.parametrize(
    ("who", "query"),
    [
        ("member", "me { redemptions(first: 5) { edges { node { cancellations { items { quantity } } } } } }"),
        ("hq_admin", "redemptions { edges { node { fulfilments { state settlements { outcome } } } } }"),
        ("hq_admin", "fulfilments(first: 100) { edges { node { settlements { outcome }"
                     " redemption { lines { quantity } } } } }"),
        ("hq_admin", "members(first: 28) { edges { node { points { expiringSoon { points expiresOn } } } } }"),
        ("hq_admin", "customers(first: 100) { edges { node { accounts { accountNumber subscriberNumbers } } } }"),
    ],
    ids=["a member's redemptions with their cancellations", "redemptions with their deliveries' settlements",
         "deliveries with their settlements and lines", "members' points expiring in 30 days",
         "customers with their accounts and lines"],
)  # fmt: skip
async def test_the_lists_front_ends_ask_for_are_within_the_limits(client, engine, demo: Demo, who, query):
    api = Api(client, engine, demo)
    answer = await api.gql(f"{{ {query} }}", as_=who)
    assert "errors" not in answer, answer


async def test_fields_that_read_for_each_object_count_every_object_they_could_be_asked_on(
    client, engine, demo: Demo, statements
):
    # given staff, and a page of 100 members each with their statement of a month: a read per member, the limit
    api = Api(client, engine, demo)
    await api.token("hq_admin")
    each = 'members(first: 100) { edges { node { pointsStatement(month: "2026-01") { closing } %s } } }'
    # when it is asked for, then it runs
    answer = await api.gql(f"{{ {each % ''} }}", as_="hq_admin")
    assert "errors" not in answer and answer["data"]["members"]["edges"], answer
    # and with each member's redemptions too it is refused before anything runs: 200 reads of their own
    statements.clear()
    answer = await api.gql(f"{{ {each % 'redemptions(first: 1) { edges { node { id } } }'} }}", as_="hq_admin")
    assert refused_as(answer) == reads_refusal(200)
    assert not any("member_number" in statement for statement in statements), statements


async def test_a_page_size_given_by_a_variable_counts_as_the_largest_page(client, engine, demo: Demo):
    # given a page of pages whose sizes are variables (validation sees no values; a valid document is not
    # validated again, whatever values its next request brings)
    api = Api(client, engine, demo)
    pages = PAGE_OF_PAGES.replace("first: 100", "first: $outer", 1).replace("first: 100", "last: $inner")
    query = "query($outer: Int, $inner: Int) { " + pages + " }"
    small = {"outer": 2, "inner": 1}
    # when it is sent with small pages, then it runs
    answer = await api.gql(query, small, as_="hq_admin")
    assert "errors" not in answer and len(answer["data"]["members"]["edges"]) == 2, answer
    # and with one list item more it is refused, as if each variable were a page of 100
    over = "query($outer: Int, $inner: Int) { " + pages + " " + ONE_MORE + " }"
    assert refused_as(await api.gql(over, small, as_="hq_admin")) == list_items_refusal(10_101)


async def test_the_pages_of_fragments_count_where_they_are_spread(client, engine, demo: Demo):
    # given the inner pages in a named fragment, spread in each member, and an inline fragment with one page more
    api = Api(client, engine, demo)
    query = """
        fragment Redemptions on Member { redemptions(last: 100) { edges { node { id } } } }
        { members(first: 100) { edges { node { ...Redemptions } } } ... on Query { %s } }
    """
    # when it is sent, then it is refused as the same pages written in place are
    assert refused_as(await api.gql(query % ONE_MORE, as_="hq_admin")) == list_items_refusal(10_101)
    # and a fragment spread twice counts twice
    twice = query.replace("...Redemptions", "...Redemptions ...Redemptions") % "__typename"
    assert refused_as(await api.gql(twice, as_="hq_admin")) == list_items_refusal(100 + 2 * 100 * 100) + reads_refusal(
        200
    )


def doubling(levels: int, innermost: str) -> str:
    """A document of fragments each spreading the one before twice, `levels` deep: a kilobyte that stands
    for 2^levels copies of `innermost` written out."""
    fragments = " ".join(f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1))
    return f"{{ ...F{levels} }} fragment F0 on Query {{ {innermost} }} {fragments}"


async def test_fragments_doubling_forty_deep_are_measured_as_written_out(client, engine, demo: Demo):
    api = Api(client, engine, demo)
    # given forty levels of fragments, each spreading the one before twice, around one alias
    aliased = doubling(40, "g: grades { code }")
    # when it is sent, then it is refused for the aliases it holds written out, counted to the last one
    assert refused_as(await api.gql(aliased, as_="member")) == [
        {"message": f"The query holds {2**40:,} aliases; at most 15 are allowed.",
         "extensions": {"code": "QUERY_TOO_COMPLEX"}}
    ]  # fmt: skip
    # and without the alias it runs, its field answered once
    answer = await api.gql(doubling(40, "grades { code }"), as_="member")
    assert "errors" not in answer and answer["data"]["grades"], answer


async def test_depth_counts_through_fragments(client, engine, demo: Demo):
    api = Api(client, engine, demo)
    # given the limit's ten levels of fields, the innermost five in a fragment
    inner = "fragment Up on Branch { parent { parent { parent { parent { code } } } } }"
    at_limit = f"{{ me {{ club {{ branch {{ parent {{ parent {{ parent {{ ...Up }} }} }} }} }} }} }} {inner}"
    # when it is sent, then it runs; and one level more, in the fragment, is refused
    assert "errors" not in await api.gql(at_limit, as_="member")
    deeper = at_limit.replace("{ code }", "{ parent { code } }")
    assert refused_as(await api.gql(deeper, as_="member")) == [
        {"message": "The query's depth is 11 fields nested in fields; at most 10 are allowed.",
         "extensions": {"code": "QUERY_TOO_COMPLEX"}}
    ]  # fmt: skip


@pytest.mark.parametrize("absent", ["", "(first: null)"])
async def test_a_connection_without_a_page_size_counts_the_default_page(client, engine, demo: Demo, absent):
    # given members each with a page of redemptions and another of the default size (20), under other names
    api = Api(client, engine, demo)
    inner = "{ edges { node { id } } }"

    def query(first: int) -> str:
        pages = f"a: redemptions(first: {first}) {inner} b: redemptions{absent} {inner}"
        return f"{{ members(first: 100) {{ edges {{ node {{ {pages} }} }} }} }}"

    # when the first page is of 80, then its 100 + 100 × (80 + 20) list items are the limit: it is refused only
    # for the 200 pages it would read one by one
    assert refused_as(await api.gql(query(80), as_="hq_admin")) == reads_refusal(200)
    # and when it is of 81, it is refused for 100 + 100 × (81 + 20) list items too
    assert refused_as(await api.gql(query(81), as_="hq_admin")) == list_items_refusal(10_200) + reads_refusal(200)


async def test_documents_that_fail_are_never_kept(limited_app, client):
    # given a process that keeps a valid document
    documents = limited_app.state.schema.documents
    await client.post("/graphql", json={"query": "{ __typename }"})
    kept, kept_bytes = len(documents), documents.bytes
    # when many distinct documents arrive (a comment makes each new) that fail validation, parsing or a limit
    failing = ("{" + " a" * 100 + " }", "{ grades {", "{" + " a" * (loyalty_graphql.query_fields_max + 1) + " }")
    for i in range(100):
        for query in failing:
            answer = (await client.post("/graphql", json={"query": f"{query} #{i:08x}"})).json()
            assert answer["data"] is None and answer["errors"], answer
    # then no document is kept for them
    assert (len(documents), documents.bytes) == (kept, kept_bytes)


async def test_the_documents_kept_and_their_plans_stay_within_the_bytes_limit(engine, limited, demo, monkeypatch):
    # given a process that keeps documents of 2,000 bytes in all
    monkeypatch.setattr(loyalty_graphql, "document_cache_bytes_max", 2_000)
    app = create_app(limited, str(engine.url), engine=engine)
    documents = app.state.schema.documents
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        # when many distinct valid documents run, each completed with a plan of its own
        queries = [f"{{ grades {{ code }} }} #{i:040x}" for i in range(100)]
        for query in queries:
            answer = (await client.post("/graphql", json={"query": query})).json()
            assert "errors" not in answer, answer
    # then the latest are kept, within the limit, and the plans of those given up went with them
    assert documents.bytes <= 2_000 and 0 < len(documents) < len(queries)
    assert queries[-1] in documents and queries[0] not in documents
    assert len(completion._plans) <= len(documents)


def counted(calls: list[str], name: str, function):
    def call(*args, **kwargs):
        calls.append(name)
        return function(*args, **kwargs)

    return call


async def test_a_valid_document_is_parsed_and_validated_once_and_an_invalid_one_every_time(client, monkeypatch):
    # given the parser and the validation counted
    calls: list[str] = []
    for name in ("parse", "validate"):
        monkeypatch.setattr(loyalty_graphql, name, counted(calls, name, getattr(loyalty_graphql, name)))
    # when a valid document and an invalid one are sent three times each
    for query in ("{ grades { code } } # once", "{ grades { nope } } # every time"):
        calls.clear()
        for _ in range(3):
            await client.post("/graphql", json={"query": query})
        # then the valid one was parsed and validated once, the invalid one every time
        assert calls == ["parse", "validate"] * (1 if "once" in query else 3)


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
