"""idempotency results stored by their key's own index

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06

The functions of the one-statement writes (`adjust_points`, `reverse_points_transaction`, `move_own_card`,
`redeem_points`, `cancel_redemption`) claimed the request's key first and stored its result last with an
`UPDATE idempotency_record … WHERE scope = … AND key = …`. Such a statement is planned once per connection
and kept: planned while the table was small (a new database, a bench), it scans the whole table, and keeps
doing so as the table grows until the next ANALYZE. Measured with pgbench against a table that began empty,
that one statement took 324–493 µs of `adjust_points`'s 657–1,089 µs.

The result is now stored by `idempotency_keep`: an INSERT … ON CONFLICT on the key, which finds the claimed
row through the primary key's index whatever the planner thinks of the table. The claim's row is always
there (the same transaction made it); were it not, the row written is the request's own (its digest too).
"""

import re

from alembic import op

from loyalty.migrate import rewrite_functions

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

FUNCTIONS = ("adjust_points", "reverse_points_transaction", "move_own_card", "redeem_points", "cancel_redemption")

KEEP = """
    -- Store the result of the request claimed under (`p_scope`, `p_key`) in this transaction; nothing without a key.
    CREATE FUNCTION idempotency_keep(p_scope text, p_key text, p_digest bytea, p_result jsonb) RETURNS void
    LANGUAGE sql AS $$
        INSERT INTO idempotency_record (scope, key, request_sha256, result)
        SELECT p_scope, p_key, p_digest, p_result WHERE p_key IS NOT NULL
        ON CONFLICT (scope, key) DO UPDATE SET result = EXCLUDED.result
    $$"""

# What a function stored its result with, what it stores it with now, and back.
_STORE = re.compile(r"PERFORM idempotency_store\(p_scope, p_key, ([\w.]+)\);")
_STORE_NOW = r"PERFORM idempotency_keep(p_scope, p_key, p_digest, jsonb_build_object('id', \1));"
_KEPT = re.compile(r"PERFORM idempotency_keep\(p_scope, p_key, p_digest, jsonb_build_object\('id', ([\w.]+)\)\);")
_KEPT_BEFORE = r"PERFORM idempotency_store(p_scope, p_key, \1);"
_UPDATE = re.compile(
    r"UPDATE idempotency_record SET result = (.+?)\s+WHERE p_key IS NOT NULL AND scope = p_scope AND key = p_key;",
    re.DOTALL,
)
_UPDATE_NOW = r"PERFORM idempotency_keep(p_scope, p_key, p_digest, \1);"
_KEPT_RESULT = re.compile(r"PERFORM idempotency_keep\(p_scope, p_key, p_digest, (.+?)\);", re.DOTALL)
_KEPT_RESULT_BEFORE = (
    r"UPDATE idempotency_record SET result = \1\n"
    r"            WHERE p_key IS NOT NULL AND scope = p_scope AND key = p_key;"
)


def rewrite(changes: list[tuple[re.Pattern[str], str]], functions: tuple[str, ...] = FUNCTIONS) -> None:
    rewrite_functions(list(changes), functions)


def _stored_by_update() -> list[str]:
    """The functions that still store a result the old way (PostgreSQL does not track calls inside bodies)."""
    found = op.get_bind().exec_driver_sql(
        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
        " AND p.proname <> 'idempotency_store' AND (p.prosrc LIKE '%idempotency_store(%'"
        " OR p.prosrc LIKE '%UPDATE idempotency_record SET result%')"
    )
    return list(found.scalars())


def upgrade() -> None:
    op.execute(KEEP)
    rewrite([(_STORE, _STORE_NOW), (_UPDATE, _UPDATE_NOW)])
    assert _stored_by_update() == [], "every function stores its result by the key's index"
    op.execute("DROP FUNCTION idempotency_store(text, text, bigint)")


def downgrade() -> None:
    op.execute("""
        CREATE FUNCTION idempotency_store(p_scope text, p_key text, p_id bigint) RETURNS void
        LANGUAGE sql AS $$
            UPDATE idempotency_record SET result = jsonb_build_object('id', p_id)
            WHERE p_key IS NOT NULL AND scope = p_scope AND key = p_key
        $$""")  # fmt: skip
    rewrite([(_KEPT, _KEPT_BEFORE), (_KEPT_RESULT, _KEPT_RESULT_BEFORE)])
    op.execute("DROP FUNCTION idempotency_keep(text, text, bytea, jsonb)")
