"""Every argument of every field, walked from the schema itself (so new fields are covered as they come),
with each class of hostile value: never an INTERNAL error or a 5xx, and nothing written."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
)

from loyalty.config import Settings
from loyalty.graphql import build_schema
from tests.api import top_codes
from tests.graphql.cases import CASES


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# Hostile values by the named type they are sent as; each must be refused with a clear code.
HOSTILE: dict[str, list[Any]] = {
    "String": ["nul\x00in text", "lone \ud800 surrogate", "x" * 100_000],
    "ID": [b64("Member:²"), b64("Member:١"), b64("Member:01"), b64("Member:" + "9" * 30), "nul\x00", "\ud800"],
    "Int": [2**31, -(2**31) - 1, 2**63],
    "Date": ["9999-12-31", "0001-01-01", "2026-02-30"],
    "Month": ["9999-12", "0000-01", "2026-13"],
    "DateTime": ["9999-12-31T00:00:00+00:00", "2026-01-01T00:00:00"],
    "Decimal": ["1e999999", "NaN", "-Infinity"],
}
CURSORS = [b64("c:member.id:" + "9" * 30), b64("c:other.id:1"), "\x00"]


PLAUSIBLE = {"Int": 1, "Boolean": True, "Date": "2026-01-01", "Month": "2026-01",
             "DateTime": "2026-01-01T00:00:00+00:00", "Decimal": "1", "ID": b64("Member:1")}  # fmt: skip


def plausible(kind: GraphQLInputType, api) -> Any:
    """A value of `kind` that is valid on its own, for the arguments not under test."""
    named = get_named_type(kind)
    value: Any
    if isinstance(named, GraphQLEnumType):
        value = next(iter(named.values))
    elif isinstance(named, GraphQLInputObjectType):
        value = {name: plausible(f.type, api) for name, f in named.fields.items() if isinstance(f.type, GraphQLNonNull)}
    else:
        value = PLAUSIBLE.get(named.name, "x")
    return [value] if isinstance(kind, GraphQLNonNull) and isinstance(kind.of_type, GraphQLList) else value


LONG_LIST_ITEMS = 40_000  # past the 32,767 parameters one statement may take, in half the body's limit


def hostile(name: str, kind: GraphQLInputType) -> list[Any]:
    named = get_named_type(kind)
    values = CURSORS if name in ("after", "before") else HOSTILE.get(named.name, [])
    wrapped = kind.of_type if isinstance(kind, GraphQLNonNull) else kind
    if not isinstance(wrapped, GraphQLList):
        return values
    long = [] if isinstance(named, GraphQLInputObjectType) else [[plausible(named, None)] * LONG_LIST_ITEMS]
    return [[v] for v in values] + long


def selection(field: GraphQLField) -> str:
    named = get_named_type(field.type)
    return "" if isinstance(named, GraphQLScalarType | GraphQLEnumType) else " { __typename }"


def leaves(kind: GraphQLInputType, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], GraphQLInputType]]:
    """Every input field under `kind`, as a path, down to scalars (one level of nesting in lists)."""
    named = get_named_type(kind)
    if isinstance(named, GraphQLInputObjectType) and len(path) < 3:
        for name, field in named.fields.items():
            yield from leaves(field.type, (*path, name))
    elif path:
        yield path, kind


def with_value(value: dict, path: tuple[str, ...], leaf: Any) -> dict:
    head, *rest = path
    if not rest:
        return {**value, head: leaf}
    inner = value.get(head)
    inner = inner[0] if isinstance(inner, list) and inner else inner if isinstance(inner, dict) else {}
    return {**value, head: with_value(inner, tuple(rest), leaf)}


def requests(root: GraphQLObjectType, operation: str, base: dict[str, dict]) -> Iterator[tuple[str, str, dict]]:
    """(field, document, variables) for each hostile value of each argument leaf of each root field."""
    for field_name, field in root.fields.items():
        if field_name not in base:
            continue
        arguments = field.args
        declared = ", ".join(f"${a}: {arg.type}" for a, arg in arguments.items())
        passed = ", ".join(f"{a}: ${a}" for a in arguments)
        document = f"{operation}{f'({declared})' if declared else ''} {{ {field_name}"
        document += f"{f'({passed})' if passed else ''}{selection(field)} }}"
        for argument, arg in arguments.items():
            for path, kind in leaves(arg.type, (argument,)):
                for value in hostile(path[-1], kind):
                    yield field_name, document, with_value(base[field_name], path, value)


SCHEMA = build_schema(Settings(_env_file=None))._schema


async def walk(api, operation: str, root: GraphQLObjectType, base: dict[str, dict], who: str) -> list[str]:
    await api.token(who)
    before, events_before = await api.fingerprint(), await events(api)
    faults = []
    for field_name, document, variables in requests(root, operation, base):
        body = json.dumps({"query": document, "variables": variables}).encode()  # escapes a lone surrogate
        headers = {"content-type": "application/json", "authorization": f"Bearer {await api.token(who)}"}
        response = await api.client.post("/graphql", content=body, headers=headers)
        body = response.json() if response.headers.get("content-type", "").startswith("application/") else {}
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
        if response.status_code >= 500 or "INTERNAL" in codes or (body.get("errors") and None in codes):
            faults.append(f"{field_name} {variables!r:.200}: {response.status_code} {codes}")
    after = await api.fingerprint()
    if after != before:  # only the record of wrong PINs and proofs, which is kept by design, may have grown
        changed = {k for k in after if after[k] != before.get(k)}
        added = await api.scalar(
            "SELECT string_agg(DISTINCT action, ',') FROM card_event WHERE id > :n", n=events_before
        )
        assert changed <= {"card", "card_event", "staff_proof_failure"}, changed
        assert set((added or "PROOF_FAILED").split(",")) <= {"PROOF_FAILED"}, added
    return faults


async def events(api) -> int:
    return await api.scalar("SELECT coalesce(max(id), 0) FROM card_event")


@pytest.mark.parametrize(("escaped", "code"), [("\\u0000", "INVALID"), ("\\uD800", "GRAPHQL_PARSE_FAILED")])
@pytest.mark.parametrize(
    "document",
    [
        '{ members(filter: {search: "a%sb"}) { edges { node { id } } } }',
        '{ cards(filter: {cardType: "%s"}) { edges { node { number } } } }',
        '{ customers(filter: {search: "a%sb"}) { edges { node { id } } } }',
    ],
)
async def test_text_written_in_the_document_is_refused_as_variables_are(api, document, escaped, code):
    # when a string of the document itself holds, by GraphQL's escape, a NUL or half a surrogate pair
    answer = await api.gql(document % escaped, as_="hq_admin")
    # then it is refused as input, never reaching the database
    assert top_codes(answer) == [code], answer


async def test_every_query_argument_refuses_every_hostile_value_cleanly(api):
    # given every root query field, with plausible values for the arguments not under test
    base = {}
    for name, field in SCHEMA.query_type.fields.items():
        if all(
            not isinstance(a.type, GraphQLNonNull) or get_named_type(a.type).name != "Boolean"
            for a in field.args.values()
        ):
            base[name] = {
                a: plausible(arg.type, api) for a, arg in field.args.items() if isinstance(arg.type, GraphQLNonNull)
            }
    # when each argument, and each field of its inputs, gets each hostile value of its type
    faults = await walk(api, "query", SCHEMA.query_type, base, "hq_admin")
    # then none is an internal error or a server error
    assert faults == []


@pytest.mark.parametrize("who", ["hq_admin", "member"])
async def test_every_mutation_argument_refuses_every_hostile_value_cleanly_and_writes_nothing(api, who):
    # given every mutation with a valid input of its own (the authorization matrix's), for a caller it is for
    base = {}
    for name, case in CASES.items():
        if case.input_type and (who == "member") == (case.allowed <= {"member", "other_member"}):
            base[name] = {"input": await case.make_input(api, who)}
    # when each field of its input gets each hostile value of its type
    faults = await walk(api, "mutation", SCHEMA.mutation_type, base, who)
    # then none is an internal error or a server error, and (above) nothing was written
    assert faults == []


@pytest.mark.parametrize("claims", [{"sid": [1]}, {"sid": "1"}, {"sid": 2**70}, {"sid": None}, {"sid": 1.5},
                                    {"sid": True}, {"sid": 1, "exp": "soon"}])  # fmt: skip
async def test_a_token_whose_claims_have_the_wrong_types_is_not_valid(api, settings, claims):
    # given a token signed with the service's key, whose claims are of the wrong types
    token = jwt.encode({"exp": time.time() + 60} | claims, settings.secret_key, algorithm="HS256")
    # when it is used, then it is refused as not valid, never an internal error
    answer = (await api.post({"query": "{ me { id } }"}, token)).json()
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["UNAUTHENTICATED"]


async def test_two_anonymous_operations_are_a_validation_error(api):
    answer = (await api.post({"query": "{ __typename } { __typename }"})).json()
    assert {e["extensions"]["code"] for e in answer["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}
    assert answer["data"] is None


NODE = "query($id: ID!) { node(id: $id) { id } }"


@pytest.mark.parametrize("type_name", ["Node", "Query", "Mutation", "PageInfo", "LoginInput", "MemberStatus", "ID"])
@pytest.mark.parametrize("who", ["anonymous", "member"])
async def test_a_global_id_of_a_type_without_objects_by_id_is_answered_as_one_of_no_type(api, caplog, type_name, who):
    # given a forged global ID of a type that no object is of by its ID alone: the node interface itself, a root
    # type, an object type without IDs, an input, an enum, a scalar
    forged = {"id": b64(f"{type_name}:1")}
    # when it is asked for
    with caplog.at_level(logging.ERROR, logger="loyalty.graphql"):
        answer = await api.gql(NODE, forged, as_=who)
    # then the answer is the one for an ID of no type at all, and no fault is logged
    assert answer == await api.gql(NODE, {"id": b64("NoSuchType:1")}, as_=who)
    assert answer["data"] == {"node": None} and top_codes(answer) == ["INVALID"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_nested_list_filter_of_many_entries_is_answered(api):
    # given a member's history asked for with one entry type named 40,000 times (the walk covers root fields only)
    query = """query($types: [EntryType!]) { me { pointsHistory(filter: {entryTypes: $types}) {
        edges { node { points } } } } }"""
    # when it is sent, then it is answered as if the type were named once
    answer = await api.gql(query, {"types": ["CONSUMPTION"] * LONG_LIST_ITEMS}, as_="member")
    assert "errors" not in answer, str(answer)[:300]
