"""Keyset pagination over a unique key (or a date then a unique key), with opaque cursors and a hard page cap."""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from domain.columns import record_columns, record_type, records, records_of_statement
from domain.errors import DomainError, ErrorCode
from domain.validation import key_of
from domain.work import driver

page_size_max = 100
page_size_default = 20
listed_max = 100  # the items of an object's plain list (its history, its changes): its newest
_cursor_prefix = "c:"

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[tuple[str, T]]  # (cursor, item)
    has_next_page: bool
    has_previous_page: bool


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def encode_cursor(list_name: str, values: tuple[Any, ...]) -> str:
    """The list's name and the row's key values, base64 (URL-safe): a page of 50 makes 50 of them."""
    text = ":".join((_cursor_prefix + list_name, *(v.isoformat() if isinstance(v, date) else str(v) for v in values)))
    return binascii.b2a_base64(text.encode(), newline=False).translate(_URL_SAFE).decode()


def decode_cursor(cursor: str, field: str, list_name: str, keys: tuple[Any, ...]) -> tuple[Any, ...]:
    """The key values a cursor of the list `list_name` (ordered by `keys`) holds; INVALID for anything else,
    a cursor of another list included: it would position this one nowhere in particular."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
    except (ValueError, UnicodeError):
        text = ""
    name, *parts = text.removeprefix(_cursor_prefix).split(":")
    if text.startswith(_cursor_prefix) and name == list_name and len(parts) == len(keys):
        try:
            return tuple(_key_value(key, part) for key, part in zip(keys, parts, strict=True))
        except ValueError:
            pass
    raise DomainError(ErrorCode.INVALID, f"{field} is not a cursor of this list.", field)


def _key_value(key: Any, text: str) -> Any:
    if key.type.python_type is date:
        return date.fromisoformat(text)
    if (number := key_of(text)) is None:
        raise ValueError(text)
    return number


def _size(request: PageRequest) -> int:
    """The page's size, once its arguments are found to make sense together (an empty cursor names no place
    in a list: it is not read as no cursor)."""
    for side in ("after", "before"):
        if getattr(request, side) == "":
            raise DomainError(ErrorCode.INVALID, f"{side} is not a cursor of this list.", side)
    if request.first is not None and request.last is not None:
        raise DomainError(ErrorCode.INVALID, "Pass first or last, not both.", "first")
    size = request.last if request.last is not None else request.first
    field = "last" if request.last is not None else "first"
    if size is None:
        return page_size_default
    if not 0 <= size <= page_size_max:
        raise DomainError(ErrorCode.OUT_OF_RANGE, f"{field} must be between 0 and {page_size_max}.", field)
    return size


def _list_name(keys: tuple[Any, ...], descending: bool) -> str:
    return ".".join((keys[0].table.name, *(k.key for k in keys), *(("desc",) if descending else ())))


def _positioned(
    query: Any, keys: tuple[Any, ...], descending: bool, backwards: bool, after: Any, before: Any, limit: Any
) -> Any:
    """`query` after and before the key values given (a tuple each, or None), ordered for the page, limited."""
    position = sa.tuple_(*keys) if len(keys) > 1 else keys[0]

    def at(values: tuple[Any, ...]) -> Any:
        return sa.tuple_(*values) if len(values) > 1 else values[0]

    if after is not None:
        query = query.where(position < at(after) if descending else position > at(after))
    if before is not None:
        query = query.where(position > at(before) if descending else position < at(before))
    return query.order_by(*(k.desc() if backwards != descending else k.asc() for k in keys)).limit(limit)


def _page_of(rows: list[Any], size: int, request: PageRequest, list_name: str, keys: tuple[Any, ...]) -> Page[Any]:
    """The page of `rows` (read one past the page, in the reading's direction)."""
    backwards = request.last is not None
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    items = [(encode_cursor(list_name, tuple(getattr(row, k.key) for k in keys)), row) for row in rows]
    return Page(
        items=items,
        has_next_page=more if not backwards else bool(request.before),
        has_previous_page=more if backwards else bool(request.after),
    )


async def fetch_page(
    session: AsyncSession, query: Any, key: Any, request: PageRequest, *, descending: bool = False
) -> Page[Any]:
    """Run `query` (selecting one entity) ordered by `key` (a column, or a tuple of columns ending in a
    unique one), one row past the page to see if more exist; `descending`: the highest key first (newest
    first, for a key that grows with time).

    The page holds records of the entity's columns (`record_type`), not entities. A cursor names its
    list (the ordering's table, columns and direction) and is refused on any other.
    """
    keys = key if isinstance(key, tuple) else (key,)
    list_name = _list_name(keys, descending)
    size = _size(request)
    after = decode_cursor(request.after, "after", list_name, keys) if request.after else None
    before = decode_cursor(request.before, "before", list_name, keys) if request.before else None
    query = _positioned(query, keys, descending, request.last is not None, after, before, size + 1)
    return _page_of(await records(session, query), size, request, list_name, keys)


@dataclass(frozen=True, eq=False)
class Listing:
    """A list of `model`'s records ordered by `key` (as `fetch_page`) inside the caller's scope, narrowed by
    named filters. Conditions are written with their values as parameters bound by name (`sa.bindparam`):
    the scope's always applies (its value bound as "scope", which every page names), a filter's when the
    value of its name is given. The statement of each shape of request (the filters given, the cursors, the
    direction: finitely many) is built once per process and compiled once: a page asks for no SQL to be
    built."""

    model: Any
    key: Any  # a column, or a tuple of columns ending in a unique one
    scope: Callable[[], Any]  # the condition
    filters: Mapping[str, Callable[[], Any]]  # by name: the condition
    descending: bool = False
    statements: dict[tuple[Any, ...], Any] = field(default_factory=dict, init=False, repr=False)  # by shape

    @functools.cached_property
    def keys(self) -> tuple[Any, ...]:
        return self.key if isinstance(self.key, tuple) else (self.key,)

    @functools.cached_property
    def name(self) -> str:
        return _list_name(self.keys, self.descending)

    async def page(self, session: AsyncSession, request: PageRequest, *, scope: Any, **values: Any) -> Page[Any]:
        """The page `request` asks for, of the rows inside `scope` passing the filters whose values are given
        (not None); `values` also binds any other parameter a given filter's condition names."""
        size = _size(request)
        params = {**values, "scope": scope, "limit": size + 1}
        for side in ("after", "before"):
            if cursor := getattr(request, side):
                found = decode_cursor(cursor, side, self.name, self.keys)
                params |= {f"{side}_{i}": value for i, value in enumerate(found)}
        given = tuple(name for name in self.filters if values.get(name) is not None)
        shape = (given, bool(request.after), bool(request.before), request.last is not None)
        statement = self.statements.get(shape)
        if statement is None:
            statement = self.statements[shape] = self._statement(*shape)
        rows = await records_of_statement(session, statement, params, self.model)
        return _page_of(rows, size, request, self.name, self.keys)

    def _statement(self, given: tuple[str, ...], after: bool, before: bool, backwards: bool) -> Any:
        query = sa.select(*record_columns(self.model)).where(self.scope(), *(self.filters[name]() for name in given))

        def bound(side: str) -> tuple[Any, ...]:
            return tuple(sa.bindparam(f"{side}_{i}", type_=k.type) for i, k in enumerate(self.keys))

        limit = sa.bindparam("limit", type_=sa.Integer)
        return _positioned(query, self.keys, self.descending, backwards, bound("after") if after else None,
                           bound("before") if before else None, limit)  # fmt: skip


@dataclass(frozen=True)
class BatchRead:
    """A loader's batch read of `table`'s records by the values of its column `key`, sent straight to the
    driver (`domain/work/driver.py`), the keys bound as one array (`= ANY(:keys)`): the statement is
    compiled once per process and each batch only binds, where an expanding `IN (…)` had SQLAlchemy render
    and compile the statement again for every batch size. For each key: its record (None where missing),
    or with `grouped`, the list of its last `most` records by `order` (its newest: one key's many never crowd
    out another's), listed in `order` (or newest first: `descending`), only their column `value` if named."""

    table: Any
    key: str
    grouped: bool = False
    order: str = "id"
    value: str | None = None
    most: int = listed_max
    descending: bool = False

    @functools.cached_property
    def statement(self) -> Any:
        column = getattr(self.table, self.key)
        keyed = column == sa.any_(sa.bindparam("keys", type_=ARRAY(column.type)))
        columns = record_columns(self.table)
        if not self.grouped:
            return sa.select(*columns).where(keyed)
        turn = sa.func.row_number().over(partition_by=column, order_by=getattr(self.table, self.order).desc())
        ranked = sa.select(*columns, turn.label("turn")).where(keyed).subquery()
        listed = ranked.c[self.order].desc() if self.descending else ranked.c[self.order]
        return sa.select(*(ranked.c[c.name] for c in columns)).where(ranked.c.turn <= self.most).order_by(listed)

    async def __call__(self, engine: AsyncEngine, keys: list[Any]) -> list[Any]:
        found = await driver.rows(engine, self.statement, {"keys": keys}, record_type(self.table)._make)
        if not self.grouped:
            rows = {getattr(r, self.key): r for r in found}
            return [rows.get(k) for k in keys]
        grouped: dict[Any, list[Any]] = {k: [] for k in keys}
        for record in found:
            grouped[getattr(record, self.key)].append(record if self.value is None else getattr(record, self.value))
        return [grouped[k] for k in keys]


@functools.cache  # made once per process: requests ask for their loaders on every request
def by_key(table: Any, key: str = "id") -> BatchRead:
    """A batch read for a loader: rows of `table` by a unique column, in the keys' order (None where missing)."""
    return BatchRead(table, key)


@functools.cache
def grouped_by(
    table: Any, key: str, order: str = "id", value: str | None = None, *, most: int = listed_max,
    descending: bool = False,
) -> BatchRead:  # fmt: skip
    """A batch read for a loader: for each key, the last `most` records by `order` of `table` whose `key` column
    holds it, listed in `order` (descending: newest first), or only their `value` column."""
    return BatchRead(table, key, grouped=True, order=order, value=value, most=most, descending=descending)
