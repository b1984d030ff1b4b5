"""The GraphQL schema assembled from the areas, its limits, and the HTTP view."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import strawberry
from graphql import GraphQLError
from starlette.requests import Request
from strawberry import relay
from strawberry.asgi import GraphQL
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.relay.types import GlobalIDValueError
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from domain.auth import service as auth
from domain.errors import AccessDenied, DomainError, ErrorCode
from loyalty.areas import AREAS
from loyalty.config import Settings
from resolvers.context import Context, ReadSession, Services
from resolvers.edge import refusal

log = logging.getLogger(__name__)


def root_types() -> tuple[type, type]:
    """Fresh root types for each schema: the `node` field is bound to the schema it is built into."""

    @strawberry.type
    class NodeQuery:
        node: relay.Node | None = relay.node(description="Any object by global ID, if you may see it; else null.")

    query = merge_types("Query", (NodeQuery, *(a.query for a in AREAS if a.query)))
    mutation = merge_types("Mutation", tuple(a.mutation for a in AREAS if a.mutation))
    return query, mutation


class ShapeErrors(MaskErrors):
    """Refusals and bad arguments keep their message and get `extensions.code`; internal faults are masked."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda _: False)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [self._shape(error) for error in errors]

    def _process_result(self, result: object) -> None:
        # The same test as the base class's, without its runtime protocol check: that cost a tenth of
        # a small request's time.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def _shape(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if original is None:  # syntax, validation, limits: safe to show as they are
            return error
        if isinstance(original, AccessDenied | DomainError):
            shaped = refusal(original, self.execution_context.context)
        elif isinstance(original, GlobalIDValueError):
            shaped = GraphQLError("Not a valid global ID.", extensions={"code": ErrorCode.INVALID.value})
        elif isinstance(original, GraphQLError):
            return error
        else:
            log.error("internal error", exc_info=original)
            shaped = GraphQLError("Unexpected error.", extensions={"code": "INTERNAL"})
        return GraphQLError(
            shaped.message, nodes=error.nodes, path=error.path, extensions=(error.extensions or {}) | shaped.extensions
        )


class Schema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        """Expected errors are answers, not faults; `ShapeErrors` logs the unexpected ones."""


def build_schema(settings: Settings) -> strawberry.Schema:
    # Factories give each request fresh extension instances. The limit rules are built once so
    # that the validation cache, keyed by the rules, hits across requests.
    s = settings
    limit_rules = (
        QueryDepthLimiter(max_depth=s.query_depth_max).validation_rules
        + MaxAliasesLimiter(max_alias_count=s.query_aliases_max).validation_rules
    )
    extensions: list = [
        lambda: MaxTokensLimiter(max_token_count=s.query_tokens_max),
        lambda: AddValidationRules(limit_rules),
        lambda: ParserCache(maxsize=1_000),
        lambda: ValidationCache(maxsize=1_000),
        ShapeErrors,
        CloseReadSession,
    ]
    if settings.production:
        extensions.insert(0, DisableIntrospection)
    query, mutation = root_types()
    return Schema(
        query=query,
        mutation=mutation,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=settings.production),
    )


class GraphQLView(GraphQL):
    """Authenticates the caller from `Authorization: Bearer …` and builds the request context."""

    def __init__(self, schema: strawberry.Schema, services: Services, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide=None if settings.production else "graphiql",
            allow_queries_via_get=False,
        )
        self.services = services

    async def get_context(self, request: Request, response) -> Context:
        reading = ReadSession(self.services.read_sessions)
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        if not header:
            return Context(request, self.services, reading, None)
        if scheme.lower() != "bearer" or not credential or len(credential) > 2_000:
            return Context(request, self.services, reading, None, ErrorCode.UNAUTHENTICATED)
        try:
            # One statement on a plain connection: no session is built for it, and the pool has it back at once.
            async with self.services.read_sessions.kw["bind"].connect() as connection:
                policy = self.services.policy(auth.AuthPolicy)
                principal = await auth.authenticate(connection, policy, credential.strip())
        except DomainError as error:
            return Context(request, self.services, reading, None, error.code)
        return Context(request, self.services, reading, principal)


class CloseReadSession(SchemaExtension):
    """Give the request's read connection back to the pool when the operation ends."""

    async def on_operation(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context.context
        if isinstance(context, Context):
            await context.reading.close()
