"""the checks of enumerated columns held as one constant array

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07

PostgreSQL prepares the CHECK constraints of a table again for every statement that writes to it (read back
from their stored form, then simplified). A column of an enumerated kind (`channel`, `entry_type`, `state`, …)
was checked by `col IN ('A', 'B', …)`, which PostgreSQL stores as an array built of one cast value per
name, `(ARRAY['A'::character varying, …])::text[]`: built and cast again by every insert and update, twenty
names for a ledger entry's type. Written `col::text = ANY ('{A,B,…}'::text[])`, the same check is stored as
one constant. The values and what the checks refuse do not change: 46 checks on 31 tables. Counted in
instructions per call (the server run alone under an instruction counter, 120 calls less 20, on fresh copies
of one database): `redeem_points` 2.936 → 2.719 million (−7.4 %; −12.4 % with 0035), `adjust_points` 1.272 →
1.187 million (−6.7 %).

Each is added NOT VALID (every row holds it: it is the check it replaces), so the migration does not read the
tables under its lock; `loyalty migrate` then validates each in a transaction of its own, a scan of its table
that lets reads and writes go on. New checks of this kind are written with `loyalty.migrate.one_of`; a test
refuses any other form.
"""

import re

import sqlalchemy as sa
from alembic import op

from loyalty.migrate import ENUM_NAME, one_of

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None

_FOUND = """
    SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
    FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
    WHERE n.nspname = 'public' AND c.contype = 'c' AND pg_get_constraintdef(c.oid) LIKE :like
    ORDER BY 1, 2"""
_BUILT = re.compile(r"CHECK \(\(\((\w+)\)::text = ANY \(\(ARRAY\[(.+)\]\)::text\[\]\)\)\)( NOT VALID)?")
_CONSTANT = re.compile(r"CHECK \(\(\((\w+)\)::text = ANY \('\{(.+)\}'::text\[\]\)\)\)( NOT VALID)?")


def _checks(like: str, shape: re.Pattern[str]) -> list[tuple[str, str, str, list[str]]]:
    """(table, constraint, column, names) of each check of `shape`."""
    found = []
    for table, name, definition in op.get_bind().execute(sa.text(_FOUND), {"like": like}).all():
        match = shape.fullmatch(definition)
        assert match is not None, f"{name}: {definition}"
        column, listed, _ = match.groups()
        names = re.findall(r"'([^']*)'::character varying", listed) if shape is _BUILT else listed.split(",")
        every = listed.count("::character varying") if shape is _BUILT else listed.count(",") + 1
        assert len(names) == every and all(ENUM_NAME.fullmatch(n) for n in names), f"{name}: {definition}"
        found.append((table, name, column, names))
    return found


def _replace(table: str, name: str, check: str) -> None:
    """The check replaced by the same check in another form: NOT VALID, as every row holds it already (the
    table is not read under the migration's lock); `loyalty.migrate.upgrade` validates it once committed."""
    op.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}", ADD CONSTRAINT "{name}" CHECK ({check}) NOT VALID')


def upgrade() -> None:
    for table, name, column, names in _checks("%= ANY ((ARRAY[%", _BUILT):
        _replace(table, name, one_of(column, names))


def downgrade() -> None:
    for table, name, column, names in _checks("%= ANY ('{%", _CONSTANT):
        _replace(table, name, f'"{column}" IN ({", ".join(repr(n) for n in names)})')
