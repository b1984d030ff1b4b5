"""Completing a list or an object of plain fields in one walk, instead of field by field.

The GraphQL executor completes every field of every object on its own: it builds the field's resolve
info, calls its resolver, checks and serialises what came back, each step a call through its machinery.
That costs 20–40 µs a field, so a page of 50 members with their grade, branch and customer spends most of
its time there, not in the database. Most fields of a page need none of it: a column of a row, a node's
global ID, a method of the object itself, or a related row a DataLoader holds (`schema.common.joined`).

When the selection under a list or an object holds only such fields, all the way down, the completion
walks it once with a plan made for that selection and builds the answer's dicts directly; related rows
that are not known yet are asked of their loaders for the whole list at once (one batch per loader and
level, the keys of every place together, no future per place), and their places are filled in when the
batch is in, level by level.

Anything else (a field with arguments, an async resolver, an abstract type, a deferred fragment) leaves
that selection to the executor, and so does any error met on the way (a null in a non-null field, a
failed batch, a row of the wrong type): the executor then completes the same value again, field by field,
and reports the error exactly as it would have. Nothing is walked when an extension wraps every resolver
(tracing), so that it sees every field.
"""

from __future__ import annotations

import asyncio
import inspect
import operator
from collections.abc import Callable, Mapping
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLID,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLString,
    Undefined,
)
from strawberry import relay
from strawberry.relay.utils import to_base64

from domain.loading import MISSING

_NODE_ID = relay.Node.__dict__["_id"].__func__  # the resolver of every node's `id`
_DEFAULT_RESOLVE_ID = relay.Node.__dict__["resolve_id"].__func__
# Plans by selection, shared by every request: a parsed document is cached, so its field nodes are the same
# objects from one request to the next. A document with `@include` or `@skip` may select differently with
# other variables: its plans are made for its execution alone.
_plans: dict[tuple[Any, ...], tuple[Any, Any]] = {}
_plans_max = 10_000
_levels_max = 8  # of related objects loaded after the walk, one batch per loader and level


def forget_plans() -> None:
    """Forget every plan: the documents they were made for are given up (their syntax trees go with them)."""
    _plans.clear()


class Abandon(Exception):
    """The walk cannot complete this value as the executor would: the executor completes it instead."""


class Walk:
    """One completion's state: the request's loaders, and the places waiting for a loader's batch."""

    __slots__ = ("holes", "loaders")

    def __init__(self, loaders: Any) -> None:
        self.loaders = loaders
        # (place, name, loader, key, completer, the batch that reads the key)
        self.holes: list[tuple[dict[str, Any], str, Any, Any, Completer, Any]] = []


Completer = Callable[[Any, Walk], Any]


# Scalars whose value of this Python type is its own serialisation: passed through with no call.
_AS_IS = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}


def _leaf(kind: GraphQLScalarType | GraphQLEnumType, required: bool = False) -> Completer:
    coerce = kind.coerce_output_value
    as_is = _AS_IS.get(kind) or (int if kind.name == "Long" else None)  # type: ignore[call-overload]

    def complete(value: Any, walk: Walk) -> Any:
        if type(value) is as_is:
            return value
        if value is None:
            if required:
                raise Abandon  # the executor reports the null where it is not allowed
            return None
        out = coerce(value)
        if out is None or out is Undefined:
            raise Abandon
        return out

    complete.as_is = as_is  # type: ignore[attr-defined]  # the object's walk passes such a value through itself
    return complete


def _non_null(inner: Completer) -> Completer:
    def complete(value: Any, walk: Walk) -> Any:
        out = inner(value, walk)
        if out is None:
            raise Abandon  # the executor reports the null where it is not allowed
        return out

    complete.required = inner  # type: ignore[attr-defined]  # a list or an object checks for the null itself
    return complete


def _list(inner: Completer) -> Completer:
    required = getattr(inner, "required", None)  # a list of non-null items: completed, then checked at once
    each = inner if required is None else required

    def complete(value: Any, walk: Walk) -> Any:
        if value is None:
            return None
        if type(value) is not list and (isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__")):
            raise Abandon
        out = [each(item, walk) for item in value]
        if required is not None and None in out:
            raise Abandon
        return out

    return complete


def _object(kind: GraphQLObjectType, fields: list[tuple[str, Any, Any, Completer]]) -> Completer:
    """`fields`: (response name, getter or None, (loader, key) or None, completer of the field's type).

    The completion of an object of this selection is written as a function of its own, one statement per
    field (a column read by attribute, a string passed through, a related row peeked at in its loader) and
    the answer's dict made at once: a loop over the fields, calling a getter and a completer for each,
    cost the walk of a page of 50 about twice as much."""
    is_type_of = kind.is_type_of
    kinds = getattr(getattr(is_type_of, "__func__", None), "kinds", None)  # `schema.common.row_type`'s, if it is
    scope: dict[str, Any] = {"Abandon": Abandon, "MISSING": MISSING, "kinds": kinds, "is_type_of": is_type_of}
    lines = ["def complete(source, walk):", "    if source is None:", "        return None"]
    if kinds is not None:
        lines += ["    if not isinstance(source, kinds):", "        raise Abandon"]
    elif is_type_of is not None:
        lines += ["    if not is_type_of(source, None):", "        raise Abandon"]
    entries, holes = [], []
    for i, (name, get, join, complete_field) in enumerate(fields):
        scope[f"c{i}"] = complete_field
        entries.append(f"{name!r}: v{i}")
        if join is None:
            attribute = _attribute_of(get)
            if attribute is not None:
                lines.append(f"    v{i} = source.{attribute}")
            else:
                scope[f"g{i}"] = get
                lines.append(f"    v{i} = g{i}(source)")
            as_is = getattr(complete_field, "as_is", None)
            if as_is is not None:
                scope[f"a{i}"] = as_is
                lines += [f"    if type(v{i}) is not a{i}:", f"        v{i} = c{i}(v{i}, walk)"]
            else:
                lines += _completed(scope, i, complete_field, "    ")
            continue
        loader, key = join
        scope[f"n{i}"] = loader
        read_key = f"source.{key}" if key.isidentifier() else f"getattr(source, {key!r})"
        lines += [
            f"    k{i} = {read_key}",
            f"    h{i} = False",
            f"    if k{i} is None:",
            f"        v{i} = c{i}(None, walk)",
            "    else:",
            f"        l{i} = walk.loaders.{loader}"
            if loader.isidentifier()
            else f"        l{i} = getattr(walk.loaders, n{i})",
            f"        v{i} = l{i}.known.get(k{i}, MISSING)",
            f"        if v{i} is MISSING:",
            f"            v{i} = None",
            f"            h{i} = True",
            "        else:",
            *_completed(scope, i, complete_field, "            "),
        ]
        holes.append((i, name))
    lines.append(f"    out = {{{', '.join(entries)}}}")
    for i, name in holes:  # filled in when the batch is in
        lines += [f"    if h{i}:", f"        walk.holes.append((out, {name!r}, l{i}, k{i}, c{i}, l{i}.want(k{i})))"]
    lines.append("    return out")
    exec("\n".join(lines), scope)  # names are GraphQL names (letters, digits, _), written as literals
    return scope["complete"]


def _completed(scope: dict[str, Any], i: int, complete: Completer, indent: str) -> list[str]:
    """The lines completing field `i`'s value `v{i}`: a non-null one by its inner completer, checked here."""
    required = getattr(complete, "required", None)
    if required is None:
        return [f"{indent}v{i} = c{i}(v{i}, walk)"]
    scope[f"r{i}"] = required
    return [f"{indent}v{i} = r{i}(v{i}, walk)", f"{indent}if v{i} is None:", f"{indent}    raise Abandon"]


def _attribute_of(get: Any) -> str | None:
    """The attribute a getter reads, when it is a plain `operator.attrgetter` of one name."""
    if isinstance(get, operator.attrgetter):
        names = get.__reduce__()[1]
        if len(names) == 1 and isinstance(names[0], str) and names[0].isidentifier():
            return names[0]
    return None


def _typename(name: str) -> Callable[[Any], str]:
    return lambda source: name


def _node_id(kind: GraphQLObjectType, origin: Any) -> Callable[[Any], str]:
    type_name = kind.name
    if origin.resolve_id.__func__ is _DEFAULT_RESOLVE_ID:
        attribute = origin.resolve_id_attr()
        return lambda source: to_base64(type_name, str(getattr(source, attribute)))
    resolve_id = origin.resolve_id
    return lambda source: to_base64(type_name, str(resolve_id(source, info=None)))


class Completing:
    """Mixed into the executor (`loyalty.graphql.Executor`): lists and objects of plain fields are completed
    in one walk; everything else, and every error, as the executor does."""

    def complete_value(
        self, return_type: Any, field_details_list: Any, info: Any, path: Any, result: Any, position_context: Any
    ) -> Any:
        kind = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
        wrapped = self.middleware_manager is not None and self.middleware_manager.middlewares
        if wrapped or isinstance(kind, GraphQLScalarType | GraphQLEnumType):
            return super().complete_value(return_type, field_details_list, info, path, result, position_context)
        completer = self._plan(return_type, field_details_list)
        if completer is None or isinstance(result, Exception):
            return super().complete_value(return_type, field_details_list, info, path, result, position_context)
        walk = Walk(getattr(self.context_value, "loaders", None))
        try:
            value = completer(result, walk)
        except Exception:
            return super().complete_value(return_type, field_details_list, info, path, result, position_context)
        if not walk.holes:
            return value
        return self._fill(value, walk, (return_type, field_details_list, info, path, result, position_context))

    async def _fill(self, value: Any, walk: Walk, completion: tuple[Any, ...]) -> Any:
        """`value` with its places filled in from the loaders' batches; or, if anything fails, the
        executor's own completion of the same result."""
        try:
            for _ in range(_levels_max):
                holes, walk.holes = walk.holes, []
                for batch in {id(hole[5]): hole[5] for hole in holes}.values():
                    await asyncio.shield(batch)  # a failed batch raises: abandoned
                for place, name, loader, key, complete, _ in holes:
                    if (known := loader.known.get(key, MISSING)) is MISSING:
                        raise Abandon
                    place[name] = complete(known, walk)
                if not walk.holes:
                    return value
            raise Abandon
        except Exception:
            completed = super().complete_value(*completion)  # type: ignore[misc]
            return await completed if self.is_awaitable(completed) else completed  # type: ignore[attr-defined]

    def _plan(self, return_type: Any, field_details_list: Any) -> Completer | None:
        nodes = tuple(details.node for details in field_details_list)
        key = (return_type, *map(id, nodes))
        plans = self._plans_of_execution()
        found = plans.get(key)
        if found is not None:
            return found[1]
        completer = self._completer(return_type, field_details_list)
        if len(plans) >= _plans_max:
            plans.clear()
        plans[key] = (nodes, completer)  # the nodes are kept with their plan: their ids stay theirs
        return completer

    def _plans_of_execution(self) -> dict[tuple[Any, ...], tuple[Any, Any]]:
        plans = self.__dict__.get("_own_plans")
        if plans is None:
            source = self.operation.loc.source.body if self.operation.loc else ""
            # A directive (`@include(if: $x)`, `@ skip`, or with a comment between) makes a plan hold for the
            # variables of one execution only: any `@` in the text, which other documents seldom hold, keeps its own.
            plans = {} if "@" in source else _plans
            self.__dict__["_own_plans"] = plans
        return plans

    def _completer(self, kind: Any, field_details_list: Any) -> Completer | None:
        """How to complete a value of `kind` for this selection in one walk; None if it cannot be."""
        if isinstance(kind, GraphQLNonNull):
            if isinstance(kind.of_type, GraphQLScalarType | GraphQLEnumType):
                return _leaf(kind.of_type, required=True)
            inner = self._plan(kind.of_type, field_details_list)
            return None if inner is None else _non_null(inner)
        if isinstance(kind, GraphQLList):
            inner = self._plan(kind.of_type, field_details_list)
            return None if inner is None else _list(inner)
        if isinstance(kind, GraphQLScalarType | GraphQLEnumType):
            return _leaf(kind)
        if not isinstance(kind, GraphQLObjectType):
            return None  # an interface or a union: the executor resolves the object's type
        grouped, deferred, _ = self.collect_subfields(kind, field_details_list)
        if deferred:
            return None
        fields = []
        for name, details in grouped.items():
            field = self._field(kind, details)
            if field is None:
                return None
            fields.append((name, *field))
        return _object(kind, fields)

    def _field(self, parent: GraphQLObjectType, details: Any) -> tuple[Any, Any, Completer] | None:
        """(getter, join, completer) of one field of `parent`, or None if only the executor can complete it."""
        node = details[0].node
        name = node.name.value
        if name == "__typename":
            return _typename(parent.name), None, _leaf(self.schema.get_type("String"))
        definition = parent.fields.get(name)
        strawberry_field = definition.extensions.get("strawberry-definition") if definition else None
        if strawberry_field is None or definition.args or node.arguments or strawberry_field.extensions:
            return None
        # Through the plans: a selection that cannot be walked is found so once, not again by every selection
        # above it and then by the executor under each of them (a deep one cost its depth squared).
        completer = self._plan(definition.type, details)
        if completer is None:
            return None
        if getattr(definition.resolve, "_is_default", False):
            return operator.attrgetter(strawberry_field.python_name), None, completer
        resolver = strawberry_field.base_resolver
        method = resolver.wrapped_func if resolver is not None else None
        if method is None:
            return None
        if (join := getattr(method, "joined", None)) is not None:
            return None, join, completer
        if getattr(method, "__func__", method) is _NODE_ID:
            return _node_id(parent, parent.extensions["strawberry-definition"].origin), None, completer
        if not resolver.is_async and list(inspect.signature(method).parameters) == ["self"]:
            return method, None, completer
        return None
