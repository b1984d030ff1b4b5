"""The edge between GraphQL and the domain: input conversion, the unit of work, error mapping.

Every mutation goes through `mutate`: the input becomes the handler's typed command (global
IDs decoded by the command's field annotations), the handler runs in one unit of work, and
business failures become `payload.errors` with the client's camelCase field names.
"""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import strawberry
from graphql import GraphQLError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import relay
from strawberry.types.base import has_object_definition

from domain.errors import AccessDenied, DomainError, ErrorCode, Problem
from domain.paging import Page, PageRequest
from domain.work.commands import node_type_of
from resolvers.context import Context
from schema.common import ErrorCode as ClientErrorCode
from schema.common import UserError, connection

P = TypeVar("P")
_id_digits_max = 18
_snake_word = re.compile(r"\b(?!(?:uq|ck|fk|pk|ix)_)[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")  # not constraint names


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def client_words(text: str) -> str:
    """The domain's Python names (`card_number`, `proof.card_pin`) as the client's (`cardNumber`)."""
    return _snake_word.sub(lambda match: camel(match.group(0)), text)


def decode_id(value: relay.GlobalID | None, type_name: str, field: str) -> int | None:
    if value is None:
        return None
    if value.type_name != type_name or not value.node_id.isdigit() or len(value.node_id) > _id_digits_max:
        raise DomainError(ErrorCode.NOT_FOUND, f"{camel(field)} does not name a {type_name}.", field)
    return int(value.node_id)


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
    hints = get_type_hints(command_type)
    values: dict[str, Any] = {}
    for definition in data.__strawberry_definition__.fields if data is not None else ():
        name = definition.python_name
        value = getattr(data, name)
        if value is strawberry.UNSET:
            continue
        assert name in hints, f"{command_type.__name__} has no field {name}"
        values[name] = convert(value, hints[name], prefix + name)
    return command_type(**values)


def command_type_of(handler: Callable[..., Any]) -> type:
    return get_type_hints(handler)["command"]


def user_errors(problems: list[Problem]) -> list[UserError]:
    return [
        UserError(
            field=["input", client_words(p.field)] if p.field else None,
            code=ClientErrorCode(p.code.value),
            message=client_words(p.message),
        )
        for p in problems
    ]


async def mutate(
    info: strawberry.Info,
    payload: Callable[..., P],
    handler: Callable[[Any, Any], Awaitable[Any]],
    input: Any = None,
    key: str | None = None,
) -> P:
    """Run `handler` on the input's command in one unit of work; the payload holds its result or failure."""
    context: Context = info.context
    # Never hold the read connection while waiting for a write one: enough concurrent
    # mutations would otherwise hold the whole pool and wait for each other.
    await context.reading.close()
    try:
        command = to_command(command_type_of(handler), input)
        async with context.unit_of_work() as uow:
            result = await uow.run(handler, command)
    except DomainError as error:  # a recorded refusal was committed by the unit of work
        return payload(errors=user_errors(error.problems))
    except IntegrityError as error:
        # A concurrent request won a uniqueness race the checks had passed.
        constraint = getattr(getattr(error.orig, "__cause__", None), "constraint_name", None) or "a unique value"
        return payload(errors=user_errors([Problem(ErrorCode.DUPLICATE, f"Conflicts with {constraint}.")]))
    return payload(errors=[], **({key: result} if key else result or {}))


async def read(info: strawberry.Info, action: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    """Run a query's domain call on the request's read session."""
    return await info.context.read(action)


def filter_arguments(list_function: Callable[..., Any], filter: Any) -> dict[str, Any]:
    """A filter input as the list function's keyword arguments, typed by its annotations."""
    if filter is None:
        return {}
    hints = get_type_hints(list_function)
    return {
        definition.python_name: convert(getattr(filter, definition.python_name), hints[definition.python_name],
                                        definition.python_name)
        for definition in filter.__strawberry_definition__.fields
        if getattr(filter, definition.python_name) is not strawberry.UNSET
    }  # fmt: skip


async def paged(
    info: strawberry.Info,
    list_function: Callable[..., Awaitable[Page[Any]]],
    filter: Any,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> relay.Connection[Any]:
    """A connection field: the domain list function, with the caller, page and filter."""
    request = PageRequest(first=first, after=after, last=last, before=before)
    where = filter_arguments(list_function, filter)
    return connection(await read(info, lambda s: list_function(s, info.context.principal, request, **where)))


async def node_of(info: strawberry.Info, node_type: Any, id: relay.GlobalID) -> Any:
    """The object behind a global ID of `node_type`, under the type's read rules; None otherwise."""
    if id.type_name != node_type.__strawberry_definition__.name:
        return None
    return await node_type.resolve_node(id.node_id, info=info, required=False)


def refusal(error: AccessDenied | DomainError, context: Context | None) -> GraphQLError:
    """A top-level error with a machine-readable code in `extensions.code`."""
    code = error.code
    if isinstance(error, AccessDenied) and code == ErrorCode.UNAUTHENTICATED and context and context.auth_problem:
        code = context.auth_problem
    message = error.message if isinstance(error, AccessDenied) else client_words(error.problems[0].message)
    return GraphQLError(message, extensions={"code": code.value})


# --- during the move to commands: areas not converted yet -----------------------------------------

ID_TYPES = {
    "branch_id": "Branch",
    "club_id": "Club",
    "customer_id": "Customer",
    "customer_manager_id": "Staff",
    "member_id": "Member",
    "partner_id": "Partner",
    "to_club_id": "Club",
    "to_staff_id": "Staff",
    "holder_club_id": "Club",
    "holder_staff_id": "Staff",
    "transaction_id": "PointsTransaction",
}


def fields(data: Any, id_type: str | None = None) -> dict[str, Any]:
    """A strawberry input as domain keyword arguments: unset fields left out, global IDs decoded."""
    result: dict[str, Any] = {}
    for definition in data.__strawberry_definition__.fields:
        name = definition.python_name
        value = getattr(data, name)
        if value is strawberry.UNSET:
            continue
        if isinstance(value, relay.GlobalID):
            value = decode_id(value, id_type if name == "id" else ID_TYPES[name], name)
        elif isinstance(value, list) and value and has_object_definition(value[0]):
            value = [fields(item) for item in value]
        elif has_object_definition(value):
            value = fields(value)
        result[name] = value
    return result


async def mutate_legacy(
    info: strawberry.Info, payload: Callable[..., P], action: Callable[[AsyncSession], Awaitable[Any]],
    key: str | None = None,
) -> P:  # fmt: skip
    async def handler(uow: Any, command: Any) -> Any:
        return await action(uow.session)

    context: Context = info.context
    await context.reading.close()
    try:
        async with context.unit_of_work() as uow:
            result = await handler(uow, None)
    except DomainError as error:
        return payload(errors=user_errors(error.problems))
    except IntegrityError as error:
        constraint = getattr(getattr(error.orig, "__cause__", None), "constraint_name", None) or "a unique value"
        return payload(errors=user_errors([Problem(ErrorCode.DUPLICATE, f"Conflicts with {constraint}.")]))
    return payload(errors=[], **({key: result} if key else result or {}))
