"""Lists and objects of plain fields are completed in one walk (loyalty/completion.py): the answers, errors
included, are the executor's own, and only the fields that need the executor go through it."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from domain.loading import Loader
from loyalty import completion
from loyalty.app import create_app
from loyalty.graphql import Executor
from resolvers.area import Loaders
from tests.api import Api
from tests.graphql.test_statements_members import ME, MEMBERS_PAGE
from tests.statement_counts import add_members

CARDS_PAGE = """{ cards(first: 30) { edges { node { id number state cardType validUntil branch { code }
    holderStaff { username } member { memberNumber grade { name } }
    batch { cardType firstNumber receivedBy { username } } } } } }"""
HISTORY = """{ me { memberNumber pointsHistory(first: 5) { edges { node { id entryType points } } }
    grade { name } } }"""


@pytest.fixture
def field_by_field(monkeypatch: pytest.MonkeyPatch):
    """Switches the walk off: every field is completed by the executor."""

    def off() -> None:
        monkeypatch.setattr(completion.Completing, "_plan", lambda self, kind, details: None)

    return off


@pytest.fixture
def executed_fields(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the fields the executor resolved itself, in order."""
    names: list[str] = []
    execute_field = Executor.execute_field

    def counted(self, parent_type, source, details, path, position_context):
        names.append(f"{parent_type.name}.{details[0].node.name.value}")
        return execute_field(self, parent_type, source, details, path, position_context)

    monkeypatch.setattr(Executor, "execute_field", counted)
    return names


class KnownNone(Loader):
    """A loader that knows, before anything is read, that every key's value is null."""

    class AllNone(dict):
        def get(self, key, default=None):
            return None

    def __init__(self, fetch) -> None:
        super().__init__(fetch)
        self.known = self.AllNone()


def failing_loader(monkeypatch: pytest.MonkeyPatch, name: str, batch) -> None:
    """The request's loader `name` answers every batch with `batch(keys)` (a loader class: is that loader)."""
    get = Loaders.__getattr__

    def loaders_getattr(self, wanted: str):
        if wanted != name:
            return get(self, wanted)
        return batch(_nones) if isinstance(batch, type) else Loader(batch)

    monkeypatch.setattr(Loaders, "__getattr__", loaders_getattr)


@pytest.mark.parametrize(
    ("query", "as_"), [(MEMBERS_PAGE, "administrator"), (CARDS_PAGE, "hq_admin"), (ME, "member"), (HISTORY, "member")]
)
async def test_the_walk_answers_what_the_executor_answers(api: Api, engine, field_by_field, query, as_):
    # given a page of members with their related rows
    await add_members(api, 30)
    # when the same query is answered in one walk and field by field
    walked = await api.gql(query, {"first": 40}, as_=as_)
    field_by_field()
    executed = await api.gql(query, {"first": 40}, as_=as_)
    # then the answers are the same, to the order of each object's keys
    assert "errors" not in walked, walked["errors"]
    assert walked == executed
    assert repr(walked) == repr(executed)


async def _nones(keys: list) -> list:
    return [None] * len(keys)


async def _fails(keys: list) -> list:
    raise RuntimeError("the grades could not be read")


async def _lists_of_none(keys: list) -> list:
    return [[None]] * len(keys)


@pytest.mark.parametrize(
    ("loader", "batch"),
    [
        pytest.param("grades", _nones, id="null in a non-null field"),
        pytest.param("grades", _fails, id="a failed batch"),
        pytest.param("branches", KnownNone, id="null in a non-null field, known already"),
        pytest.param("accounts_by_customer", _lists_of_none, id="null item in a list of non-null items"),
    ],
)
async def test_an_error_on_the_way_is_answered_as_the_executor_answers_it(
    api: Api, monkeypatch, field_by_field, loader, batch
):
    # given that every member's related rows fail to load
    failing_loader(monkeypatch, loader, batch)
    # when a page asking for grades is answered in one walk and field by field
    walked = await api.gql(MEMBERS_PAGE, {"first": 5}, as_="administrator")
    field_by_field()
    executed = await api.gql(MEMBERS_PAGE, {"first": 5}, as_="administrator")
    # then both answer the same errors at the same paths, and the same data
    assert walked["errors"]
    assert walked == executed


async def test_a_page_of_plain_fields_goes_through_the_executor_only_at_its_root(api: Api, engine, executed_fields):
    # given a page of members whose every field is a column, a node ID or a related row
    await add_members(api, 30)
    await api.token("administrator")
    executed_fields.clear()
    # when it is asked for
    answer = await api.gql(MEMBERS_PAGE, {"first": 40}, as_="administrator")
    # then only the root field was resolved by the executor; the rest was walked
    assert len(answer["data"]["members"]["edges"]) == 32  # the two the demo gives the club, and thirty more
    assert executed_fields == ["Query.members"]


async def test_a_field_with_arguments_is_left_to_the_executor(api: Api, executed_fields):
    # given a member's view with a field that takes arguments (the points history)
    await api.token("member")
    executed_fields.clear()
    # when it is asked for
    answer = await api.gql(HISTORY, as_="member")
    # then the member is completed by the executor, and the history's page below it in one walk
    assert answer["data"]["me"]["grade"]["name"] == "Diamond"
    assert executed_fields == ["Query.me", "Member.memberNumber", "Member.pointsHistory", "Member.grade"]


async def test_nothing_is_walked_when_an_extension_sees_every_field(settings, engine, demo, executed_fields):
    # given a service whose extension wraps every resolver (tracing)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    app = create_app(settings, str(engine.url), engine=engine, tracer_provider=provider)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            # when a page is asked for
            answer = await Api(client, engine, demo).gql(MEMBERS_PAGE, {"first": 2}, as_="administrator")
    finally:
        AsyncPGInstrumentor().uninstrument()  # instrumented for the whole process by the traced app
    # then it is answered with every field through the executor, where the extension sees it
    assert len(answer["data"]["members"]["edges"]) == 2
    assert {"Member.memberNumber", "Member.grade", "Grade.name", "Customer.phone"} <= set(executed_fields)


async def test_a_failed_batch_leaves_the_next_request_a_working_connection(api: Api, monkeypatch, field_by_field):
    # given that every member's grade fails to load, while the page's other batches are still reading
    field_by_field()
    failing_loader(monkeypatch, "grades", _fails)
    # when a page is asked for twice, on the same pool
    first = await api.gql(MEMBERS_PAGE, {"first": 5}, as_="administrator")
    second = await api.gql(MEMBERS_PAGE, {"first": 5}, as_="administrator")
    # then both are answered with the same error: the first did not give its connection back mid-statement
    assert first["errors"][0]["extensions"]["code"] == "INTERNAL"
    assert second == first


@pytest.mark.parametrize("directive", ["@include(if: $x)", "@ include(if: $x)", "@ # a comment\n include(if: $x)"])
async def test_a_field_a_variable_includes_is_answered_as_each_request_asks(api: Api, directive):
    # given a document whose field a variable includes, however its directive is spaced
    query = f"query($x: Boolean!) {{ me {{ memberNumber status {directive} }} }}"
    # when it is sent without the field, then with it
    without = await api.data(query, {"x": False}, as_="member")
    with_it = await api.data(query, {"x": True}, as_="member")
    # then each answer holds what its variables asked for
    assert "status" not in without["me"] and with_it["me"]["status"] == "ACTIVE"
