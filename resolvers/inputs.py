"""Client input as the domain's values: global IDs decoded by type, inputs as typed commands.

The ID type of a field comes from the domain's annotation of it (`MemberId` → a Member's global
ID), on a command's field or on a list function's filter parameter.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Callable, Mapping
from typing import Any, Union, get_args, get_origin

import strawberry
from graphql import GraphQLID, GraphQLInputObjectType, GraphQLList, GraphQLNonNull
from strawberry import relay
from strawberry.types.base import has_object_definition

from domain.errors import DomainError, ErrorCode
from domain.work.commands import AnyNodeId, hints_of, node_type_of
from schema.common import camel, key_of


def decode_id(value: relay.GlobalID | None, type_name: str, field: str) -> int | None:
    if value is None:
        return None
    key = key_of(value.node_id)
    if value.type_name != type_name or key is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"{camel(field)} does not name a {type_name}.", field)
    return key


def typed_id(value: relay.GlobalID, field: str) -> str:
    """A global ID of any node type as its typed id, `Member:12` (`AnyNodeId`)."""
    key = key_of(value.node_id)
    if key is None or not (value.type_name.isascii() and value.type_name.isidentifier()) or len(value.type_name) > 40:
        raise DomainError(ErrorCode.NOT_FOUND, f"{camel(field)} does not name an object.", field)
    return f"{value.type_name}:{key}"


def _unwrap(annotation: Any) -> Any:
    """`X | None` → X; `list[X]` stays."""
    if get_origin(annotation) in (Union, types.UnionType):
        present = [a for a in get_args(annotation) if a is not type(None)]
        return present[0] if len(present) == 1 else annotation
    return annotation


# An input's fields as given, by their Python names: global IDs parsed, nested inputs as such mappings, fields
# left out absent. Made from strawberry's input object (`given_of`), or, for a mutation, straight from the
# values graphql-core coerced (`reader_of`): the command is then made from it (`to_command`).
Given = Mapping[str, Any]


def given_of(data: Any) -> Given | None:
    """A strawberry input object's fields as given."""
    if data is None:
        return None
    return {
        definition.python_name: _given_value(value)
        for definition in data.__strawberry_definition__.fields
        if (value := getattr(data, definition.python_name)) is not strawberry.UNSET
    }


def _given_value(value: Any) -> Any:
    if has_object_definition(value):
        return given_of(value)
    if isinstance(value, list):
        return [_given_value(v) for v in value]
    return value


@functools.cache
def reader_of(input_type: GraphQLInputObjectType) -> Callable[[Mapping[str, Any]], Given]:
    """How the values graphql-core coerced for `input_type` (GraphQL names; a global ID as its text, an enum as
    its member, a nested input as a mapping) become the input as given, as strawberry's conversion of the
    argument would make it, without its work on every field of every request."""
    fields = [
        (name, field.extensions["strawberry-definition"].python_name, _value_reader(field.type))
        for name, field in input_type.fields.items()
    ]

    def read(raw: Mapping[str, Any]) -> Given:
        return {python_name: convert(raw[name]) for name, python_name, convert in fields if name in raw}

    return read


def _value_reader(kind: Any) -> Callable[[Any], Any]:
    kind = kind.of_type if isinstance(kind, GraphQLNonNull) else kind
    if isinstance(kind, GraphQLList):
        item = _value_reader(kind.of_type)
        return lambda value: None if value is None else [item(v) for v in value]
    if isinstance(kind, GraphQLInputObjectType):
        nested = reader_of(kind)
        return lambda value: None if value is None else nested(value)
    if kind is GraphQLID:  # the schema's IDs are global IDs (`relay.GlobalID`)
        return lambda value: None if value is None else relay.GlobalID.from_id(value)
    return lambda value: value


def convert(value: Any, annotation: Any, field: str) -> Any:
    """One input value as the domain's type: global IDs decoded, nested inputs as dataclasses."""
    return _converter(annotation)(value, field)


@functools.cache
def _converter(annotation: Any) -> Callable[[Any, str], Any]:
    """How a value given for a field annotated `annotation` becomes the domain's: worked out once per annotation."""
    annotation = _unwrap(annotation)
    type_name = None if annotation is AnyNodeId else node_type_of(annotation)
    item = _converter(get_args(annotation)[0]) if get_origin(annotation) is list else None
    nested = annotation if dataclasses.is_dataclass(annotation) else None

    def converted(value: Any, field: str) -> Any:
        if value is None:
            return None
        if isinstance(value, relay.GlobalID):
            if annotation is AnyNodeId:
                return typed_id(value, field)
            assert type_name is not None, f"{field} takes a global ID but is not annotated with an ID type"
            return decode_id(value, type_name, field)
        if item is not None and isinstance(value, list):
            return [item(v, f"{field}.{position}") for position, v in enumerate(value)]
        if nested is not None and isinstance(value, Mapping):
            return to_command(nested, value, field + ".")
        return value

    return converted


def to_command(command_type: type, data: Given | None, prefix: str = "") -> Any:
    """An input as given as the domain's command: fields left out keep the command's defaults."""
    converters = _converters_of(command_type)
    values: dict[str, Any] = {}
    for name, value in (data or {}).items():
        assert name in converters, f"{command_type.__name__} has no field {name}"
        values[name] = converters[name](value, prefix + name)
    return command_type(**values)


@functools.cache
def _converters_of(command_type: type) -> dict[str, Callable[[Any, str], Any]]:
    return {name: _converter(annotation) for name, annotation in hints_of(command_type).items()}


@functools.cache
def field_names(command_type: type) -> frozenset[str]:
    """The Python names of a command's fields, nested inputs' too (`proof`, `card_pin`)."""
    names: set[str] = set()
    for name, annotation in hints_of(command_type).items():
        names.add(name)
        inner = _unwrap(annotation)
        inner = get_args(inner)[0] if get_origin(inner) is list else inner
        if dataclasses.is_dataclass(inner):
            names |= field_names(inner)
    return frozenset(names)


def command_type_of(handler: Callable[..., Any]) -> type:
    return hints_of(handler)["command"]


def filter_arguments(list_function: Callable[..., Any], filter: Any) -> dict[str, Any]:
    """A filter input as the list function's keyword arguments, typed by its annotations."""
    if filter is None:
        return {}
    hints = hints_of(list_function)
    return {
        definition.python_name: convert(getattr(filter, definition.python_name), hints[definition.python_name],
                                        definition.python_name)
        for definition in filter.__strawberry_definition__.fields
        if getattr(filter, definition.python_name) is not strawberry.UNSET
    }  # fmt: skip
