"""Client input as the domain's values: global IDs decoded by type, inputs as typed commands.

The ID type of a field comes from the domain's annotation of it (`MemberId` → a Member's global
ID), on a command's field or on a list function's filter parameter.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Callable
from typing import Any, Union, get_args, get_origin

import strawberry
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


def convert(value: Any, annotation: Any, field: str) -> Any:
    """One input value as the domain's type: global IDs decoded, nested inputs as dataclasses."""
    annotation = _unwrap(annotation)
    if value is None:
        return None
    if isinstance(value, relay.GlobalID):
        if annotation is AnyNodeId:
            return typed_id(value, field)
        type_name = node_type_of(annotation)
        assert type_name is not None, f"{field} takes a global ID but is not annotated with an ID type"
        return decode_id(value, type_name, field)
    if get_origin(annotation) is list and isinstance(value, list):
        (item,) = get_args(annotation)
        return [convert(v, item, field) for v in value]
    if dataclasses.is_dataclass(annotation) and has_object_definition(value):
        return to_command(annotation, value, field + ".")
    return value


def to_command(command_type: type, data: Any, prefix: str = "") -> Any:
    """A strawberry input as the domain's command: fields left out keep the command's defaults."""
    hints = hints_of(command_type)
    values: dict[str, Any] = {}
    for definition in data.__strawberry_definition__.fields if data is not None else ():
        name = definition.python_name
        value = getattr(data, name)
        if value is strawberry.UNSET:
            continue
        assert name in hints, f"{command_type.__name__} has no field {name}"
        values[name] = convert(value, hints[name], prefix + name)
    return command_type(**values)


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
