"""grade codes are unique whatever their letters' case, as every other code

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-07

`ruby`, `RUBY` and `Ruby` could be created side by side as three grades (0026 made every other code and login
unique in upper case, not the grades'). A database holding two grade codes that differ only in case refuses this
migration: retire and rename one first.
"""

from alembic import op

revision = "0046"
down_revision = "0045"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE UNIQUE INDEX ux_grade_code_upper ON grade (upper(code))")


def downgrade() -> None:
    op.execute("DROP INDEX ux_grade_code_upper")
