"""codes and logins are unique whatever their letters' case

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06

A branch `gd` could be created beside `GD` (and a login `Admin` beside `admin`, a reward `bill-10` beside
`BILL-10`): an operator typing either meant the other. Each code and login is now unique in upper case too;
the columns' own unique constraints stay, serving the lookups as typed. A database holding two codes that
differ only in case refuses this migration: rename one first.
"""

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


CODES = [("branch", "code"), ("staff", "username"), ("club", "code"), ("outlet", "code"), ("reward_item", "code"),
         ("partner", "code")]  # fmt: skip


def upgrade() -> None:
    for table, column in CODES:
        op.execute(f"CREATE UNIQUE INDEX ux_{table}_{column}_upper ON {table} (upper({column}))")


def downgrade() -> None:
    for table, column in reversed(CODES):
        op.execute(f"DROP INDEX ux_{table}_{column}_upper")
