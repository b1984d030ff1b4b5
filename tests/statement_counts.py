"""Counting the SQL statements (database round trips) one GraphQL request sends.

The per-area files `tests/graphql/test_statements_<area>.py` pin the exact count of every
mutation and every list field, so that a change adding a query to a hot path fails a test.
Counts include the request's own authentication (the bearer token is checked against its
session), but never the login that obtained the token. They are the statements SQLAlchemy
executes (the `statements` fixture): a write transaction's BEGIN and COMMIT are round trips
too, but are not among them; reads run in autocommit and have none.

A mutation's count includes its audit event (`domain/audit/trail.py`): one INSERT in the unit's
transaction, or none for a mutation that is one statement sent alone, which carries its event in
a CTE; a refused one-statement mutation then sends the event on its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from tests.api import Api
from tests.graphql.cases import CASES

STATEMENT_SHOWN_MAX = 400  # characters of each statement in a failure message


@dataclass
class Measured:
    """The answer to one request and the SQL it sent, in order."""

    answer: dict
    sql: list[str]

    @property
    def count(self) -> int:
        return len(self.sql)

    def data(self, field: str) -> Any:
        assert "errors" not in self.answer, self.answer["errors"]
        return self.answer["data"][field]


async def measure(
    api: Api, statements: list[str], query: str, variables: dict[str, Any] | None = None, *, as_: str
) -> Measured:
    """Run one request as `as_` and keep the statements it sent (the login comes first, uncounted)."""
    await api.token(as_)
    statements.clear()
    answer = await api.gql(query, variables, as_=as_)
    return Measured(answer, list(statements))


async def count_statements(
    api: Api, statements: list[str], query: str, variables: dict[str, Any] | None = None, *, as_: str
) -> tuple[dict, int]:
    """(the answer, how many statements the request sent)."""
    measured = await measure(api, statements, query, variables, as_=as_)
    return measured.answer, measured.count


def listing(sql: list[str]) -> str:
    """The statements, numbered, one a line, for a failure message."""
    lines = []
    for number, statement in enumerate(sql, 1):
        text = " ".join(statement.split())
        if len(text) > STATEMENT_SHOWN_MAX:
            text = text[:STATEMENT_SHOWN_MAX] + " …"
        lines.append(f"{number:3}. {text}")
    return "\n".join(lines) or "    (none)"


def assert_statements(what: str, measured: Measured, expected: int) -> None:
    """Exactly `expected` statements, or a failure that lists those sent."""
    assert measured.count == expected, (
        f"{what}: {measured.count} statements sent, {expected} expected:\n{listing(measured.sql)}"
    )


def assert_same_statements(what: str, by_size: dict[Any, Measured], expected: int) -> None:
    """Every size cost the same `expected` statements, or a failure that lists each size's."""
    counts = {size: m.count for size, m in by_size.items()}
    if set(counts.values()) == {expected}:
        return
    shown = "\n".join(f"--- {size}: {m.count} statements\n{listing(m.sql)}" for size, m in by_size.items())
    raise AssertionError(f"{what}: {counts} statements by size, {expected} expected for every size:\n{shown}")


# --- mutations from tests/graphql/cases.py ------------------------------------------------------


def principal_for(mutation: str) -> str:
    """An allowed caller for whom the case's default input succeeds: the HQ admin when allowed."""
    case = CASES[mutation]
    fits = sorted(case.allowed - set(case.special))
    assert fits, f"{mutation}: no allowed principal without a special outcome"
    return "hq_admin" if "hq_admin" in fits else fits[0]


async def measure_case(api: Api, statements: list[str], mutation: str, who: str | None = None) -> Measured:
    """Run a case of `tests/graphql/cases.py` with its valid input; it must succeed."""
    case = CASES[mutation]
    who = who or principal_for(mutation)
    variables = {"input": await case.make_input(api, who)} if case.input_type else {}
    measured = await measure(api, statements, case.query(), variables, as_=who)
    assert measured.data(mutation)["errors"] == [], measured.answer
    return measured


@contextlib.contextmanager
def transaction_control(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The BEGIN, COMMIT and ROLLBACK the driver sends while the block runs: round trips that are not statements.

    A request that does its work in one statement sends none: the statement is its own transaction.
    """
    sent: list[str] = []
    execute = asyncpg.Connection.execute

    async def spied(connection: asyncpg.Connection, query: str, *args: Any, **options: Any) -> Any:
        sent.append(query)
        return await execute(connection, query, *args, **options)

    with monkeypatch.context() as patch:
        patch.setattr(asyncpg.Connection, "execute", spied)
        yield sent


class HeldJobs:
    """Background work a request starts, held back until `release`: its statements are not the request's."""

    def __init__(self, jobs: Any) -> None:
        self._jobs = jobs
        self._start: Callable[[Coroutine[Any, Any, Any]], None] = jobs.start
        self.held: list[Coroutine[Any, Any, Any]] = []

    def __enter__(self) -> HeldJobs:
        self._jobs.start = self.held.append
        return self

    def __exit__(self, *exc_info: object) -> None:
        del self._jobs.start  # the instance attribute goes: the class's method is back
        self.release()

    def release(self) -> None:
        """Start what was held, as the app would have: the app's shutdown stops it."""
        held, self.held = self.held, []
        for work in held:
            self._start(work)


# --- data sets larger than the demo's -----------------------------------------------------------


async def add_members(api: Api, count: int, club: str = "GD-CLUB", manager: str = "gd.manager") -> None:
    """`count` more members of the club, each a customer with an account and a subscriber number; every
    member and customer has a customer manager, so that a page of one has the shape of a page of many."""
    await api.scalar(
        """WITH m AS (UPDATE member SET customer_manager_id = :manager RETURNING 1)
           UPDATE customer SET customer_manager_id = :manager RETURNING 1""",
        manager=api.demo.staff[manager],
    )
    await api.scalar(
        """WITH club AS (SELECT id, branch_id FROM club WHERE code = :club),
           c AS (INSERT INTO customer (branch_id, kind, name, id_document_type, id_document_number,
                                       customer_manager_id)
               SELECT club.branch_id, 'INDIVIDUAL', 'Bulk ' || g, 'ID_CARD', 'BULK' || :club || g, :manager
               FROM club, generate_series(1, :count) g
               RETURNING id, branch_id),
           a AS (INSERT INTO account (customer_id, account_number, opened_on)
               SELECT id, '7' || lpad(id::text, 9, '0'), '2020-01-01' FROM c RETURNING id, customer_id),
           s AS (INSERT INTO subscriber_number (number, account_id, customer_id, activated_on)
               SELECT '136' || lpad(customer_id::text, 8, '0'), id, customer_id, '2020-01-01' FROM a)
           INSERT INTO member (member_number, customer_id, club_id, branch_id, grade_code, joined_on, valid_until,
                               customer_manager_id, interests)
           SELECT '5' || lpad(c.id::text, 11, '0'), c.id, club.id, c.branch_id, 'EMERALD', '2024-01-01',
                  '2030-01-01', :manager, '["golf"]'::jsonb
           FROM c, club
           RETURNING 1""",
        club=club,
        count=count,
        manager=api.demo.staff[manager],
    )
