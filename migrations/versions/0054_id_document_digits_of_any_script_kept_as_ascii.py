"""an ID document number kept before with digits of another script takes them as ASCII digits, as the service does

Revision ID: 0054
Revises: 0053
Create Date: 2026-12-07

Since 0044 the service keeps a number in one form, and since then it also reads the digits of any script (Arabic-
Indic `٤`, Devanagari `४`) as ASCII ones: `٤٤٠١…` typed now is `4401…`, and is compared so. A number kept before
with such digits stayed as it was, so the same person typed again in ASCII digits registered a second customer. This
puts each such number in the form, unless another customer's number of its type takes that form already (left for
the operator to merge, as 0044 left them). PostgreSQL knows no digit's value, so the rows (those holding a character
outside ASCII: few) are read and formed here, by the rule of this revision, not by the service's code of the day.
Numbers holding a letter of another script than Latin or Chinese, which the service now refuses, are left as they
are: an operator corrects them with the customer (docs/operations.md).
"""

import json
import unicodedata
from collections import Counter

import sqlalchemy as sa
from alembic import op

revision = "0054"
down_revision = "0053"
branch_labels = None
depends_on = None

number_length_max = 32
NOT_ASCII = """SELECT id, id_document_type AS type, id_document_number AS number FROM customer
               WHERE octet_length(id_document_number) > length(id_document_number)"""  # UTF-8: a wider character
TAKEN = """SELECT w.type, w.number FROM jsonb_to_recordset(CAST(:wanted AS jsonb)) w(id bigint, type text, number text)
           WHERE EXISTS (SELECT 1 FROM customer c
                         WHERE c.id_document_type = w.type AND c.id_document_number = w.number AND c.id <> w.id)"""


def formed(number: str) -> str:
    """The digits of any script as ASCII ones; the rest of the form is 0044's, which the number has already."""
    return "".join(str(unicodedata.decimal(c)) if not c.isascii() and c.isdecimal() else c for c in number)


def upgrade() -> None:
    bind = op.get_bind()
    wanted = [
        {"id": row.id, "type": row.type, "number": formed(row.number)}
        for row in bind.execute(sa.text(NOT_ASCII))
        if formed(row.number) != row.number
    ]
    if not wanted:
        return
    taken = {tuple(row) for row in bind.execute(sa.text(TAKEN), {"wanted": json.dumps(wanted)})}
    meeting = Counter((w["type"], w["number"]) for w in wanted)
    for w in wanted:
        key = (w["type"], w["number"])
        if key in taken or meeting[key] > 1 or len(w["number"]) > number_length_max:
            continue  # two customers meet in the form: the operator merges them
        bind.execute(sa.text("UPDATE customer SET id_document_number = :number WHERE id = :id"), w)


def downgrade() -> None:
    pass  # the form is the same number: nothing to give back
