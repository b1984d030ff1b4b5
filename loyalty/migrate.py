"""Apply Alembic migrations from inside the service (no alembic.ini needed at run time)."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(connection=None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


# Held for the migration's transaction, so hosts starting together migrate one after another.
MIGRATION_LOCK_KEY = 0x4C4F59414C5459  # "LOYALTY"


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as connection:
        await connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))
    await validate_checks(engine)


_NOT_VALIDATED = sa.text("""
    SELECT c.conrelid::regclass::text, c.conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
    WHERE n.nspname = 'public' AND c.contype = 'c' AND NOT c.convalidated ORDER BY 1, 2""")


async def validate_checks(engine: AsyncEngine) -> None:
    """The checks a migration added NOT VALID (enforced on every write from then on, without holding the table
    while reading it all), validated once it has committed: each a scan of its table under a lock that lets
    reads and writes go on, in a transaction of its own. Every way of migrating ends so: `loyalty migrate`,
    `serve`, and `alembic` run by hand (`migrations/env.py`)."""
    async with engine.connect() as connection:
        pending = (await connection.execute(_NOT_VALIDATED)).all()
    for table, name in pending:
        async with engine.begin() as connection:
            await connection.execute(sa.text(f'ALTER TABLE {table} VALIDATE CONSTRAINT "{name}"'))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))
    await validate_checks(engine)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def not_at_head(engine: AsyncEngine) -> str | None:
    """What is wrong when the database's schema is not the one this code expects (None when it is)."""
    async with engine.connect() as connection:  # plain statements: alembic's context would log its set-up
        migrated = await connection.scalar(sa.text("SELECT to_regclass('alembic_version') IS NOT NULL"))
        current = await connection.scalar(sa.text("SELECT version_num FROM alembic_version")) if migrated else None
    head = head_revision()
    if current == head:
        return None
    known = {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current is None or current in known:
        at = current or "none"
        return f"The database is not migrated (at revision {at}, code expects {head}): run `loyalty migrate`."
    return f"The database is at revision {current}, which this code does not know (it expects {head}): run newer code."


ENUM_NAME = re.compile(r"[A-Z][A-Z0-9_]*")  # a value of an enumerated column: nothing an array literal quotes


def one_of(column: str, names: list[str]) -> str:
    """A CHECK's condition that `column` holds one of `names`, in the form PostgreSQL keeps as one constant
    (`IN ('A', 'B')` is kept as an array built of a cast value per name, built again by every write: 0036)."""
    if not names or not all(ENUM_NAME.fullmatch(n) and n != "NULL" for n in names):
        raise ValueError(f"{column}: {names!r} are not all names of the form {ENUM_NAME.pattern}, nor NULL")
    return f"\"{column}\"::text = ANY ('{{{','.join(names)}}}'::text[])"


def rewrite_functions(
    changes: list[tuple[re.Pattern[str] | str, str]],
    functions: tuple[str, ...],
    *,
    each_once: bool = False,
    dropped: bool = False,
) -> None:
    """For a migration: each of `functions` (by name) made again from its definition in the database, each
    change applied (a pattern, or a text replaced as it stands), and each function changed. `each_once`: every
    text is found exactly once (changes that only make sense together never land half). `dropped`: each is
    dropped before it is made again (its parameters change)."""
    from alembic import op

    bind = op.get_bind()
    for name in functions:
        found = bind.exec_driver_sql(
            "SELECT pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            f" WHERE n.nspname = 'public' AND p.proname = '{name}'"
        ).scalars()
        definitions = list(found)
        assert len(definitions) == 1, f"one function {name}"
        definition = definitions[0]
        for pattern, replacement in changes:
            if isinstance(pattern, str):
                assert not each_once or definition.count(pattern) == 1, f"{name} holds {pattern!r} once"
                definition = definition.replace(pattern, replacement)
            else:
                definition = pattern.sub(replacement, definition)
        assert definition != definitions[0], f"{name} changes"
        if dropped:
            bind.exec_driver_sql(f"DROP FUNCTION {name}")
        bind.exec_driver_sql(definition)
