"""The committed SDL is the API contract: it must match the code."""

from __future__ import annotations

from graphql import GraphQLInterfaceType, GraphQLList, GraphQLObjectType, get_nullable_type

from loyalty.cli import SCHEMA_PATH, schema_sdl
from loyalty.config import Settings
from loyalty.graphql import build_schema, items_declared


def test_committed_schema_is_current():
    current = schema_sdl(build_schema(Settings(_env_file=None)))
    assert SCHEMA_PATH.read_text() == current, "schema/schema.graphql is stale: run `uv run loyalty export-schema`"


async def test_production_mode_turns_off_introspection_and_suggestions():
    schema = build_schema(Settings(_env_file=None, environment="production", secret_key="k" * 40))
    result = await schema.execute("{ __schema { types { name } } }")
    assert result.errors and "introspection" in result.errors[0].message.lower()
    typo = await schema.execute("{ grade { code } }")
    assert typo.errors and "Did you mean" not in typo.errors[0].message


async def test_a_repeated_query_is_parsed_and_validated_once(monkeypatch):
    # given a schema whose validation we count
    import loyalty.graphql as service_graphql

    calls = []
    real_validate = service_graphql.validate

    def counting_validate(*args, **kwargs):
        calls.append(1)
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(service_graphql, "validate", counting_validate)
    schema = build_schema(Settings(_env_file=None))
    # when the same document is executed many times
    for _ in range(5):
        result = await schema.execute("{ grades_unused_alias_0: __typename }")
        assert result.errors is None
    # then it was validated once: the limit rules do not defeat the validation cache
    assert len(calls) <= 1


def test_every_plain_list_declares_the_most_items_it_answers():
    # given the schema's object types (the root's lists are answered once, a connection's edges are counted by
    # its page, a payload's errors once per mutation)
    schema = build_schema(Settings(_env_file=None))._schema
    undeclared = []
    for name, kind in schema.type_map.items():
        if name.startswith("__") or name == "Query" or not isinstance(kind, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for field_name, field in kind.fields.items():
            if field_name in ("edges", "errors") or (name, field_name) == ("UserError", "field"):
                continue
            if not isinstance(get_nullable_type(field.type), GraphQLList) or "first" in field.args:
                continue
            if items_declared(field) is None and name != "RedemptionQuote":
                undeclared.append(f"{name}.{field_name}")
    # then every other plain list declares how many items it answers at most, for the list-items limit
    assert undeclared == []
