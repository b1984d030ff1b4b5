"""an ID document number is kept in one form: full-width forms as plain ones, no spaces, upper case

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-07

A number was kept as typed (trimmed only), so `11010119900303003x`, `1101 0119 9003 0300 3X` or its full-width
digits registered a second customer beside `11010119900303003X`, and a search for one missed the others. The
service now keeps and compares every number in one form (`domain/validation.py` `document_number`); this puts the
numbers kept before in that form, each that no other customer's number of its type takes in it. Two customers whose
numbers meet in one form are left as they are, for the operator to merge (docs/operations.md).
"""

from alembic import op

revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None

ONE_FORM = """
    WITH formed AS (
        SELECT id, upper(regexp_replace(normalize(id_document_number, NFKC), '[[:space:]]', '', 'g')) AS number
        FROM customer),
    counted AS (
        SELECT c.id, f.number, c.id_document_number AS kept,
               count(*) OVER (PARTITION BY c.id_document_type, f.number) AS sharing
        FROM customer c JOIN formed f ON f.id = c.id)
    UPDATE customer c SET id_document_number = counted.number
    FROM counted
    WHERE counted.id = c.id AND counted.sharing = 1 AND counted.kept <> counted.number
"""


def upgrade() -> None:
    op.execute(ONE_FORM)


def downgrade() -> None:
    pass  # the form is the same number: nothing to give back
