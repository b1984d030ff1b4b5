"""Statements sent straight to the driver (`domain/work/driver.py`) read and fail like SQLAlchemy's."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from domain.columns import record_type
from domain.errors import DomainError
from domain.members.tables import Member, MemberStatus
from domain.organisation.tables import Branch
from domain.points.tables import PointsRule
from domain.work import driver
from domain.work.unit import refusals_raised
from loyalty.database import make_engine

BRANCH_CODE = sa.select(Branch.code).order_by(Branch.id).limit(1)
MEMBER = sa.select(Member.id, Member.status, Member.interests, Member.joined_on).where(
    Member.id == sa.bindparam("member_id")
)


async def test_rows_read_like_sqlalchemys(api):
    # given a member with interests (JSON) and a status (an enumeration)
    member = api.demo.members["Li Wei"]
    # when the same statement runs through SQLAlchemy and straight to the driver
    async with api.engine.connect() as connection:
        expected = (await connection.execute(MEMBER, {"member_id": member})).one()
    found = await driver.rows(api.engine, MEMBER, {"member_id": member})
    # then the rows hold the same values of the same types, by name and by position
    assert len(found) == 1
    assert tuple(found[0]) == tuple(expected)
    assert found[0].status is MemberStatus.ACTIVE
    assert found[0]._fields == ("id", "status", "interests", "joined_on")


async def test_a_json_parameter_goes_out_as_json(api):
    echoed = sa.text("SELECT CAST(:value AS jsonb) -> 'a' AS a").bindparams(sa.bindparam("value", type_=JSONB))
    found = await driver.rows(api.engine, echoed, {"value": {"a": [1, "two"]}})
    assert found[0].a == [1, "two"]


@pytest.mark.parametrize(
    "stored",
    [{"interest": "chess", "n": [1, 2.5, None]}, 123456789012345678901234567890, -(2**63), 2**64, "1" * 30],
)
async def test_a_json_value_reads_back_as_stored_whatever_its_numbers(api, stored):
    # given a JSON value, among them integers beyond 64 bits, which a parser in C would read as floats
    value = sa.select(sa.cast(sa.literal(stored, JSONB), JSONB).label("value"))
    # when it is read through SQLAlchemy and straight to the driver
    async with api.engine.connect() as connection:
        through_sqlalchemy = (await connection.execute(value)).scalar_one()
    (straight,) = await driver.rows(api.engine, value, {})
    # then both read it back exactly, an integer as an integer
    assert through_sqlalchemy == straight.value == stored
    assert type(through_sqlalchemy) is type(straight.value) is type(stored)


async def test_a_uniqueness_violation_is_sqlalchemys_integrity_error(api):
    # given a branch code that is taken
    taken = sa.text(
        "INSERT INTO branch (code, name, level, path) SELECT code, name, level, path || 'x/' FROM branch"
        " WHERE code = :code RETURNING id"
    )
    # when a statement sent straight to the driver inserts it again, then it fails as through SQLAlchemy
    with pytest.raises(sa.exc.IntegrityError) as raised:
        await driver.rows(api.engine, taken, {"code": "HQ"})
    assert raised.value.orig.__cause__.constraint_name == "uq_branch_code"


async def test_a_refusal_of_a_database_function_is_the_domain_error_it_names(api):
    refusing = sa.text("SELECT refuse('NOT_FOUND', 'No such thing.', 'thing_id')")
    with pytest.raises(DomainError) as raised, refusals_raised():
        await driver.rows(api.engine, refusing, {})
    problem = raised.value.problems[0]
    assert (problem.code.value, problem.message, problem.field) == ("NOT_FOUND", "No such thing.", "thing_id")


async def test_a_connection_the_server_dropped_is_not_handed_out_again(api):
    # given a pool of one connection, whose server session ends while the pool holds it
    engine = make_engine(api.engine.url.render_as_string(hide_password=False), pool_size=1)
    try:
        dropped = (await driver.rows(engine, sa.text("SELECT pg_backend_pid() AS pid"), {}))[0].pid
        await api.scalar("SELECT pg_terminate_backend(:pid)", pid=dropped)
        # when statements are sent again, then the first fails on the dead connection, unless the pool saw it
        # end while idle and dropped it already; either way the pool drops it, and the next ones run on a new
        # connection
        try:
            await driver.rows(engine, BRANCH_CODE, {})
        except sa.exc.DBAPIError as error:
            assert error.connection_invalidated
        found = [(await driver.rows(engine, sa.text("SELECT pg_backend_pid() AS pid"), {}))[0].pid for _ in range(2)]
        assert len(set(found)) == 1 and dropped not in found
    finally:
        await engine.dispose()


async def test_callers_over_the_pools_size_wait_for_its_connections_and_open_no_more(api):
    # given a driver pool of one connection
    engine = make_engine(api.engine.url.render_as_string(hide_password=False), pool_size=1)
    backend = sa.text("SELECT pg_backend_pid() AS pid FROM pg_sleep(0.02)")
    try:
        # when three statements are sent at once
        found = await asyncio.gather(*(driver.rows(engine, backend, {}) for _ in range(3)))
        # then each ran in turn on the one connection
        assert len({rows[0].pid for rows in found}) == 1
        assert driver.connections_of(engine)._free._value == 1  # every place given back
    finally:
        await engine.dispose()


async def test_a_statement_cancelled_midway_stops_on_the_server_and_leaves_no_connection_behind(api):
    # given a driver pool of one connection, whose statement is cancelled while the server runs it
    engine = make_engine(api.engine.url.render_as_string(hide_password=False), pool_size=1)
    running = "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(5)' AND state = 'active'"
    try:
        slow = asyncio.ensure_future(driver.rows(engine, sa.text("SELECT pg_sleep(5)"), {}))
        await asyncio.sleep(0.3)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        # when the next statement is sent, then it runs at once, and the cancelled one runs no more
        assert (await asyncio.wait_for(driver.rows(engine, BRANCH_CODE, {}), 2))[0].code == "HQ"
        for _ in range(50):
            if await api.scalar(running) == 0:
                break
            await asyncio.sleep(0.02)
        assert await api.scalar(running) == 0
    finally:
        await engine.dispose()


async def test_a_statement_built_per_request_reads_numbers_as_sqlalchemy_does(api):
    # given a statement built for this request that selects a decimal column (the rules' values)
    rules = sa.select(*PointsRule.__table__.c).order_by(PointsRule.id)
    async with api.engine.connect() as connection:
        expected = [tuple(row) for row in await connection.execute(rules)]
    # when it goes straight to the driver
    reading = api.engine.execution_options(isolation_level="AUTOCOMMIT")
    found = await driver.built(reading, rules, record_type(PointsRule)._make)
    # then the values are the same, decimals as decimals
    assert expected and [tuple(row) for row in found] == expected
    assert {type(row.value) for row in found} == {Decimal}


async def test_statements_sent_alone_wait_their_turn_in_a_pool_of_their_own_size(api):
    # given an engine whose statements sent alone may use two connections (its engine pool five)
    url = api.engine.url.render_as_string(hide_password=False)
    engine, default = make_engine(url, pool_size=5, statement_pool_size=2), make_engine(url, pool_size=5)
    try:
        # when four statements are sent at once
        sleeps = [driver.rows(engine, sa.text("SELECT pg_backend_pid() AS pid, pg_sleep(0.05)"), {}) for _ in range(4)]
        found = {rows[0].pid for rows in await asyncio.gather(*sleeps)}
        # then they ran two at a time on two connections; without the size given, the pool's is taken
        assert len(found) == 2
        assert (driver.connections_of(engine).size, driver.connections_of(default).size) == (2, 5)
    finally:
        await engine.dispose()
        await default.dispose()


async def test_a_transaction_left_idle_past_its_limit_is_ended_with_its_locks(api):
    # given an engine whose transactions may stay idle 1 s, and one of its transactions holding a member's row
    url = api.engine.url.render_as_string(hide_password=False)
    strict = make_engine(url, pool_size=1, idle_in_transaction_seconds=1)
    member = api.demo.members["Li Wei"]
    try:
        async with strict.connect() as connection:
            await connection.execute(sa.text("SELECT 1 FROM member WHERE id = :m FOR UPDATE"), {"m": member})
            # when it stays idle past the limit
            await asyncio.sleep(1.5)
            # then PostgreSQL has ended it: its next statement fails, and the row is free for anyone else
            with pytest.raises(sa.exc.DBAPIError):
                await connection.execute(sa.text("SELECT 1"))
            async with api.engine.connect() as other:
                locked = "SELECT 1 FROM member WHERE id = :m FOR UPDATE NOWAIT"
                assert (await other.execute(sa.text(locked), {"m": member})).scalar() == 1
    finally:
        await strict.dispose()
