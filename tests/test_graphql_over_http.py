"""GraphQL over HTTP: every top-level error has a code, and the answer's media type and status follow
https://graphql.github.io/graphql-over-http/draft/ (`application/graphql-response+json` for clients that
ask for it; `application/json`, always 200 for a GraphQL response, for the others)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from domain.organisation import service as organisation
from loyalty.app import create_app
from loyalty.config import Settings
from loyalty.graphql import GRAPHQL_RESPONSE, JSON, answer_media_type
from resolvers.context import ReadSession
from tests.api import top_codes

DEEP = "{ me { club { branch" + " { parent" * 9 + " { code }" + " }" * 9 + " } } }"  # the limit is 10
ALIASES = "{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }"  # the limit is 15
TOKENS = "{ " + " __typename" * 2_000 + " }"  # the limit is 2,000
FIELDS = "{ " + " __typename" * 151 + " }"  # the limit is 150
BY_VARIABLE = "query($first: Int) { members(first: $first) { edges { cursor } } }"

REQUEST_ERRORS = {
    "syntax": ({"query": "{ grades { code "}, "GRAPHQL_PARSE_FAILED"),
    "unknown field": ({"query": "{ grades { nope } }"}, "GRAPHQL_VALIDATION_FAILED"),
    "unknown input field": (
        {"query": 'mutation { login(input: {kind: MEMBER, login: "x", password: "y", nope: 1}) { errors { code } } }'},
        "GRAPHQL_VALIDATION_FAILED",
    ),
    "argument of the wrong type": (
        {"query": '{ members(first: "ten") { edges { cursor } } }'},
        "GRAPHQL_VALIDATION_FAILED",
    ),
    "variable of the wrong type": ({"query": BY_VARIABLE, "variables": {"first": "ten"}}, "BAD_USER_INPUT"),
    "required variable missing": (
        {"query": "query($first: Int!) { members(first: $first) { edges { cursor } } }"},
        "BAD_USER_INPUT",
    ),
    "too deep": ({"query": DEEP}, "QUERY_TOO_COMPLEX"),
    "too many aliases": ({"query": ALIASES}, "QUERY_TOO_COMPLEX"),
    "too many tokens": ({"query": TOKENS}, "QUERY_TOO_COMPLEX"),
    "too many fields": ({"query": FIELDS}, "QUERY_TOO_COMPLEX"),
}


async def post(api, body=None, *, accept: str | None = None, content: str | None = None, **headers: str):
    if accept is not None:
        headers["accept"] = accept
    if content is not None:
        headers.setdefault("content-type", JSON)
        return await api.client.post("/graphql", content=content, headers=headers)
    return await api.client.post("/graphql", json=body, headers=headers)


# --- every top-level error has a code ----------------------------------------------------------------


@pytest.mark.parametrize("kind", list(REQUEST_ERRORS))
async def test_each_kind_of_request_error_has_its_code(api, kind):
    body, code = REQUEST_ERRORS[kind]
    # when the request is sent as clients have always sent it
    answer = await api.gql(body["query"], body.get("variables"))
    # then it is answered as before (200, data null), every error with the code of its kind and a message
    assert answer["data"] is None
    assert set(top_codes(answer)) == {code}, answer
    assert all(e["message"] for e in answer["errors"])


async def test_a_body_that_is_not_json_is_a_bad_request_with_a_graphql_shaped_answer(api):
    response = await post(api, content='{"query": "{ grades { code } }"')
    assert (response.status_code, response.headers["content-type"]) == (400, JSON)
    assert response.json() == {
        "errors": [{"message": "Unable to parse request body as JSON", "extensions": {"code": "BAD_REQUEST"}}]
    }


@pytest.mark.parametrize(
    "content",
    [
        "",
        "0",
        '"{ grades { code } }"',
        '{"variables": {}}',
        '{"query": 7}',
        '{"query": "{ __typename }", "variables": [1]}',
        '{"query": "{ __typename }", "extensions": "x"}',
        '[{"query": "{ __typename }"}]',  # a batch: the API takes one operation a request
    ],
)
async def test_a_body_that_is_not_a_graphql_request_is_a_bad_request(api, content):
    response = await post(api, content=content)
    assert response.status_code == 400
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["BAD_REQUEST"]
    assert "data" not in response.json()


@pytest.mark.parametrize("accept", [None, GRAPHQL_RESPONSE])
async def test_a_document_of_several_operations_needs_the_name_of_the_one_to_run(api, accept):
    two = "query A { a: __typename } query B { b: __typename }"
    # given no operation name, then it is refused as a name of no operation is: which one was meant is unknown
    for unnamed in ({"query": two}, {"query": two, "operationName": None}):
        refused = await post(api, unnamed, accept=accept)
        assert refused.status_code == 400 and "data" not in refused.json()
        assert [e["extensions"]["code"] for e in refused.json()["errors"]] == ["BAD_REQUEST"]
        assert "operationName" in refused.json()["errors"][0]["message"]
    # given the name, that one runs; and a document of one operation needs none
    assert (await post(api, {"query": two, "operationName": "B"}, accept=accept)).json() == {"data": {"b": "Query"}}
    assert (await post(api, {"query": "query A { a: __typename }"}, accept=accept)).json() == {"data": {"a": "Query"}}


@pytest.mark.parametrize("accept", [f"{JSON}, multipart/mixed", f"{JSON}, text/event-stream"])
async def test_a_client_that_also_accepts_a_stream_gets_its_answer_in_json(api, accept):
    response = await post(api, {"query": "{ __typename }", "operationName": None}, accept=accept)
    assert (response.status_code, response.json()) == (200, {"data": {"__typename": "Query"}})


async def test_an_internal_fault_is_masked_with_its_code_and_logged(api, monkeypatch, caplog):
    # given a fault deep in the service
    async def broken(*args, **kwargs):
        raise RuntimeError("password=secret at db-host:5432")

    monkeypatch.setattr(organisation, "list_grades", broken)
    # when a query meets it
    with caplog.at_level(logging.ERROR, logger="loyalty.graphql"):
        answer = await api.gql("{ grades { code } }")
    # then the client learns only that it happened; the log has the details
    assert [(e["message"], e["extensions"]["code"]) for e in answer["errors"]] == [("Unexpected error.", "INTERNAL")]
    assert "secret" not in str(answer)
    assert any("password=secret" in (r.exc_text or "") for r in caplog.records)


async def test_a_fault_of_an_extension_is_masked_too(api, monkeypatch):
    # given the read connection fails as it closes, after the operation, where no extension shapes the errors
    close = ReadSession.close

    async def broken(self):
        await close(self)
        raise RuntimeError("password=secret at db-host:5432")

    monkeypatch.setattr(ReadSession, "close", broken)
    answer = await api.gql("{ grades { code } }")
    assert [(e["message"], e["extensions"]["code"]) for e in answer["errors"]] == [("Unexpected error.", "INTERNAL")]
    assert "secret" not in str(answer)


LOGIN = "mutation($input: LoginInput!) { login(input: $input) { errors { code } } }"
# Requests whose errors, outside production, suggest what the client may have meant ("Did you mean …?").
SUGGESTING = {
    "field": ("{ grade { code } }", None),
    "argument": ('{ node(idd: "x") { id } }', None),
    "type of a variable": ("query($a: Strin) { __typename }", None),
    "type condition": ('{ node(id: "x") { ... on Mmber { id } } }', None),
    "enum value": ('mutation { login(input: {kind: MEMBR, login: "x", password: "y"}) { errors { code } } }', None),
    "input field": ("{ members(filter: {statu: ACTIVE}) { edges { cursor } } }", None),
    "enum value of a variable": (LOGIN, {"input": {"kind": "MEMBR", "login": "x", "password": "y"}}),
    "input field of a variable": (LOGIN, {"input": {"kind": "MEMBER", "login": "x", "password": "y", "passwrd": "y"}}),
}


@pytest.fixture
async def production(settings: Settings, engine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"environment": "production"}), str(engine.url), engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


@pytest.mark.parametrize("kind", list(SUGGESTING))
async def test_in_production_no_error_suggests_a_name_of_the_schema(api, production, kind):
    query, variables = SUGGESTING[kind]
    body = {"query": query, "variables": variables or {}}
    # given a request whose error, outside production, suggests what the client may have meant
    developing = (await post(api, body)).json()
    assert any("Did you mean" in e["message"] for e in developing["errors"]), developing
    # when production answers it
    answer = (await production.post("/graphql", json=body)).json()
    # then with the same codes, and no message suggests a name
    assert top_codes(answer) == top_codes(developing)
    assert not any("Did you mean" in e["message"] for e in answer["errors"]), answer


# --- application/graphql-response+json: the status says what happened --------------------------------


@pytest.mark.parametrize("kind", list(REQUEST_ERRORS))
async def test_a_request_error_is_400_without_data_in_graphql_response_json(api, kind):
    body, code = REQUEST_ERRORS[kind]
    response = await post(api, body, accept=GRAPHQL_RESPONSE)
    assert (response.status_code, response.headers["content-type"]) == (400, f"{GRAPHQL_RESPONSE}; charset=utf-8")
    assert "data" not in response.json()
    assert {e["extensions"]["code"] for e in response.json()["errors"]} == {code}


async def test_an_operation_that_ran_is_200_with_data_even_with_errors(api):
    # given a query of which one field fails
    query = '{ __typename member(id: "not a global ID") { memberNumber } }'
    response = await post(api, {"query": query}, accept=GRAPHQL_RESPONSE)
    # then the operation ran: 200, the data it could give, and the field's error
    assert (response.status_code, response.headers["content-type"]) == (200, f"{GRAPHQL_RESPONSE}; charset=utf-8")
    answer = response.json()
    assert answer["data"] == {"__typename": "Query", "member": None}
    assert top_codes(answer) == ["INVALID"]


async def test_a_success_is_200_in_graphql_response_json(api):
    response = await post(api, {"query": "{ grades { code } }"}, accept=f"{GRAPHQL_RESPONSE}, {JSON}")
    assert (response.status_code, response.headers["content-type"]) == (200, f"{GRAPHQL_RESPONSE}; charset=utf-8")
    assert [g["code"] for g in response.json()["data"]["grades"]] == ["DIAMOND", "EMERALD", "SAPPHIRE"]


async def test_a_body_that_is_not_json_is_400_in_graphql_response_json(api):
    response = await post(api, content="{", accept=GRAPHQL_RESPONSE)
    assert (response.status_code, response.headers["content-type"]) == (400, f"{GRAPHQL_RESPONSE}; charset=utf-8")
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


# --- application/json: as it always was --------------------------------------------------------------


@pytest.mark.parametrize("accept", [None, "*/*", JSON, f"{JSON}, {GRAPHQL_RESPONSE}"])
@pytest.mark.parametrize("kind", ["syntax", "unknown field", "variable of the wrong type"])
async def test_application_json_answers_a_request_error_with_200_and_null_data(api, accept, kind):
    body, code = REQUEST_ERRORS[kind]
    response = await post(api, body, accept=accept)
    assert (response.status_code, response.headers["content-type"]) == (200, JSON)
    assert response.json()["data"] is None
    assert top_codes(response.json()) == [code]


@pytest.mark.parametrize("accept", [None, "*/*", JSON])
async def test_application_json_answers_a_success_as_before(api, accept):
    response = await post(api, {"query": "{ grades { code } }"}, accept=accept)
    assert (response.status_code, response.headers["content-type"]) == (200, JSON)
    assert response.json() == {"data": {"grades": [{"code": "DIAMOND"}, {"code": "EMERALD"}, {"code": "SAPPHIRE"}]}}


# --- requests the API does not take -------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", f"{JSON}; charset=utf-16"]
)
async def test_a_body_that_is_not_json_in_utf8_is_415(api, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = await api.client.post("/graphql", content=b'{"query": "{ __typename }"}', headers=headers)
    assert response.status_code == 415
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_json_with_a_utf8_charset_is_taken(api):
    response = await post(api, content='{"query": "{ __typename }"}', **{"content-type": f"{JSON}; charset=UTF-8"})
    assert response.status_code == 200 and response.json() == {"data": {"__typename": "Query"}}


async def test_a_client_that_accepts_neither_media_type_is_answered_406(api):
    response = await post(api, {"query": "{ __typename }"}, accept="text/html")
    assert (response.status_code, response.headers["content-type"]) == (406, JSON)
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize("query", ["{ __typename }", "mutation { logout { errors { code } } }"])
async def test_graphql_over_get_is_405_and_names_post(api, query):
    response = await api.client.get("/graphql", params={"query": query}, headers={"accept": GRAPHQL_RESPONSE})
    assert (response.status_code, response.headers["allow"]) == (405, "POST")
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
async def test_any_other_method_is_405_in_the_same_shape(api, method):
    response = await api.client.request(method, "/graphql")
    assert (response.status_code, response.headers["allow"]) == (405, "POST")
    if method != "HEAD":  # a HEAD answer has no body
        assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["BAD_REQUEST"]


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        ("", JSON),
        ("*/*", JSON),
        (JSON, JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}; charset=utf-8, {JSON}; charset=utf-8", GRAPHQL_RESPONSE),  # the spec's advice
        (f"{JSON}, {GRAPHQL_RESPONSE}", JSON),  # the first listed, of equal quality
        (f"{GRAPHQL_RESPONSE};q=0.5, {JSON}", JSON),
        (f"{GRAPHQL_RESPONSE}, */*", GRAPHQL_RESPONSE),
        ("application/*", JSON),
        (f"{JSON}, multipart/mixed", JSON),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", JSON),
        (f"{JSON};q=0, */*", GRAPHQL_RESPONSE),
        ("text/html", None),
        (f"{JSON};q=0", None),
    ],
)
def test_the_answer_is_in_the_media_type_the_client_prefers(accept, chosen):
    assert answer_media_type(accept) == chosen
