"""an ID document number is kept in one form: full-width forms as plain ones, no spaces, upper case

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-07

A number was kept as typed (trimmed only), so `11010119900303003x`, `1101 0119 9003 0300 3X` or its full-width
digits registered a second customer beside `11010119900303003X`, and a search for one missed the others. The
service now keeps and compares every number in one form (`domain/validation.py` `document_number`); this puts the
numbers kept before in that form, each that no other customer's number of its type takes in it. Two customers whose
numbers meet in one form are left as they are, for the operator to merge (docs/operations.md), and so is a number
whose form would be longer than a number may be (`№` is `No`). Latin letters are put in upper case only, as the
service does, in any locale of the database. The numbers are changed in place, not as identity changes: each is
the same number.
"""

import sqlalchemy as sa
from alembic import op

revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None

ONE_FORM = """
    WITH formed AS (
        SELECT id, translate(regexp_replace(normalize(id_document_number, NFKC), :dropped, '', 'g'),
                             'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ') AS number
        FROM customer),
    counted AS (
        SELECT c.id, f.number, c.id_document_number AS kept,
               count(*) OVER (PARTITION BY c.id_document_type, f.number) AS sharing
        FROM customer c JOIN formed f ON f.id = c.id)
    UPDATE customer c SET id_document_number = counted.number
    FROM counted
    WHERE counted.id = c.id AND counted.sharing = 1 AND counted.kept <> counted.number
      AND length(counted.number) BETWEEN 1 AND 32
"""


# What the form drops: spaces, and the invisible characters the service now refuses in any text (zero-width space,
# word joiner, byte order mark, the marks and overrides of text direction), which made two equal-looking numbers differ.
DROPPED = "[[:space:]\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]"


def upgrade() -> None:
    op.execute(sa.text(ONE_FORM).bindparams(dropped=DROPPED))


def downgrade() -> None:
    pass  # the form is the same number: nothing to give back
