"""remembered tables: a notification whenever a grade, a club or a branch changes

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06

Each serving process also remembers the rows of the small tables nearly every page reads and that change
seldom (grades, clubs, branches; domain/auth/principals.py), while it listens on `loyalty_principals`; a
change of any row of them, in any way, says "r" there when it commits, and every process forgets those rows.
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

TABLES = ("grade", "club", "branch")


def upgrade() -> None:
    op.execute(
        """CREATE FUNCTION remembered_table_changed() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               PERFORM pg_notify('loyalty_principals', 'r');
               RETURN NULL;
           END $$"""
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_remembered_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION remembered_table_changed()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_remembered_changed ON {table}")
    op.execute("DROP FUNCTION remembered_table_changed()")
