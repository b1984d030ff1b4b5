"""The audit trail under the role the service runs as in production: it writes every table, owns none.

The compose example's app role (`deploy/initdb/app-role.sh`) gets SELECT, INSERT, UPDATE and DELETE on
the tables the migrations make. The audit trail's trigger refuses it every change of a row, and since it
does not own the table it cannot switch the trigger off.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

ROLE = "loyalty_test_app"


@pytest.fixture
async def as_app_role(engine, demo):
    async with engine.begin() as connection:
        await connection.execute(sa.text(f"DROP ROLE IF EXISTS {ROLE}"))
        await connection.execute(sa.text(f"CREATE ROLE {ROLE}"))
        await connection.execute(sa.text(f"GRANT USAGE ON SCHEMA public TO {ROLE}"))
        await connection.execute(
            sa.text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {ROLE}")
        )
        await connection.execute(sa.text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {ROLE}"))

    async def run(sql: str) -> str:
        """What the database answers the app role's statement: "done", or its error."""
        async with engine.connect() as connection:
            transaction = await connection.begin()
            try:
                await connection.execute(sa.text(f"SET LOCAL ROLE {ROLE}"))
                await connection.execute(sa.text(sql))
                return "done"
            except sa.exc.DBAPIError as error:
                return str(error.orig).splitlines()[0]
            finally:
                await transaction.rollback()

    yield run
    async with engine.begin() as connection:
        await connection.execute(sa.text(f"DROP OWNED BY {ROLE}"))
        await connection.execute(sa.text(f"DROP ROLE {ROLE}"))


async def test_the_app_role_appends_to_the_trail_and_can_neither_change_nor_unguard_it(as_app_role):
    # given the app's role and an event of the trail
    insert = """INSERT INTO audit_event (occurred_at, principal_kind, principal_id, branch_path, operation,
                targets, outcome) VALUES (now(), 'STAFF', 1, '/1/', 'adjustPoints', '{}', 'OK')"""
    # when it appends, changes, deletes, empties, or switches off the guard
    answers = [
        await as_app_role(insert),
        await as_app_role("UPDATE audit_event SET outcome = 'OK'"),
        await as_app_role("DELETE FROM audit_event"),
        await as_app_role("TRUNCATE audit_event"),
        await as_app_role("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"),
    ]
    # then only the append is done
    assert answers[0] == "done"
    assert all("append-only" in answer for answer in answers[1:3]), answers
    assert "permission denied" in answers[3] and "must be owner" in answers[4], answers
