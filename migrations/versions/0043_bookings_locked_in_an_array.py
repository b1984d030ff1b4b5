"""a chunk of the bookings' run holds the ids it locked in an array, not a temporary table

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-07

Each pass of a chunk read the bookings it may work on from a temporary table (0042), which cost the run 15–30 %
(docs/benchmarks.md): made, emptied and filled in each chunk, and read with estimates the planner never has. The
same ids in an array of the function are looked up in the bookings' key.
"""

from loyalty.migrate import rewrite_functions

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None

DECLARED = "            spent bigint := 0;\n"
DECLARED_LOCKED = DECLARED + "            locked bigint[];\n"
TABLE = (
    "            CREATE TEMP TABLE IF NOT EXISTS auto_locked (id bigint PRIMARY KEY) ON COMMIT DROP;\n"
    "            TRUNCATE auto_locked;\n"
    "            INSERT INTO auto_locked SELECT id FROM (\n"
)
ARRAY = "            SELECT array_agg(id) INTO locked FROM (\n"
READ = "                      AND b.id IN (SELECT id FROM auto_locked)\n"
READ_ARRAY = "                      AND b.id = ANY (locked)\n"
CHANGES = [(DECLARED, DECLARED_LOCKED), (TABLE, ARRAY), (READ, READ_ARRAY)]


def upgrade() -> None:
    rewrite_functions(CHANGES, ("auto_redeem_chunk",), each_once=True)


def downgrade() -> None:
    rewrite_functions([(new, old) for old, new in reversed(CHANGES)], ("auto_redeem_chunk",), each_once=True)
