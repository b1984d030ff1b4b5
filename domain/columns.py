"""Column helpers shared by every area's tables, and the naming convention of constraints.

Alembic migrations own the DDL; a test proves the models and `upgrade head` agree.
Member-scoped rows carry `member_id` so the ledger tables could be distributed by member.
"""

from __future__ import annotations

import collections
import functools
import importlib
import pkgutil
from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def enum_type(enum: type[StrEnum], column: str) -> sa.Enum:
    return sa.Enum(
        enum,
        name=column,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
    )


def unique_ignoring_case(table: str, column: str = "code") -> sa.Index:
    """Codes and logins are unique whatever their letters' case: an operator typing `gd` means `GD`, so a
    second branch `gd` beside `GD` would be taken for the first (the column's own constraint still serves
    lookups as typed)."""
    return sa.Index(f"ux_{table}_{column}_upper", sa.text(f"upper({column})"), unique=True)


def same_code(column: Any, code: str) -> sa.ColumnElement[bool]:
    """`column` holds `code` in any case (what `unique_ignoring_case` makes unique)."""
    return sa.func.upper(column) == code.upper()


def id_column() -> Any:
    return Field(default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True))


def foreign_key(target: str, *, nullable: bool = False, index: bool = True) -> Any:
    return Field(
        default=None,
        sa_column=sa.Column(sa.BigInteger, sa.ForeignKey(target), nullable=nullable, index=index),
    )


def reference(*, nullable: bool = False, index: bool = False) -> Any:
    """A reference checked once per inserting statement instead of per row (see migration 0006)."""
    return Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=nullable, index=index))


def created_at_column() -> Any:
    return Field(
        default=None,
        sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def timestamp_column(*, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=nullable))


def metadata() -> sa.MetaData:
    """The metadata of every table: each area's `tables` module, found by walking `domain/`."""
    import domain

    for found in pkgutil.walk_packages(domain.__path__, "domain."):
        if found.name.endswith(".tables"):
            importlib.import_module(found.name)
    return SQLModel.metadata


# --- records: what read paths return ----------------------------------------------------------


@functools.cache
def record_type(model: Any) -> Any:
    """A plain, read-only record of a table's row: what read paths return instead of an entity.

    Built from a row in one call and read by attribute like the entity (`member.member_number`),
    it is tracked by no session, so a page of them costs no ORM bookkeeping.
    """
    name = f"{model.__name__}Record"
    fields = collections.namedtuple(name, [c.key for c in model.__table__.columns])
    return type(name, (fields,), {})  # not slotted: the GraphQL layer may mark a record with its type


def record_columns(model: Any) -> list[sa.Column]:
    """The columns to select for `record_type(model)`, in its order."""
    return list(model.__table__.columns)


async def records(session: Any, query: Any) -> list[Any]:
    """Run `query` (selecting one entity, with its filters, joins, order and limit) for records of the
    entity's columns instead of entities. On a request's read session (autocommit: every statement its own
    transaction) it goes straight to the driver, compiled once per shape (`driver.built`)."""
    from domain.work import driver

    model = query.column_descriptions[0]["entity"]
    selected = query.with_only_columns(*record_columns(model))
    if _reads_alone(session):
        found = await driver.built(session.bind, selected, record_type(model)._make)
        if found is not None:
            return found
    return records_of(model, (await (await session.connection()).execute(selected)).all())


async def records_of_statement(session: Any, statement: Any, params: dict[str, Any], model: Any) -> list[Any]:
    """The records of `model` that `statement` selects (a constant, its values bound by name in `params`, its
    columns `record_columns(model)`): on a request's read session straight to the driver, compiled once per
    process (`driver.rows`)."""
    from domain.work import driver

    if _reads_alone(session):
        return await driver.rows(session.bind, statement, params, record_type(model)._make)
    return records_of(model, (await (await session.connection()).execute(statement, params)).all())


def _reads_alone(session: Any) -> bool:
    bind = getattr(session, "bind", None)
    options = bind.get_execution_options() if hasattr(bind, "get_execution_options") else {}
    return options.get("isolation_level") == "AUTOCOMMIT" and hasattr(bind.sync_engine.pool, "statements")


def records_of(model: Any, rows: Any) -> list[Any]:
    make = record_type(model)._make
    return [make(row) for row in rows]


def record_from_json(model: Any, stored: dict[str, Any]) -> Any:
    """The record of `model` a JSON object of its row holds (as `to_jsonb` or `json.dumps` wrote it)."""
    return record_type(model)._make(_from_json(c, stored.get(c.key)) for c in record_columns(model))


def _from_json(column: sa.Column, value: Any) -> Any:
    if value is None:
        return None
    kind = column.type.python_type
    if kind in (datetime, date):
        return kind.fromisoformat(value)
    if kind is Decimal or isinstance(kind, type) and issubclass(kind, Enum):
        return kind(value)
    return value


def split_records(models: tuple[Any, ...], row: Any) -> list[Any]:
    """One record per model from a row that selected each model's `record_columns`, in turn."""
    made, start = [], 0
    for model in models:
        end = start + len(model.__table__.columns)
        made.append(record_type(model)._make(row[start:end]))
        start = end
    return made


REPLAYED = "replayed"


def returned_by(model: Any, call: str, *, replayed: bool = False, **parameter_types: Any) -> sa.TextualSelect:
    """`SELECT <model's columns> FROM <call>`: the rows of `model` a database function returns, typed like
    the model's columns (matched by position, so the select names them in the model's order). Parameters
    whose type the driver cannot tell from the value (JSONB) are typed by `parameter_types`.

    `replayed`: the call claims an idempotency key; a last column says whether it answered a replay
    (`idempotency_claim` notes it for the transaction), which the unit of work reads and drops."""
    columns = record_columns(model)
    names = [c.name for c in columns]
    if replayed:
        columns = [*columns, sa.column(REPLAYED, sa.Boolean)]
        names.append(f"coalesce(current_setting('loyalty.replayed', true) = 'true', false) AS {REPLAYED}")
    typed = [sa.bindparam(name, type_=kind) for name, kind in parameter_types.items()]
    return sa.text(f"SELECT {', '.join(names)} FROM {call}").bindparams(*typed).columns(*columns)
