"""Root fields declared in one statement each: a mutation is its handler, input and payload; a list
is its domain list function, node type and filter.

(This module evaluates its annotations at definition time, without postponed annotations, so
that the generated resolvers carry the real input, payload, node and filter types for the schema.)
"""

import functools
from typing import Any

import strawberry
from graphql import GraphQLNonNull, GraphQLSchema
from strawberry import relay

from resolvers.edge import mutate, paged
from resolvers.inputs import given_of, reader_of


def list_field(list_function: Any, node_type: type, filter_type: type | None = None, *, description: str) -> Any:
    """A connection field over `list_function(session, principal, page, **filter)`: `first`/`after`
    or `last`/`before` (capped by the domain), and the filter when the list takes one."""
    if filter_type is None:

        async def resolve(
            info: strawberry.Info,
            first: int | None = None,
            after: str | None = None,
            last: int | None = None,
            before: str | None = None,
        ) -> relay.Connection[node_type]:  # type: ignore[valid-type]
            return await paged(info, list_function, None, first, after, last, before)

    else:

        async def resolve(
            info: strawberry.Info,
            filter: filter_type | None = None,  # type: ignore[valid-type]
            first: int | None = None,
            after: str | None = None,
            last: int | None = None,
            before: str | None = None,
        ) -> relay.Connection[node_type]:  # type: ignore[valid-type]
            return await paged(info, list_function, filter, first, after, last, before)

    return strawberry.field(resolver=resolve, description=description)


def mutation_field(
    handler: Any, input_type: type | None, payload_type: type, key: str | None = None, *, description: str
) -> Any:
    """A mutation that runs `handler` on its input's command (see `resolvers.edge.mutate`); the payload
    holds the result under `key`, or the result's own fields.

    The field is nullable: a request refused as a whole (FORBIDDEN, UNAUTHENTICATED: top-level errors) nulls
    that field alone. Non-null, it nulled the whole answer, hiding the work of the mutations before it in the
    same document, which was done and committed."""
    answer = payload_type | None
    if input_type is None:

        async def resolve(info: strawberry.Info) -> answer:  # type: ignore[valid-type]
            return await mutate(info, payload_type, handler, None, key)

    else:

        async def resolve(info: strawberry.Info, input: input_type) -> answer:  # type: ignore[valid-type]
            return await mutate(info, payload_type, handler, given_of(input), key)

    resolve.mutation = (handler, payload_type, key)  # type: ignore[attr-defined]  # see `read_inputs_as_given`
    return strawberry.mutation(resolver=resolve, description=description)


def read_inputs_as_given(schema: GraphQLSchema) -> None:
    """Every mutation declared by `mutation_field` reads its input from the values graphql-core coerced
    (`resolvers.inputs.reader_of`) instead of strawberry's conversion of its arguments, which redoes its
    type analysis on every field of every request: a tenth of a small mutation's time. The field's resolver
    in the built schema is replaced by one that runs the same `mutate`."""
    for field in schema.mutation_type.fields.values() if schema.mutation_type else ():
        resolver = field.extensions["strawberry-definition"].base_resolver
        declared = getattr(resolver.wrapped_func, "mutation", None) if resolver is not None else None
        if declared is not None:
            field.resolve = _given_resolver(field, *declared)


def _given_resolver(field: Any, handler: Any, payload_type: type, key: str | None) -> Any:
    argument = field.args.get("input")
    if argument is None:

        async def resolve(source: Any, info: Any) -> Any:
            return await mutate(info, payload_type, handler, None, key)

        return resolve
    kind = argument.type.of_type if isinstance(argument.type, GraphQLNonNull) else argument.type
    read = reader_of(kind)

    async def resolve_input(source: Any, info: Any, input: Any = None) -> Any:
        given = None if input is None else functools.partial(read, input)  # read in the unit of work (audited)
        return await mutate(info, payload_type, handler, given, key)

    return resolve_input
