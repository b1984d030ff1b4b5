"""functions without SET clauses: the search path is the connection's

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06

Every database function of the service pinned its own search path (`SET search_path = pg_catalog, public`).
A function with a SET clause makes PostgreSQL set and restore the setting around every call, and a search
path that changes invalidates the one it had looked up: `adjust_points` calls six such functions, and
measured alone (pgbench, one client) took 886 µs a call with them and 482 µs without, 4,490 calls a second
at eight clients instead of 3,417 (docs/benchmarks.md). The service's connections name their search path
themselves instead (`public`, after which PostgreSQL always looks in `pg_catalog` first: the same path the
functions pinned), so no function depends on the caller's settings.
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_PINNED = """SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public' AND p.proconfig IS NOT NULL
               AND EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')"""


def upgrade() -> None:
    op.execute(f"DO $$ DECLARE f text; BEGIN FOR f IN {_PINNED} LOOP "
               "EXECUTE format('ALTER FUNCTION %s RESET search_path', f); END LOOP; END $$")  # fmt: skip


# Functions made without a SET clause in the first place (the triggers of the audit trail and of principals).
_NEVER_PINNED = ("audit_event_append_only", "principal_changed")


def downgrade() -> None:
    unpinned = f"""SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                   JOIN pg_language l ON l.oid = p.prolang
                   WHERE n.nspname = 'public' AND l.lanname IN ('sql', 'plpgsql') AND p.proconfig IS NULL
                     AND p.proname NOT IN {_NEVER_PINNED}"""
    pin = "ALTER FUNCTION %s SET search_path = pg_catalog, public"
    op.execute(f"DO $$ DECLARE f text; BEGIN FOR f IN {unpinned} LOOP EXECUTE format('{pin}', f); END LOOP; END $$")
