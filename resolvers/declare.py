"""Root fields declared in one statement each: a mutation is its handler, input and payload; a list
is its domain list function, node type and filter.

(This module evaluates its annotations at definition time, without postponed annotations, so
that the generated resolvers carry the real input, payload, node and filter types for the schema.)
"""

from typing import Any

import strawberry
from strawberry import relay

from resolvers.edge import mutate, paged


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
    holds the result under `key`, or the result's own fields."""
    if input_type is None:

        async def resolve(info: strawberry.Info) -> payload_type:  # type: ignore[valid-type]
            return await mutate(info, payload_type, handler, None, key)

    else:

        async def resolve(info: strawberry.Info, input: input_type) -> payload_type:  # type: ignore[valid-type]
            return await mutate(info, payload_type, handler, input, key)

    return strawberry.mutation(resolver=resolve, description=description)
