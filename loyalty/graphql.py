"""The GraphQL schema assembled from the areas, its limits, and the HTTP view."""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import math
import re
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import orjson
import sqlalchemy.exc
import strawberry
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import (
    ASTValidationRule,
    DocumentNode,
    ExecutableDefinitionNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    Node,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
    get_named_type,
    parse,
    type_from_ast,
    validate,
)
from graphql.language import VisitorAction
from graphql.language.visitor import SKIP
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry import relay
from strawberry.asgi import GraphQL
from strawberry.extensions import (
    DisableIntrospection,
    FieldExtension,
    MaskErrors,
    SchemaExtension,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.relay.types import GlobalIDValueError
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import CannotGetOperationTypeError
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.tools import merge_types
from strawberry.types import ExecutionResult
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.execution import PreExecutionError
from strawberry.types.unset import UNSET

from domain import metrics, requests
from domain.auth import service as auth
from domain.errors import AccessDenied, DomainError, ErrorCode
from domain.paging import page_size_default, page_size_max
from domain.work.driver import PoolBusy
from loyalty import completion, tracing
from loyalty.areas import AREAS
from loyalty.completion import Completing
from loyalty.config import Settings
from resolvers.context import Context, ReadSession, Services
from resolvers.declare import read_inputs_as_given
from resolvers.edge import refusal
from schema.common import SCALARS

log = logging.getLogger(__name__)

# What one document may select: its fields, counted where written (a field selected twice counts twice). The
# largest documents of the API guide (the front ends' included) select 29, of the tests 49, GraphiQL's
# introspection 72; validation's rule for fields of one name takes time by the square of the fields selected
# under one name (150 of them: about 12 ms; 1,000: a second).
query_fields_max = 150
# The list items (connections' nodes) one operation could return at worst (`ListItemsLimit`): one full page of
# full pages (100, each with 100 of its own: 10,100). The API guide's operations ask for at most 50, the tests'
# 100 (a variable counts as a full page). An item costs about 40 µs and 450 bytes of answer: 150,000 of them
# (15 aliases, each a page of 100 with a page of 100 in each item) took 6 s, 68 MB and hundreds of MB of memory.
list_items_max = 10_100
short_list_items_max = 50  # a plain list of at most this many items counts as one (`ListItemsLimit`)
reads_max = 100  # objects an operation's fields may read for on their own (`ListItemsLimit`)
retry_after_seconds = 1  # told to a client answered 503 UNAVAILABLE
# The parsed documents kept (`Documents`), by their texts' size: real clients send a few dozen documents of
# a few hundred bytes; a parsed document takes 50 to 150 times its text.
document_cache_bytes_max = 100_000


class NodeOrNull(FieldExtension):
    """`node(id:)` as the API guide has it. An ID of the `Node` interface itself (no object is of an interface
    alone) is not a valid global ID, as one of no type or of a type without IDs is; an object the caller may
    not see is null, whichever way its type refuses the caller (most types' loaders answer None, the rules
    refuse a caller who may not read them)."""

    def resolve(self, next_: Any, source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        type_name = kwargs["id"].type_name
        named = info.schema.get_type_by_name(type_name)
        if isinstance(named, StrawberryObjectDefinition) and named.is_interface:
            raise GlobalIDValueError(f"Cannot resolve. GlobalID requires a GraphQL Node type, received `{type_name}`.")
        found = next_(source, info, **kwargs)
        return _unless_refused(found) if inspect.isawaitable(found) else found


async def _unless_refused(found: Awaitable[Any]) -> Any:
    try:
        return await found
    except AccessDenied:
        return None


def root_types() -> tuple[type, type]:
    """Fresh root types for each schema: the `node` field is bound to the schema it is built into."""

    @strawberry.type
    class NodeQuery:
        node: relay.Node | None = relay.node(
            description="Any object by global ID, if you may see it; else null.", extensions=[NodeOrNull()]
        )

    query = merge_types("Query", (NodeQuery, *(a.query for a in AREAS if a.query)))
    mutation = merge_types("Mutation", tuple(a.mutation for a in AREAS if a.mutation))
    return query, mutation


class RequestError(GraphQLError):
    """A request error (GraphQL spec, "Errors"): the document does not parse or validate, or the variables do
    not fit their types. Nothing ran, and the response has no data."""


def recoded(error: GraphQLError, message: str, code: str, kind: type[GraphQLError] = GraphQLError) -> GraphQLError:
    """`error` where it was (locations, path) with `message` and `extensions.code`."""
    extensions = (error.extensions or {}) | {"code": code}
    return kind(message, error.nodes, error.source, error.positions, error.path, extensions=extensions)


def masked(error: GraphQLError, kind: type[GraphQLError] = GraphQLError) -> GraphQLError:
    """An internal fault: logged; the client learns only that it happened. A connection to the database not had
    in time (a burst over the pools), or not at all, is no fault of the code: UNAVAILABLE, logged in a line."""
    cause = error.original_error
    while isinstance(cause, GraphQLError) and cause.original_error is not None:
        cause = cause.original_error
    if isinstance(cause, BUSY + DOWN):
        message = unavailable(cause)
        log.warning("a request was answered UNAVAILABLE: %s (%s)", message, type(cause).__name__)
        return recoded(error, message, ErrorCode.UNAVAILABLE.value, kind)
    log.error("internal error: %s", error.message, exc_info=cause if not isinstance(cause, GraphQLError) else None)
    return recoded(error, "Unexpected error.", ErrorCode.INTERNAL.value, kind)


def is_coded(error: GraphQLError) -> bool:
    return bool(error.extensions) and "code" in error.extensions


class Executor(Completing, StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor; lists and objects of plain fields are completed in one walk (`Completing`);
    the errors of coercing the variables, raised before execution starts, are request errors. They suggest
    no names of the schema (an enum's values, an input's fields) in production (`QuietExecutor`)."""

    suggests = True

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        kwargs["hide_suggestions"] = kwargs.get("hide_suggestions", False) or not cls.suggests
        built = super().build(*args, **kwargs)
        if isinstance(built, list):
            return [
                RequestError(e.message, e.nodes, e.source, e.positions, e.path, e.original_error, e.extensions)
                for e in built
            ]
        return built


class QuietExecutor(Executor):
    """Production's."""

    suggests = False


class ShapeErrors(MaskErrors):
    """Every error gets `extensions.code`. Refusals, bad arguments and the request errors keep their message;
    internal faults are masked (and logged)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda _: False)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [self._shape(error, before_execution=False) for error in errors]

    def _process_result(self, result: object) -> None:
        # The same test as the base class's, without its runtime protocol check: that cost a tenth of
        # a small request's time.
        errors = getattr(result, "errors", None)
        if errors:
            before_execution = isinstance(result, PreExecutionError)  # parsing or validation failed
            result.errors = [self._shape(e, before_execution) for e in errors]  # type: ignore[attr-defined]

    def _shape(self, error: GraphQLError, before_execution: bool) -> GraphQLError:
        cause = error.original_error  # what was raised, under the GraphQL errors that wrap it
        while isinstance(cause, GraphQLError) and cause.original_error is not None:
            cause = cause.original_error
        of_graphql = cause is None or isinstance(cause, GraphQLError)
        request_error = before_execution or isinstance(error, RequestError)
        kind = RequestError if request_error else GraphQLError
        if isinstance(cause, AccessDenied | DomainError):  # also a scalar refusing a value, e.g. a date out of range
            shaped = refusal(cause, self.execution_context.context)
            return recoded(error, shaped.message, shaped.extensions["code"], kind)
        if isinstance(cause, GlobalIDValueError):
            return recoded(error, "Not a valid global ID.", ErrorCode.INVALID.value, kind)
        # A request error is the client's: GraphQL's own message, or a scalar's saying why it refused a value
        # of the document (located there); an exception raised elsewhere before execution is our fault.
        if request_error and (of_graphql or error.locations):
            return recoded(error, error.message, self._request_code(error), RequestError)
        if not request_error and of_graphql and is_coded(error):
            return error  # a refusal raised as a GraphQL error
        return masked(error, kind)

    def _request_code(self, error: GraphQLError) -> str:
        if self.execution_context.graphql_document is None:
            # The parser gives up on a document over the token limit or nested too deeply: "… Parsing aborted."
            too_complex = error.message.endswith("Parsing aborted.")
            return (ErrorCode.QUERY_TOO_COMPLEX if too_complex else ErrorCode.GRAPHQL_PARSE_FAILED).value
        if isinstance(error, RequestError):
            return ErrorCode.BAD_USER_INPUT.value
        return (error.extensions or {}).get("code") or ErrorCode.GRAPHQL_VALIDATION_FAILED.value


def validate_document(
    schema: Any, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...], hide_suggestions: bool
) -> list[GraphQLError]:
    """Strawberry's validation (its own rules added to those given), with graphql-core's switch for the
    suggestions of its messages ("Did you mean …?"), which strawberry does not pass on."""
    rules = (*rules, MaybeNullValidationRule, OneOfInputValidationRule)
    return validate(schema, document, rules, hide_suggestions=hide_suggestions)


def fields_selected(document: DocumentNode) -> int:
    """The fields a document selects, counted where written: in its operations and fragments, a field selected
    twice counting twice."""
    count = 0
    selection_sets = [d.selection_set for d in document.definitions if isinstance(d, ExecutableDefinitionNode)]
    while selection_sets:
        for selection in selection_sets.pop().selections:
            count += isinstance(selection, FieldNode)
            if (inner := getattr(selection, "selection_set", None)) is not None:  # a fragment spread has none
                selection_sets.append(inner)
    return count


def shape_limit(depth_max: int, aliases_max: int) -> type[ValidationRule]:
    """The rule refusing a document nested more than `depth_max` fields deep, or holding more than
    `aliases_max` aliases in all, counted as if its fragments were written out where they are spread (a
    fragment spread twice counts twice; introspection's `__` fields add no depth). Each fragment is measured
    once per document, its figures kept: fragments spreading fragments twice over, thirty deep (a document of
    a kilobyte standing for a billion fields), are measured as fast as they are written."""

    class ShapeLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.fragments: dict[str, tuple[int, int]] = {}  # name → (depth, aliases)
            self.walking: set[str] = set()  # the fragments being measured: a cycle (refused by validation) ends there

        def enter_document(self, node: DocumentNode, *_: Any) -> VisitorAction:
            aliases = 0
            for operation in node.definitions:
                if isinstance(operation, OperationDefinitionNode):
                    depth, more = self.measure(operation.selection_set)
                    aliases += more
                    if depth > depth_max:
                        message = (
                            f"The query's depth is {depth} fields nested in fields; at most {depth_max} are allowed."
                        )
                        self.refuse(message, operation)
            if aliases > aliases_max:
                self.refuse(f"The query holds {aliases:,} aliases; at most {aliases_max} are allowed.", node)
            return SKIP

        def refuse(self, message: str, node: Node) -> None:
            self.report_error(GraphQLError(message, node, extensions={"code": ErrorCode.QUERY_TOO_COMPLEX.value}))

        def measure(self, selection_set: SelectionSetNode) -> tuple[int, int]:
            depth = aliases = 0
            for selection in selection_set.selections:
                inner_depth = 0
                if isinstance(selection, FieldNode):
                    aliases += selection.alias is not None
                    if selection.selection_set is not None:
                        inner_depth, inner_aliases = self.measure(selection.selection_set)
                        aliases += inner_aliases
                        inner_depth = 0 if selection.name.value.startswith("__") else 1 + inner_depth
                elif isinstance(selection, InlineFragmentNode):
                    inner_depth, inner_aliases = self.measure(selection.selection_set)
                    aliases += inner_aliases
                elif isinstance(selection, FragmentSpreadNode):
                    inner_depth, inner_aliases = self.fragment(selection.name.value)
                    aliases += inner_aliases
                depth = max(depth, inner_depth)
            return depth, aliases

        def fragment(self, name: str) -> tuple[int, int]:
            if (known := self.fragments.get(name)) is not None:
                return known
            definition = self.context.get_fragment(name)
            if definition is None or name in self.walking:
                return 0, 0  # refused by validation: a fragment the document has not, or a cycle of fragments
            self.walking.add(name)
            try:
                measured = self.fragments[name] = self.measure(definition.selection_set)
            finally:
                self.walking.discard(name)
            return measured

    return ShapeLimit


class UsableText(ValidationRule):
    """Refuses a string written in the document that holds what no text the service keeps may (`_unusable_text`):
    GraphQL's escapes make one from request text that holds none (`"a\\u0000b"`), which the database would
    refuse later, as a fault."""

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if unusable := _unusable_text(node.value):
            message = f"Text may not hold {unusable}."
            self.report_error(GraphQLError(message, node, extensions={"code": ErrorCode.INVALID.value}))


class ListItemsLimit(ValidationRule):
    """Refuses an operation that could return more than `list_items_max` list items, or read the database on its
    own for more than `reads_max` objects, before it runs: its connections' nodes and its plain lists' items at
    worst. Each connection (a field taking `first` or `last`) counts its page size times the pages it sits in,
    through fragments too: the size written in the document (one beyond the page limit as the largest page: the
    connection refuses it anyway), the largest page for a variable (validation sees no values, and a valid
    document is not validated again, whatever values its next request brings), the default page when none is
    given. A plain list counts the most items it declares (`schema.common.listed`; a connection's edges and a
    payload's errors declare none: the connection counts its page, a mutation's payload is one), a short one (of
    at most `short_list_items_max`: a redemption's lines, a booking's months, an account's numbers) one item, as
    a field: counted at their most, lists of lists of a few each multiplied into the limit of ordinary pages. A
    field that
    reads for each object it is asked on (`schema.common.read_alone`: a member's points history, statement,
    redemptions …, which no loader batches) counts once for every object it could be asked on. A field selected
    twice counts twice, though its answers merge. A fragment is walked once per document, its counts kept:
    spreading it again costs no more time."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.fragment_counts: dict[str, tuple[int, int]] = {}  # name → (items, reads)
        self.walking: set[str] = set()  # the fragments being walked: a cycle (refused by validation) ends there

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> VisitorAction:
        root = self.context.schema.get_root_type(node.operation)
        items, reads = self.counts(node.selection_set, root)
        if items > list_items_max:
            self.refuse(f"The query could return up to {items:,} list items; at most {list_items_max:,} are"
                        " allowed: ask for smaller pages.", node)  # fmt: skip
        if reads > reads_max:
            self.refuse(f"The query could read the database on its own for {reads:,} objects (a member's points"
                        f" history, statement or redemptions in each of a page, …); at most {reads_max} are"
                        " allowed: ask for them one object at a time, or for a smaller page.", node)  # fmt: skip
        return SKIP  # its fragments are walked from their spreads

    def refuse(self, message: str, node: Node) -> None:
        self.report_error(GraphQLError(message, node, extensions={"code": ErrorCode.QUERY_TOO_COMPLEX.value}))

    def enter_fragment_definition(self, *_: Any) -> VisitorAction:
        return SKIP

    def counts(self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None) -> tuple[int, int]:
        """The list items `selection_set` could return at worst, once, on an object of type `parent`, and the
        objects its fields could read for on their own."""
        items = reads = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                fields = parent.fields if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) else {}
                field = fields.get(selection.name.value)
                if field is None:
                    continue  # `__typename`, introspection, or a field the schema has not (refused by validation)
                inner_items = inner_reads = 0
                if selection.selection_set is not None:
                    inner_items, inner_reads = self.counts(selection.selection_set, get_named_type(field.type))
                size = page_size(selection, field)
                if size is None:
                    size = items_declared(field, selection)
                    if size is not None and size <= short_list_items_max:
                        size = 1  # a short list (a redemption's lines, a booking's months) is as one item
                items += inner_items if size is None else size * (1 + inner_items)
                reads += reads_alone(field) + (1 if size is None else size) * inner_reads
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                typed = parent if condition is None else type_from_ast(self.context.schema, condition)
                inner_items, inner_reads = self.counts(selection.selection_set, typed)
                items, reads = items + inner_items, reads + inner_reads
            elif isinstance(selection, FragmentSpreadNode):
                inner_items, inner_reads = self.fragment(selection.name.value)
                items, reads = items + inner_items, reads + inner_reads
        return items, reads

    def fragment(self, name: str) -> tuple[int, int]:
        if (known := self.fragment_counts.get(name)) is not None:
            return known
        definition = self.context.get_fragment(name)
        if definition is None or name in self.walking:
            return 0, 0  # refused by validation: a fragment the document has not, or a cycle of fragments
        self.walking.add(name)
        try:
            typed = type_from_ast(self.context.schema, definition.type_condition)
            counted = self.fragment_counts[name] = self.counts(definition.selection_set, typed)
        finally:
            self.walking.discard(name)
        return counted


def _metadata(field: GraphQLField) -> Mapping[str, Any]:
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    return getattr(definition, "metadata", None) or {}


def reads_alone(field: GraphQLField) -> int:
    """1 for a field that reads the database for each object it is asked on (`schema.common.read_alone`)."""
    return 1 if _metadata(field).get("reads_alone") else 0


def items_declared(field: GraphQLField, selection: FieldNode | None = None) -> int | None:
    """The most items a plain list field declares it answers (`schema.common.listed`), as `selection` asks for
    them where an argument bounds them (`expiringSoon(days: 30)`: a day each, 31); None when it declares none."""
    metadata = _metadata(field)
    most, argument = metadata.get("items_max"), metadata.get("items_per")
    if most is None or argument is None or selection is None:
        return most
    given = next((a.value for a in selection.arguments or () if a.name.value == argument), None)
    if given is None:
        default = field.args[argument].default_value
        return min(int(default) + 1, most) if isinstance(default, int) else most
    if isinstance(given, IntValueNode):
        return min(max(int(given.value), 0) + 1, most)
    return most  # a variable: validation sees no values


def page_size(selection: FieldNode, field: GraphQLField) -> int | None:
    """The largest page a connection's field could answer as written; None for a field that is no
    connection."""
    if "first" not in field.args and "last" not in field.args:
        return None
    sizes = []
    for argument in selection.arguments or ():
        value = argument.value
        if argument.name.value not in ("first", "last") or isinstance(value, NullValueNode):
            continue
        if isinstance(value, IntValueNode):
            sizes.append(min(max(int(value.value), 0), page_size_max))
        else:  # a variable (validation sees no values), or a value of another type (refused by validation)
            sizes.append(page_size_max)
    return max(sizes, default=page_size_default)


class Documents:
    """The documents of one schema that parsed, kept within the limits and validated, by their text: a repeated
    one is neither parsed nor validated again, and its syntax tree is the same objects each time (the plans of
    `loyalty.completion` are kept by them). Their texts hold at most `bytes_max` bytes in all (UTF-8), the
    least recently used given up first; a longer one is kept alone. A document that fails is never kept:
    anyone can send endless distinct ones, and each would hold its syntax tree and errors while kept."""

    def __init__(self, bytes_max: int) -> None:
        self.bytes_max = bytes_max
        self.bytes = 0
        self._kept: OrderedDict[str, tuple[DocumentNode, tuple[type[ASTValidationRule], ...], int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    def __contains__(self, text: str) -> bool:
        return text in self._kept

    def get(self, text: str, rules: tuple[type[ASTValidationRule], ...]) -> DocumentNode | None:
        """The document of `text`, if it is kept as valid under `rules`."""
        found = self._kept.get(text)
        if found is None or found[1] != rules:
            return None
        self._kept.move_to_end(text)
        return found[0]

    def keep(self, text: str, rules: tuple[type[ASTValidationRule], ...], document: DocumentNode) -> None:
        """`document`, parsed from `text`, valid under `rules`: kept, if need be alone (every valid document
        that runs is kept, so that the completion plans made for it go when it goes)."""
        size = len(text.encode())
        if (replaced := self._kept.pop(text, None)) is not None:
            self.bytes -= replaced[2]
        given_up = False
        while self._kept and self.bytes + size > self.bytes_max:
            self.bytes -= self._kept.popitem(last=False)[1][2]
            given_up = True
        if given_up:
            # The plans hold the syntax trees they were made for: all go, those of the documents still kept
            # are made anew when they next run.
            completion.forget_plans()
        self._kept[text] = (document, rules, size)
        self.bytes += size


_UNKNOWN = object()


class OperationNotNamed(CannotGetOperationTypeError):
    """Answered by the view as strawberry answers an `operationName` naming no operation: 400, BAD_REQUEST."""

    def as_http_error_reason(self) -> str:
        return "The document holds several operations: name the one to run in `operationName`."


class Operation(ShapeErrors):
    """Everything the service does around an operation, in one extension: strawberry gives every request a
    context manager per hook of each extension, which cost a small request a tenth of its time when these
    were six extensions.

    - The limits: the parser's token limit; the fields a document selects (`query_fields_max`), counted before
      validation, whose duplicate-field rule takes time by their square; the depth, alias and list items
      (`ListItemsLimit`) rules added to validation.
    - Parsing and validation once per document, through `Documents` (which keeps valid ones alone); a document
      that does not parse is left to strawberry's own parsing step: its syntax errors then reach the error
      shaping as a result, like validation errors, instead of escaping the operation as an exception.
      Validation suggests no names of the schema when the schema's config disables field suggestions
      (production).
    - When the operation ends: the request's read connection given back to the pool, the operation named for
      the request's log line and metrics if its document was valid, and every error shaped (`ShapeErrors`).
    """

    def __init__(self, tokens_max: int, rules: tuple[type[ASTValidationRule], ...], documents: Documents) -> None:
        super().__init__()
        self.tokens_max, self.rules, self.documents = tokens_max, rules, documents

    def _parse_and_validate(self) -> None:
        """Done here, before strawberry's own steps, which then find the document and its errors and do
        nothing: hooks of their own would cost every request two more context managers."""
        execution = self.execution_context
        if not execution.query:
            return  # strawberry answers that a query is missing
        rules = tuple(execution.validation_rules)
        document = self.documents.get(execution.query, rules)
        if document is not None:
            execution.graphql_document, execution.pre_execution_errors = document, []
            self._refuse_unnamed_choice(document)
            return
        with contextlib.suppress(GraphQLError):
            document = parse(execution.query, **execution.parse_options)
        if document is None:
            return
        execution.graphql_document = document
        if fields_selected(document) > query_fields_max:
            message = f"The document selects more than {query_fields_max} fields (each selection counts)."
            code = ErrorCode.QUERY_TOO_COMPLEX.value
            execution.pre_execution_errors = [GraphQLError(message, extensions={"code": code})]
            return
        hide_suggestions = execution.schema.config.disable_field_suggestions
        errors = validate_document(execution.schema._schema, document, rules, hide_suggestions)
        execution.pre_execution_errors = errors
        if not errors:
            self.documents.keep(execution.query, rules, document)
            self._refuse_unnamed_choice(document)

    def _refuse_unnamed_choice(self, document: DocumentNode) -> None:
        """A document of several operations runs the one `operationName` names; without a name the request is
        refused as one naming no operation of the document is (GraphQL spec, "GetOperation"). Strawberry would
        run the first: it names the operation itself when the request does not."""
        given = getattr(self.execution_context, "_provided_operation_name", _UNKNOWN)  # None: the request named none
        if given is None and sum(isinstance(d, OperationDefinitionNode) for d in document.definitions) > 1:
            raise OperationNotNamed(None)

    async def on_operation(self) -> AsyncIterator[None]:  # type: ignore[override]
        execution = self.execution_context
        execution.parse_options["max_tokens"] = self.tokens_max
        execution.validation_rules = (*execution.validation_rules, *self.rules)
        shaping = super().on_operation()  # the error shaping of `ShapeErrors`, around the operation too
        next(shaping)
        self._parse_and_validate()
        yield
        record = requests.current()
        if record is not None and execution.graphql_document is not None:
            if not isinstance(execution.result, PreExecutionError):  # parsed and valid: the schema's names
                record.operation, named = operation_of(execution)
                if named and not record.operation_name and _CLIENT_NAME.fullmatch(named):
                    record.operation_name = named
        context = execution.context
        if isinstance(context, Context):
            await context.reading.close()
        next(shaping, None)


class _Nothing:
    """A step of an operation that no extension hooks into."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *_: object) -> None:
        return None


_NOTHING = _Nothing()


class ExtensionsRunner(SchemaExtensionsRunner):
    """Strawberry's, which makes each step of every operation (parsing, validation, execution) a context
    manager of its own with an exit stack, also where no extension has a hook for that step (where
    `Operation` is the only one): the steps without hooks get a context manager that does nothing. A
    twentieth of a mutation's time."""

    def _step(self, hook: str, step: Callable[[SchemaExtensionsRunner], Any]) -> Any:
        default = getattr(SchemaExtension, hook)
        if any(getattr(type(extension), hook) is not default for extension in self.extensions):
            return step(self)
        return _NOTHING

    def parsing(self) -> Any:
        return self._step("on_parse", SchemaExtensionsRunner.parsing)

    def validation(self) -> Any:
        return self._step("on_validate", SchemaExtensionsRunner.validation)

    def executing(self) -> Any:
        return self._step("on_execute", SchemaExtensionsRunner.executing)


class Schema(strawberry.Schema):
    documents: Documents  # the documents it parsed and validated

    def process_errors(self, errors, execution_context=None) -> None:
        """Expected errors are answers, not faults; `ShapeErrors` logs the unexpected ones."""

    def create_extensions_runner(self, execution_context: Any, extensions: list[SchemaExtension]) -> Any:
        return ExtensionsRunner(execution_context=execution_context, extensions=extensions)


def build_schema(settings: Settings, tracer_provider: Any = None) -> Schema:
    # Factories give each request fresh extension instances. The limit rules are built once so
    # that the validation cache, keyed by the rules, hits across requests.
    s = settings
    limit_rules = [shape_limit(s.query_depth_max, s.query_aliases_max), ListItemsLimit, UsableText]
    documents = Documents(document_cache_bytes_max)
    extensions: list = [lambda: Operation(s.query_tokens_max, tuple(limit_rules), documents)]
    if settings.production:
        extensions.insert(0, DisableIntrospection)
    if tracer_provider is not None:  # its operation's span holds the parsing and validation `Operation` does
        extensions.insert(0, tracing.graphql_extension(tracer_provider))
    query, mutation = root_types()
    schema = Schema(
        query=query,
        mutation=mutation,
        extensions=extensions,
        execution_context_class=QuietExecutor if settings.production else Executor,
        config=StrawberryConfig(disable_field_suggestions=settings.production, scalar_map=SCALARS),
    )
    schema.documents = documents
    read_inputs_as_given(schema._schema)
    return schema


GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def answer_media_type(accept: str) -> str | None:
    """The media type to answer in (GraphQL over HTTP, "Body"): of the two the client accepts, the one it
    prefers (by quality, then by the more specific range, then by the order listed; `application/json` on
    a tie); `application/json` when the client states no preference; None when it accepts neither."""
    if not accept or accept == "*/*" or accept == JSON:  # the common cases, decided at once
        return JSON
    ranges = []  # (media range, quality, position)
    for position, item in enumerate(accept.lower().split(",")):
        media_range, *parameters = item.split(";")
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    pass
        ranges.append((media_range.strip(), quality, position))
    chosen, best = None, (0.0,)
    for media_type in (JSON, GRAPHQL_RESPONSE):
        specificity = {media_type: 2, "application/*": 1, "*/*": 0}
        matches = [(specificity[r], q, -p) for r, q, p in ranges if r in specificity]
        if matches:
            most_specific, quality, position = max(matches)
            if (quality, most_specific, position) > best and quality > 0:
                chosen, best = media_type, (quality, most_specific, position)
    return chosen


def is_json_in_utf8(content_type: str | None) -> bool:
    media_type, *parameters = (content_type or "").lower().split(";")
    charsets = [
        value.strip().strip('"')
        for name, _, value in (p.partition("=") for p in parameters)
        if name.strip() == "charset"
    ]
    return media_type.strip() == JSON and all(charset in ("utf-8", "utf8") for charset in charsets)


_UNUSABLE = re.compile("[\x00\ud800-\udfff]")


def _unusable_text(*values: Any) -> str | None:
    """What no text the service keeps may hold: a NUL character, or half of a UTF-16 surrogate pair (which a
    JSON escape can make, and no database encoding takes). Checked once for a whole request."""
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if found := _UNUSABLE.search(value):
                return "a NUL character" if found.group() == "\x00" else "a lone UTF-16 surrogate"
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return None


GRAPHIQL_ASSETS = Path(__file__).resolve().parent / "static" / "graphiql"
GRAPHIQL_PAGE = GRAPHIQL_ASSETS / "index.html"


def _unavailable_alone(result: ExecutionResult) -> bool:
    """Whether the answer holds nothing but UNAVAILABLE errors, one at each of its root fields: none was answered
    (a root field null of its own beside them, or answered in part, is an answer)."""
    errors = result.errors or ()
    if not errors or any((e.extensions or {}).get("code") != ErrorCode.UNAVAILABLE.value for e in errors):
        return False
    failed = {e.path[0] for e in errors if e.path and len(e.path) == 1}
    return result.data is None or set(result.data) <= failed


def _outcome_of(error: GraphQLError, code: str) -> str:
    if code == ErrorCode.INTERNAL.value:
        return requests.Outcome.INTERNAL
    if code == ErrorCode.UNAVAILABLE.value:
        return requests.Outcome.UNAVAILABLE
    if isinstance(error, RequestError):
        return requests.Outcome.ERROR
    return requests.Outcome.REFUSED


# What a database that is down, restarting or out of reach raises at the driver (authentication reads through
# the driver alone), and what a pool raises when no connection comes free in time: any other fault stays an
# internal error, with its traceback in the log.
UNREACHABLE = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError)
BUSY = (sqlalchemy.exc.TimeoutError, PoolBusy)
# Of those, what a request's work meets when the database goes away under it: anything else (a timeout of ours, a
# connection used wrongly) is a fault, with its traceback.
DOWN = (ConnectionError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
        asyncpg.ConnectionDoesNotExistError)  # fmt: skip


def unavailable(cause: BaseException) -> str:
    """What a client is told when `cause` (of `BUSY`, `DOWN` or `UNREACHABLE`) kept its request from running."""
    if isinstance(cause, BUSY):
        return "The service is busy: try again shortly."
    return "The service cannot reach its database: try again shortly."


class CodedHTTPException(HTTPException):
    """A refused request whose answer names a code of its own (not BAD_REQUEST). A request error (a well-formed
    request whose document or variables the service will not run) is answered as GraphQL over HTTP says:
    200 with `data: null` in `application/json`, 400 without `data` in `application/graphql-response+json`."""

    def __init__(self, status_code: int, reason: str, code: ErrorCode, *, request_error: bool = False) -> None:
        super().__init__(status_code, reason)
        self.code = code
        self.request_error = request_error


class GraphQLView(GraphQL):
    """Authenticates the caller from `Authorization: Bearer …` and builds the request context; answers by
    GraphQL over HTTP, in `application/graphql-response+json` to clients that ask for it (status 400 and no
    data for a request error), else in `application/json` (status 200 for any GraphQL response). A request
    the API does not take is refused with a GraphQL-shaped body, `extensions.code` BAD_REQUEST."""

    def __init__(self, schema: strawberry.Schema, services: Services, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide=None if settings.production else "graphiql",
            allow_queries_via_get=False,
        )
        self.services = services
        self.query_length_max = settings.query_length_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        media_type = answer_media_type(request.headers.get("accept", ""))
        if request.method != "POST" and not (request.method == "GET" and self.should_render_graphql_ide(request)):
            response = self.refused(405, "Send GraphQL requests with POST.", media_type or JSON, {"allow": "POST"})
        elif request.method == "POST" and media_type is None:
            response = self.refused(406, f"Accept {GRAPHQL_RESPONSE} or {JSON}.", JSON)
        else:
            if media_type == GRAPHQL_RESPONSE:
                request.state.answer_media_type = media_type  # read by `process_result` for a request error
            try:
                response = await self.run(request)
            except HTTPException as error:
                code, request_error = getattr(error, "code", None), getattr(error, "request_error", False)
                as_json = request_error and media_type != GRAPHQL_RESPONSE  # answered as any other request error
                status = 200 if as_json else error.status_code
                headers = {"retry-after": str(retry_after_seconds)} if status == 503 else None
                response = self.refused(status, error.reason, media_type, headers, code=code, with_data=as_json)
            else:
                if media_type == GRAPHQL_RESPONSE and request.method == "POST":
                    response.headers["content-type"] = f"{GRAPHQL_RESPONSE}; charset=utf-8"
                    if getattr(request.state, "request_error", False):
                        response.status_code = 400
        await response(scope, receive, send)

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """Strawberry's, for a request over HTTP, without its checks for answers this API never gives (a
        subscription's stream, incremental delivery, a batch): they test the result against runtime protocols,
        a twentieth of a mutation's time. A web socket goes strawberry's way."""
        if not isinstance(request, Request):
            return await super().run(request, context, root_value)
        if root_value is UNSET:
            root_value = await self.get_root_value(request)
        adapter = self.request_adapter_class(request)
        sub_response = await self.get_sub_response(request)
        if context is UNSET:
            context = await self.get_context(request, response=sub_response)
        if not self.is_request_allowed(adapter):
            raise HTTPException(405, "GraphQL only supports GET and POST requests.")
        if self.should_render_graphql_ide(adapter):
            if self.graphql_ide:
                return await self.render_graphql_ide(request)
            raise HTTPException(404, "Not Found")
        data = await self.parse_http_body(adapter)
        result = await self.execute_operation(
            request=request,
            request_adapter=adapter,
            request_data=data,
            context=context,
            root_value=root_value,
            sub_response=sub_response,
        )
        if not isinstance(result, ExecutionResult):  # none of the answers this API gives: a fault
            raise TypeError(f"An operation's result of {type(result).__name__} cannot be answered over HTTP.")
        answer = await self.process_result(request=request, result=result)
        if result.errors:
            self._handle_errors(result.errors, answer)
        response = self.create_response(response_data=answer, sub_response=sub_response)
        if _unavailable_alone(result):  # for a client, a proxy or a load balancer: no answer; try again
            response.status_code = 503
            response.headers["retry-after"] = str(retry_after_seconds)
        return response

    async def render_graphql_ide(self, request: Request) -> Response:
        """The API page, whose scripts and styles the service serves itself (`/graphiql/assets`): it works with
        no network beyond the service, and runs no code from anywhere else."""
        return HTMLResponse(GRAPHIQL_PAGE.read_text(encoding="utf-8"))

    def refused(
        self,
        status: int,
        message: str,
        media_type: str | None,
        headers: Mapping[str, str] | None = None,
        code: ErrorCode | None = None,
        with_data: bool = False,
    ) -> Response:
        """A request the API does not take: the status says why, the body is a GraphQL response with no data
        (`data: null` when `with_data`)."""
        code = code or (ErrorCode.NOT_FOUND if status == 404 else ErrorCode.BAD_REQUEST)
        if (record := requests.current()) is not None:
            outcome = requests.Outcome.UNAVAILABLE if code == ErrorCode.UNAVAILABLE else requests.Outcome.ERROR
            record.refused(code.value, outcome)
        metrics.series(metrics.GRAPHQL_ERRORS, code.value).inc()
        body = ({"data": None} if with_data else {}) | {"errors": [{"message": message, "extensions": {"code": code}}]}
        content_type = f"{GRAPHQL_RESPONSE}; charset=utf-8" if media_type == GRAPHQL_RESPONSE else JSON
        return Response(self.encode_json(body), status_code=status, headers=headers, media_type=content_type)

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData | list[GraphQLRequestData]:
        if request.method == "POST" and not is_json_in_utf8(request.content_type):
            raise HTTPException(415, f"Send the request as {JSON} in UTF-8.")
        data = await self._request_data(request)
        if not isinstance(data, GraphQLRequestData):
            return data  # a batch: refused as such by the view
        if not isinstance(data.operation_name, str | None):
            raise HTTPException(400, "The GraphQL operation's `operationName` must be a string or null, if provided.")
        if isinstance(data.query, str) and len(data.query) > self.query_length_max:
            # Refused before the parser sees it: comments and spaces are no tokens, but they take its time too.
            raise CodedHTTPException(
                400,
                f"The document is longer than {self.query_length_max} characters (comments and spaces count).",
                ErrorCode.QUERY_TOO_COMPLEX,
                request_error=True,
            )
        record = requests.current()
        if record is not None and data.operation_name and _CLIENT_NAME.fullmatch(data.operation_name):
            record.operation_name = data.operation_name  # for the log: a name, never a value
        if unusable := _unusable_text(data.query, data.variables):
            # Every string of the request, in the document and the variables, whatever argument it is for.
            raise CodedHTTPException(400, f"Text may not hold {unusable}.", ErrorCode.INVALID, request_error=True)
        return data

    async def _request_data(self, request: AsyncHTTPRequestAdapter) -> Any:
        """Strawberry's reading of the body, without its second parse of the content type (by the standard
        library's e-mail parser) for what the API takes: one operation in a JSON object, asking for no stream.
        Anything else (a batch, a field of the wrong type, an `Accept` of a stream) is strawberry's to answer,
        from the body Starlette keeps."""
        if request.method != "POST" or self._get_stream_transport_from_headers(request.headers) is not None:
            return await super().parse_http_body(request)
        data = self.parse_json(await request.get_body())
        if not isinstance(data, dict):
            return await super().parse_http_body(request)
        query, variables, extensions = data.get("query"), data.get("variables"), data.get("extensions")
        if not (
            isinstance(query, str | None) and isinstance(variables, dict | None) and isinstance(extensions, dict | None)
        ):
            return await super().parse_http_body(request)
        return GraphQLRequestData(
            query=query,
            variables=variables,
            operation_name=data.get("operationName"),
            extensions=extensions,
            protocol="http",
        )

    def encode_json(self, data: object) -> bytes:
        """The answer in compact JSON, by orjson (a tenth of the standard library's time for a page of 50);
        a value orjson does not take (an integer beyond 64 bits) goes through the standard library."""
        try:
            return orjson.dumps(data)
        except TypeError:
            return json.dumps(data, separators=(",", ":")).encode()

    def decode_json(self, data: str | bytes) -> object:
        """JSON as RFC 8259 has it: in UTF-8 (the standard library's decoder takes bytes in UTF-16 or UTF-32 as
        well; a byte order mark is let through), and with no number JSON has not (`NaN`, `Infinity`, nor one
        beyond a float's range, which would be read as infinity), nor an object naming a member twice (which the
        decoder would read as its last: a proxy that reads the first would pass another request than this one)."""
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        return json.loads(text, parse_constant=_no_json_number, parse_float=_finite, object_pairs_hook=_named_once)

    def parse_json(self, data: str | bytes) -> Any:
        try:
            parsed = self.decode_json(data)
        except UnicodeDecodeError as error:
            raise HTTPException(400, "The request body is not UTF-8.") from error
        except _NamedTwice as error:
            raise HTTPException(400, f"The request body is not JSON as this API reads it: {error}") from error
        except ValueError as error:  # not JSON
            raise HTTPException(400, "Unable to parse request body as JSON") from error
        except RecursionError as error:  # arrays or objects nested beyond what the decoder follows
            raise HTTPException(400, "The request body is nested too deeply.") from error
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "The request body must be a JSON object.")
        return parsed

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        if result.errors and not all(is_coded(e) for e in result.errors):
            # Only when an extension failed, and the operation with it, before `Operation` shaped the errors.
            result.errors = [e if is_coded(e) else masked(e) for e in result.errors]
        record = requests.current()
        if result.errors and record is not None:
            for error in result.errors:
                code = error.extensions["code"]
                metrics.series(metrics.GRAPHQL_ERRORS, code).inc()
                record.refused(code, _outcome_of(error, code))
        answer = process_result(result)
        if result.data is None and result.errors and all(isinstance(e, RequestError) for e in result.errors):
            if getattr(request.state, "answer_media_type", JSON) == GRAPHQL_RESPONSE:
                del answer["data"]  # nothing ran: a request error's response has no data entry
                request.state.request_error = True
        return answer

    async def get_context(self, request: Request, response) -> Context:
        context = await self._context(request)
        record = requests.current()
        if record is not None and context.principal is not None:
            record.identify(context.principal)
        return context

    async def _context(self, request: Request) -> Context:
        reading = ReadSession(self.services.read_sessions)
        headers = [header for header in request.headers.getlist("authorization") if header.strip()]
        if not headers:  # none, or empty (a front end logged out)
            return Context(request, self.services, reading, None)
        scheme, _, credential = headers[0].partition(" ")
        if len(headers) > 1 or scheme.lower() != "bearer" or not credential or len(credential) > 2_000:
            return self._refused(request, reading, "malformed", ErrorCode.UNAUTHENTICATED)  # two: which is meant?
        try:
            policy = self.services.policy(auth.AuthPolicy)
            principal = await auth.authenticate(self.services.engine, policy, credential.strip())
        except DomainError as error:
            kind = "partner_key" if credential.strip().startswith(auth.partner_key_prefix) else "token"
            return self._refused(request, reading, kind, error.code)
        except BUSY + UNREACHABLE as error:  # the caller cannot be known: a GraphQL-shaped 503, not a bare 500
            message = unavailable(error)
            log.warning("authenticating a request failed: %s (%s)", message, type(error).__name__)
            raise CodedHTTPException(503, message, ErrorCode.UNAVAILABLE) from None
        return Context(request, self.services, reading, principal)

    def _refused(self, request: Request, reading: ReadSession, kind: str, code: ErrorCode) -> Context:
        """The context of a request whose credential was refused: an anonymous caller's, told why; counted, and
        named on the request's log line."""
        metrics.CREDENTIALS_REFUSED.labels(kind, code.value).inc()
        record = requests.current()
        if record is not None:
            record.credential_refused = code.value
        return Context(request, self.services, reading, None, code)


def _no_json_number(name: str) -> NoReturn:
    raise ValueError(f"{name} is no JSON number.")


class _NamedTwice(ValueError):
    pass


def _named_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) < len(pairs):
        twice = next(name for name, times in Counter(name for name, _ in pairs).items() if times > 1)
        raise _NamedTwice(f"{json.dumps(twice)[:64]} is named twice in one object.")
    return members


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is beyond a float's range.")
    return number


_CLIENT_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")


def operation_of(execution: Any) -> tuple[str, str | None]:
    """The operation as logs and metrics name it: its type and first root field, e.g. "mutation adjustPoints"
    (only a valid document reaches execution, so the field is one of the schema's: the names are few); and
    the name the document gives it, if any."""
    document, wanted = execution.graphql_document, execution.operation_name
    for definition in getattr(document, "definitions", ()):
        if isinstance(definition, OperationDefinitionNode) and (
            wanted is None or (definition.name and definition.name.value == wanted)
        ):
            first = definition.selection_set.selections[0] if definition.selection_set.selections else None
            field = first.name.value if isinstance(first, FieldNode) else "…"
            return f"{definition.operation.value} {field}", definition.name.value if definition.name else None
    return "graphql", None
