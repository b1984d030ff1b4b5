"""The edge between GraphQL and the domain: input conversion, the unit of work, error mapping.

Every mutation goes through `mutate`: the input becomes the handler's typed command (global
IDs decoded by the command's field annotations), the handler runs in one unit of work, and
business failures become `payload.errors` with the client's camelCase field names.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import relay
from strawberry.relay.exceptions import NodeIDAnnotationError
from strawberry.relay.types import GlobalIDValueError

from domain.access import unauthenticated
from domain.audit.trail import Audit
from domain.errors import AccessDenied, DomainError, ErrorCode, Problem
from domain.paging import Page, PageRequest
from resolvers import measured
from resolvers.context import Context
from resolvers.inputs import command_type_of, field_names, filter_arguments, to_command
from schema.common import ErrorCode as ClientErrorCode
from schema.common import UserError, camel, client_words, connection

P = TypeVar("P")
log = logging.getLogger(__name__)


def user_errors(problems: list[Problem], names: Collection[str] = frozenset()) -> list[UserError]:
    """Problems as the client sees them: the input fields at fault and the messages in the client's
    names (`names`: the Python names of the input's fields)."""
    return [
        UserError(
            field=["input", ".".join(camel(part) for part in p.field.split("."))] if p.field else None,
            code=ClientErrorCode(p.code.value),
            message=client_words(p.message, {*names, *(p.field or "").split(".")}),
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
    await context.reading.release()
    command_type = command_type_of(handler)
    try:
        async with context.unit_of_work(audited(info.field_name, payload, key)) as uow:
            command_type.admit(context.principal)
            command = to_command(command_type, _read(input))  # in the unit: a refused input is audited too
            result = await uow.run(handler, command)
    except DomainError as error:  # a recorded refusal was committed by the unit of work
        measured.refused(info.field_name, error.problems)
        return payload(errors=user_errors(error.problems, field_names(command_type)))
    except IntegrityError as error:
        # A concurrent request won a race the checks had passed: the value is taken now, or what the request
        # names is gone.
        cause = getattr(error.orig, "__cause__", None)
        log.info("race lost: %s %s", getattr(cause, "sqlstate", None), getattr(cause, "constraint_name", None))
        lost = _RACES_LOST.get(getattr(cause, "sqlstate", None), _RACES_LOST[_UNIQUE_VIOLATION])
        measured.refused(info.field_name, [lost])
        return payload(errors=user_errors([lost]))
    measured.succeeded(result, uow.replayed)
    if uow.replayed:  # the payloads of idempotent mutations say when they answer a replay
        return payload(errors=[], replayed=True, **_payload_fields(result, key))
    return payload(errors=[], **_payload_fields(result, key))


_UNIQUE_VIOLATION, _FOREIGN_KEY_VIOLATION = "23505", "23503"
_RACES_LOST = {
    _UNIQUE_VIOLATION: Problem(ErrorCode.DUPLICATE, "A value that must be unique was taken by another request now."),
    _FOREIGN_KEY_VIOLATION: Problem(ErrorCode.NOT_FOUND, "What the request names was removed by another request now."),
}


def _read(input: Any) -> Any:
    """The input as given; read here when it comes as its reading (`resolvers.declare`), so that an ID that is
    no global ID is refused, as a whole (INVALID), inside the unit of work: audited."""
    if not callable(input):
        return input
    try:
        return input()
    except GlobalIDValueError:
        raise AccessDenied(ErrorCode.INVALID, "Not a valid global ID.") from None


@functools.cache
def audited(operation: str, payload: type, key: str | None) -> Audit:
    """What the audit trail records of a mutation: its name, and the node type of the object its payload
    holds under `key` (without a key: its one node, e.g. a key issued with its credential), when that node is
    named by its `id` (a card, named by its number, is not)."""
    fields = payload.__strawberry_definition__.fields
    nodes = [n for n in (getattr(f.type, "of_type", f.type) for f in fields if key is None or f.python_name == key)
             if isinstance(n, type) and issubclass(n, relay.Node)]  # fmt: skip
    if len(nodes) != 1:
        return Audit(operation)
    (node,) = nodes
    try:
        named_by_id = node.resolve_id_attr() == "id"
    except NodeIDAnnotationError:
        named_by_id = False
    return Audit(operation, node.__strawberry_definition__.name if named_by_id else None)


def _payload_fields(result: Any, key: str | None) -> dict[str, Any]:
    """The result under `key`, or a result's own fields (a dataclass or a dict) as the payload's."""
    if key:
        return {key: result}
    if dataclasses.is_dataclass(result):
        return {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    return result or {}


async def read(info: strawberry.Info, action: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    """Run a query's domain call on the request's read session."""
    return await info.context.read(action)


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
    if isinstance(error, AccessDenied) and error.code == ErrorCode.UNAUTHENTICATED and context and context.auth_problem:
        error = unauthenticated(context.auth_problem)  # the token sent was refused: say why, and what to do
    code = error.code
    if isinstance(error, AccessDenied):
        message = error.message
    else:
        message = client_words(error.problems[0].message, set((error.problems[0].field or "").split(".")))
    return GraphQLError(message, extensions={"code": code.value})
