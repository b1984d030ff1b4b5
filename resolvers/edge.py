"""The edge between GraphQL and the domain: input conversion, transactions, error mapping.

Every mutation goes through `mutate`: one database transaction, business failures as
`payload.errors` (the transaction rolled back, nothing written), refusals as top-level errors.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import relay
from strawberry.types.base import has_object_definition

from domain.errors import AccessDenied, DomainError, ErrorCode, Problem, RecordedRefusal
from domain.paging import Page, PageRequest
from resolvers.context import Context
from schema.common import UserError, connection

P = TypeVar("P")

# Which node type a `…_id` input field must name. A global ID of another type is NOT_FOUND.
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
_id_digits_max = 18


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def decode_id(value: relay.GlobalID | None, type_name: str, field: str) -> int | None:
    if value is None:
        return None
    if value.type_name != type_name or not value.node_id.isdigit() or len(value.node_id) > _id_digits_max:
        raise DomainError(ErrorCode.NOT_FOUND, f"{camel(field)} does not name a {type_name}.", field)
    return int(value.node_id)


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


def user_errors(problems: list[Problem]) -> list[UserError]:
    return [
        UserError(field=["input", camel(p.field)] if p.field else None, code=p.code, message=p.message)
        for p in problems
    ]


async def mutate(
    info: strawberry.Info,
    payload: Callable[..., P],
    action: Callable[[AsyncSession], Awaitable[Any]],
    key: str | None = None,
) -> P:
    """Run `action` in one transaction; the payload holds its result (under `key`) or its failure."""
    context: Context = info.context
    # Never hold the read connection while waiting for a write one: enough concurrent
    # mutations would otherwise hold the whole pool and wait for each other.
    await context.reading.close()
    try:
        async with context.sessions.begin() as session:
            try:
                result = await action(session)
            except RecordedRefusal as refusal:  # keep its record: the transaction commits
                return payload(errors=user_errors(refusal.problems))
    except DomainError as error:
        return payload(errors=user_errors(error.problems))
    except IntegrityError as error:
        # A concurrent request won a uniqueness race the checks had passed.
        constraint = getattr(getattr(error.orig, "__cause__", None), "constraint_name", None) or "a unique value"
        return payload(errors=user_errors([Problem(ErrorCode.DUPLICATE, f"Conflicts with {constraint}.")]))
    return payload(errors=[], **({key: result} if key else result or {}))


async def read(info: strawberry.Info, action: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    """Run a query's domain call on the request's read session."""
    context: Context = info.context
    async with context.reading() as session:
        return await action(session)


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
    where = fields(filter) if filter else {}
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
    message = error.message if isinstance(error, AccessDenied) else error.problems[0].message
    return GraphQLError(message, extensions={"code": code.value})
