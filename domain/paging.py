"""Keyset pagination over a unique key (or a date then a unique key), with opaque cursors and a hard page cap."""

from __future__ import annotations

import base64
import binascii
import functools
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from domain.columns import record_columns, record_type, records
from domain.errors import DomainError, ErrorCode
from domain.validation import key_of
from domain.work import driver

page_size_max = 100
page_size_default = 20
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
    if request.first is not None and request.last is not None:
        raise DomainError(ErrorCode.INVALID, "Pass first or last, not both.", "first")
    size = request.last if request.last is not None else request.first
    field = "last" if request.last is not None else "first"
    if size is None:
        return page_size_default
    if not 0 <= size <= page_size_max:
        raise DomainError(ErrorCode.OUT_OF_RANGE, f"{field} must be between 0 and {page_size_max}.", field)
    return size


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
    list_name = ".".join((keys[0].table.name, *(k.key for k in keys), *(("desc",) if descending else ())))
    size = _size(request)
    after = decode_cursor(request.after, "after", list_name, keys) if request.after else None
    before = decode_cursor(request.before, "before", list_name, keys) if request.before else None
    position = sa.tuple_(*keys) if len(keys) > 1 else keys[0]

    def at(values: tuple[Any, ...]) -> Any:
        return sa.tuple_(*values) if len(values) > 1 else values[0]

    if after is not None:
        query = query.where(position < at(after) if descending else position > at(after))
    if before is not None:
        query = query.where(position > at(before) if descending else position < at(before))
    backwards = request.last is not None
    query = query.order_by(*(k.desc() if backwards != descending else k.asc() for k in keys)).limit(size + 1)
    rows = await records(session, query)
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    items = [(encode_cursor(list_name, tuple(getattr(row, k.key) for k in keys)), row) for row in rows]
    return Page(
        items=items,
        has_next_page=more if not backwards else before is not None,
        has_previous_page=more if backwards else after is not None,
    )


@dataclass(frozen=True)
class BatchRead:
    """A loader's batch read of `table`'s records by the values of its column `key`, sent straight to the
    driver (`domain/work/driver.py`), the keys bound as one array (`= ANY(:keys)`): the statement is
    compiled once per process and each batch only binds, where an expanding `IN (…)` had SQLAlchemy render
    and compile the statement again for every batch size. For each key: its record (None where missing),
    or with `grouped`, the list of its records in `order` (only their column `value`, if named)."""

    table: Any
    key: str
    grouped: bool = False
    order: str = "id"
    value: str | None = None

    @functools.cached_property
    def statement(self) -> Any:
        column = getattr(self.table, self.key)
        query = sa.select(*record_columns(self.table)).where(
            column == sa.any_(sa.bindparam("keys", type_=ARRAY(column.type)))
        )
        return query.order_by(getattr(self.table, self.order)) if self.grouped else query

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
def grouped_by(table: Any, key: str, order: str = "id", value: str | None = None) -> BatchRead:
    """A batch read for a loader: for each key, the records of `table` whose `key` column holds it, by `order`
    (or only their `value` column)."""
    return BatchRead(table, key, grouped=True, order=order, value=value)
