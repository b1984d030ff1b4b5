"""Shared GraphQL types: errors, enums, connections."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Iterable
from datetime import date, datetime
from enum import StrEnum
from typing import Any, NewType

import strawberry
from strawberry import relay

from domain.auth import tables as auth_tables
from domain.columns import record_type
from domain.customers import tables as customers_tables
from domain.errors import every_code
from domain.loading import MISSING, Loader
from domain.members import tables as members_tables
from domain.organisation import tables as organisation_tables
from domain.paging import Page
from domain.validation import bounded, bounded_moment, key_of, month_first_day

ErrorCode = strawberry.enum(
    StrEnum("ErrorCode", [(code, code) for code in every_code()]),
    name="ErrorCode",
    description="What went wrong; clients branch on it.",
)
Month = NewType("Month", date)  # a month's first day in Python; `YYYY-MM` on the wire
# What adds up (a balance, a redemption's points, an entry of many bills, a customer's spend): beyond `Int`'s 32 bits.
Long = NewType("Long", int)
_LONG_MAX = 2**63 - 1


def whole_number(value: Any) -> int:
    """A `Long` as given: a whole number (`2.0` as `Int` takes it), never a fraction, a flag or text."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not -_LONG_MAX - 1 <= value <= _LONG_MAX:
        raise ValueError("A Long is a whole number of up to 64 bits.")
    return value


# The schema's own scalars (`StrawberryConfig.scalar_map`). Every `Date` argument, in whichever input
# or filter, is bounded here: one place for every present and future argument, answered OUT_OF_RANGE
# outside `domain.validation.date_min`…`date_max`.
SCALARS = {
    Month: strawberry.scalar(
        name="Month",
        description="A calendar month, `YYYY-MM` (as sent and as answered), from 1900-01 to 2199-12.",
        serialize=lambda value: f"{value:%Y-%m}",
        parse_value=month_first_day,
    ),
    Long: strawberry.scalar(
        name="Long",
        description="A whole number of up to 64 bits (what adds up: a balance, a redemption's points, a sum over"
        " many bills or members), as a JSON number: exact in JavaScript up to 2^53.",
        serialize=int,
        parse_value=whole_number,
    ),
    date: strawberry.scalar(
        name="Date",
        description="Date (isoformat), from 1900-01-01 to 2199-12-31.",
        serialize=date.isoformat,
        parse_value=lambda value: bounded(date.fromisoformat(value)),
    ),
    datetime: strawberry.scalar(
        name="DateTime",
        description="Date with time (isoformat) and its offset from UTC (`2026-12-01T10:00:00+08:00`).",
        serialize=datetime.isoformat,
        parse_value=bounded_moment,
    ),
}
BranchLevel = strawberry.enum(organisation_tables.BranchLevel)
CustomerKind = strawberry.enum(customers_tables.CustomerKind)
IdDocumentType = strawberry.enum(customers_tables.IdDocumentType)
Gender = strawberry.enum(customers_tables.Gender)
CreditLevel = strawberry.enum(customers_tables.CreditLevel, description="RED good, GREY average, BLACK poor.")
Importance = strawberry.enum(customers_tables.Importance, description="How important a customer is [G3].")
AccountStatus = strawberry.enum(customers_tables.AccountStatus)
MemberStatus = strawberry.enum(members_tables.MemberStatus)
StaffRole = strawberry.enum(organisation_tables.StaffRole)
PrincipalKind = strawberry.enum(auth_tables.PrincipalKind)


_snake_word = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


def node_keys(node_ids: Iterable[str]) -> list[int]:
    """Keys of global IDs for a node lookup; an ID that names no key looks up nothing (0)."""
    return [key if (key := key_of(i)) is not None else 0 for i in node_ids]


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def client_keys(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored JSON object (an event's detail, a rule's snapshot) with the client's key names."""
    return None if stored is None else {camel(key): value for key, value in stored.items()}


def client_words(text: str, names: Collection[str]) -> str:
    """The domain's Python names of input fields (`card_number`, `proof.card_pin`) as the client's
    (`cardNumber`, `proof.cardPin`). Only `names` change: a value the client sent (a club code
    `gd_new`) is quoted as it was."""
    return _snake_word.sub(lambda match: camel(match.group(0)) if match.group(0) in names else match.group(0), text)


@strawberry.type(description="A business failure of a mutation; nothing was written.")
class UserError:
    field: list[str] | None = strawberry.field(description="Path of the input field at fault, if any.")
    code: ErrorCode
    message: str


def connection(page: Page[Any]) -> relay.Connection[Any]:
    items = page.items
    return relay.Connection(
        edges=[relay.Edge(cursor=cursor, node=node) for cursor, node in items],
        page_info=relay.PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=items[0][0] if items else None,
            end_cursor=items[-1][0] if items else None,
        ),
    )


def loaded(loader: Loader, key: Any) -> Any:
    """What `loader` holds for `key`: the value itself when it is known already (primed, or loaded by an
    earlier field), else the awaitable of its batch. A field that returns this resolves in place when the
    value is known, instead of becoming a task of the executor, which costs more than the field's work."""
    known = loader.peek(key)
    return loader.load(key) if known is MISSING else known


def listed(items_max: int, per: str | None = None) -> dict[str, Any]:
    """A plain list field's metadata: the most items it answers (its resolver keeps to it), or, `per` an integer
    argument, one more than that argument (a day each of `days`), at most `items_max`. The list-items limit of a
    request counts them (`loyalty.graphql.ListItemsLimit`), as it counts a connection's page."""
    return {"items_max": items_max} | ({"items_per": per} if per else {})


def read_alone(**metadata: Any) -> dict[str, Any]:
    """A field's metadata (`listed`'s too, if given): it reads the database for each object it is asked on, no
    loader batching it (a member's points history: a page of its own). The limit of a request counts these
    reads (`loyalty.graphql.ListItemsLimit`)."""
    return metadata | {"reads_alone": True}


def joined(loader: str, key: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The field is the related object (or list) that the request's loader `loader` holds for this object's
    `key` column; null when that column is. The decorated method's body is never run: the resolver is this
    declaration, and a list of objects completed in one walk (`loyalty.completion`) reads it from
    `resolve.joined` to load every related object of the list in one batch without running a resolver."""

    def declare(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def resolve(self: Any, info: Any) -> Any:
            value = getattr(self, key)
            return None if value is None else loaded(getattr(info.context.loaders, loader), value)

        resolve.joined = (loader, key)  # type: ignore[attr-defined]
        return resolve

    return declare


def row_type(table: type) -> Any:
    """`is_type_of` for GraphQL types whose roots are database rows of `table`."""

    # an entity, or the record a read path built from a table's row
    kinds = (table, record_type(table)) if hasattr(table, "__table__") else (table,)

    def is_type_of(cls: Any, obj: Any, info: Any) -> bool:
        return isinstance(obj, kinds)

    is_type_of.kinds = kinds  # type: ignore[attr-defined]  # read by the walk (`loyalty.completion`) directly
    return classmethod(is_type_of)
