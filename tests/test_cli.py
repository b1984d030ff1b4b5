"""The `loyalty` command: set-up commands against a database, and `serve` end to end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from domain import clock
from loyalty.cli import app, connections_short
from loyalty.config import Settings
from loyalty.database import make_engine, to_async_url
from loyalty.demo import DEMO_PASSWORD
from loyalty.migrate import head_revision
from tests.conftest import recreate_database

runner = CliRunner()


@pytest.fixture(scope="module")
def cli_database(server_url) -> str:
    url = asyncio.run(recreate_database(server_url, "loyalty_cli_test"))
    return url.replace("postgresql+asyncpg://", "postgresql://")


def rows(database_url: str, sql: str) -> list[tuple]:
    """The rows of a statement, in its own committed transaction."""

    async def read() -> list[tuple]:
        engine = make_engine(to_async_url(database_url), pool_size=1)
        try:
            async with engine.begin() as connection:
                return [tuple(row) for row in await connection.execute(sa.text(sql))]
        finally:
            await engine.dispose()

    return asyncio.run(read())


OPERATOR_EVENTS = """SELECT operation, result_id, outcome, principal_id, client_address, branch_path FROM audit_event
                     WHERE principal_kind = 'OPERATOR' ORDER BY id"""


def invoke(database_url: str, *args: str, stdin: str | None = None, env: dict[str, str] | None = None):
    env = {
        "DATABASE_URL": database_url,
        "LOYALTY_PASSWORD_TIME_COST": "1",
        "LOYALTY_PASSWORD_MEMORY_COST_KIB": "1024",
        **(env or {}),
    }
    return runner.invoke(app, list(args), input=stdin, env=env)


def test_a_wrong_setting_is_named_in_one_line(cli_database):
    # given two settings that cannot be
    env = {"DATABASE_URL": cli_database, "LOYALTY_TIME_ZONE": "Mars/Olympus", "LOYALTY_PORT": "eighty"}
    # when any command starts, then it stops at once, naming each as it is set, without a traceback
    refused = runner.invoke(app, ["verify"], env=env)
    assert refused.exit_code == 2
    assert "LOYALTY_TIME_ZONE: 'Mars/Olympus' is no time zone; give one such as Asia/Shanghai" in refused.output
    assert "LOYALTY_PORT: " in refused.output and "Traceback" not in refused.output
    # and so is a sender that is no sender
    for spec, reason in (("os:getcwd", "is no class with an async send"), ("no.such:Module", "names no class")):
        refused = runner.invoke(
            app, ["verify"], env={"DATABASE_URL": cli_database, "LOYALTY_NOTIFICATION_SENDER": spec}
        )
        assert refused.exit_code == 2 and f"LOYALTY_NOTIFICATION_SENDER: '{spec}' {reason}" in refused.output


def test_a_variable_that_is_no_setting_is_named_with_the_setting_it_looks_like(cli_database):
    # given a misspelt setting, one that is nothing like a setting, and the deployment's own variable
    env = {"DATABASE_URL": cli_database, "LOYALTY_CARD_FAILURE_MAX": "3", "LOYALTY_COLOUR": "red",
           "LOYALTY_APP_DB_PASSWORD": "x", "LOYALTY_CARD_LOCK_SECONDS": "60"}  # fmt: skip
    # when a command starts, then it says so of the first two, and goes on
    said = runner.invoke(app, ["migrate"], env=env)
    assert said.exit_code == 0, said.output
    assert "LOYALTY_CARD_FAILURE_MAX is not a setting (did you mean LOYALTY_CARD_FAILURES_MAX?): it is ignored." in (
        said.output
    )
    assert "LOYALTY_COLOUR is not a setting: it is ignored." in said.output
    assert "LOYALTY_APP_DB_PASSWORD" not in said.output and "LOYALTY_CARD_LOCK_SECONDS" not in said.output


def test_a_variable_of_the_env_file_that_is_no_setting_is_named_too(cli_database, tmp_path, monkeypatch):
    # given a .env file in the working folder, with a misspelt setting
    (tmp_path / ".env").write_text("LOYALTY_LOGIN_LOCK_SECOND=60\n")
    monkeypatch.chdir(tmp_path)
    # when a command starts, then it names it as it names the environment's
    said = runner.invoke(app, ["migrate"], env={"DATABASE_URL": cli_database})
    assert "LOYALTY_LOGIN_LOCK_SECOND is not a setting (did you mean LOYALTY_LOGIN_LOCK_SECONDS?)" in said.output


def test_workers_that_may_open_more_connections_than_the_database_allows_are_warned_of(cli_database):
    # given the database at its 100 connections (all the superuser's), and the default pools: 49 a worker
    assert invoke(cli_database, "migrate").exit_code == 0
    url, settings = to_async_url(cli_database), Settings(database_pool_size=16)
    # then one worker, or two, fit; three do not, and the warning says what to change
    assert connections_short(url, settings, 1) is None and connections_short(url, settings, 2) is None
    assert connections_short(url, settings, 3) == (
        "3 workers may open 147 connections (LOYALTY_DATABASE_POOL_SIZE, LOYALTY_DATABASE_STATEMENT_POOL_SIZE), more"
        " than the 100 PostgreSQL allows (max_connections 100, less reserved ones and the role's and database's"
        " limits): lower the pools or the workers, or raise max_connections."
    )


def test_settings_are_read_as_written_and_bounded():
    # given a log level in lower case, then it is the level; and a port beyond TCP's is refused
    assert Settings(log_level="debug").log_level == "DEBUG"
    for port in (0, 65_536):
        with pytest.raises(ValueError, match="port"):
            Settings(port=port)


def test_set_up_commands_name_branches_in_any_case(server_url):
    # given an organisation of its own: headquarters, HQ
    cli_database = asyncio.run(recreate_database(server_url, "loyalty_cli_case_test")).replace(
        "postgresql+asyncpg://", "postgresql://"
    )
    assert invoke(cli_database, "migrate").exit_code == 0
    assert invoke(cli_database, "create-branch", "--code", "HQ", "--name", "Head office").exit_code == 0
    # when a province, its staff and its partner name their branch in small letters
    made = [
        invoke(cli_database, "create-branch", "--code", "ZJ", "--name", "Zhejiang", "--parent", "hq"),
        invoke(cli_database, "create-staff", "--username", "zj.admin", "--display-name", "Qian Li", "--role",
               "ADMINISTRATOR", "--branch", "zj", stdin="s3cret-password\n"),
        invoke(cli_database, "create-partner", "--code", "ZJ-MALL", "--name", "Mall", "--branch", "zj"),
    ]  # fmt: skip
    # then each is of the branch so named
    assert [r.exit_code for r in made] == [0, 0, 0], [r.output for r in made]
    assert rows(cli_database, """SELECT (SELECT b.code FROM branch b WHERE b.id = p.branch_id),
                                        (SELECT b.code FROM branch b JOIN staff s ON s.branch_id = b.id)
                                 FROM partner p""") == [("ZJ", "ZJ")]  # fmt: skip


def test_set_up_commands_build_an_organisation(cli_database):
    assert invoke(cli_database, "migrate").exit_code == 0
    assert invoke(cli_database, "create-branch", "--code", "HQ", "--name", "Head office").exit_code == 0
    assert invoke(cli_database, "create-branch", "--code", "ZJ", "--name", "Zhejiang", "--parent", "HQ").exit_code == 0
    created = invoke(
        cli_database, "create-staff", "--username", "root", "--display-name", "Zhou Jian", "--role", "administrator",
        "--branch", "HQ",
        stdin="s3cret-password\n",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "s3cret-password" not in created.output
    assert invoke(cli_database, "create-partner", "--code", "AIR", "--name", "Air miles").exit_code == 0
    # and a code or login taken in other letters' case is refused, naming the one held
    for args, held in [
        (("create-branch", "--code", "zj", "--name", "Zhejiang again", "--parent", "HQ"), "ZJ"),
        (("create-staff", "--username", "ROOT", "--display-name", "Z", "--role", "AGENT", "--branch", "HQ"), "root"),
        (("create-partner", "--code", "air", "--name", "Air miles again"), "AIR"),
    ]:
        refused = invoke(cli_database, *args, stdin="s3cret-password\n")
        assert (refused.exit_code, "DUPLICATE" in refused.output, held in refused.output) == (1, True, True), (
            refused.output
        )
    # and each command is in the audit trail as the host's user's, of the branch of what it made (the refused
    # ones, with their code, nationally)
    hq, zj = rows(cli_database, "SELECT id, path FROM branch ORDER BY id")
    (root,), (air,) = (rows(cli_database, f"SELECT id FROM {table}") for table in ("staff", "partner"))
    events = rows(cli_database, OPERATOR_EVENTS)
    assert [(e[0], e[1], e[2], e[5]) for e in events] == [
        ("create-branch", f"Branch:{hq[0]}", "OK", hq[1]), ("create-branch", f"Branch:{zj[0]}", "OK", zj[1]),
        ("create-staff", f"Staff:{root[0]}", "OK", hq[1]), ("create-partner", f"Partner:{air[0]}", "OK", hq[1]),
        ("create-branch", None, "DUPLICATE", "/"), ("create-staff", None, "DUPLICATE", "/"),
        ("create-partner", None, "DUPLICATE", "/"),
    ]  # fmt: skip
    user = f"@{socket.gethostname()}"
    assert {(e[3], e[4].endswith(user)) for e in events} == {(os.getuid(), True)}
    # and an operator who says who they are is named so
    env = {"DATABASE_URL": cli_database, "LOYALTY_OPERATOR": "zhou.jian"}
    assert runner.invoke(app, ["create-partner", "--code", "SEA", "--name", "Sea miles"], env=env).exit_code == 0
    assert rows(cli_database, OPERATOR_EVENTS)[-1][4] == f"zhou.jian{user}"


@pytest.mark.parametrize(
    "args",
    [
        ("create-branch", "--code", "X1", "--name", "Orphan", "--parent", "NOPE"),
        ("create-branch", "--code", "bad code", "--name", "Bad"),
        ("create-partner", "--code", "P1", "--name", "P", "--branch", "NOPE"),
    ],
)
def test_set_up_commands_report_bad_input_and_exit_1(cli_database, args):
    invoke(cli_database, "migrate")
    result = invoke(cli_database, *args)
    assert result.exit_code == 1
    assert "NOT_FOUND" in result.output or "INVALID" in result.output


def test_create_staff_asks_for_the_name_members_see(cli_database):
    # given no display name, when a member of staff is created, then nothing is made: members would see the login
    invoke(cli_database, "migrate")
    invoke(cli_database, "create-branch", "--code", "HQ", "--name", "Head office")
    args = ("create-staff", "--username", "u3", "--role", "AGENT", "--branch", "HQ")
    assert invoke(cli_database, *args, stdin="s3cret-password\n").exit_code == 2
    assert invoke(cli_database, *args, "--display-name", "", stdin="s3cret-password\n").exit_code == 1


def test_create_staff_names_every_empty_field_at_once(cli_database):
    # given every field empty, when a member of staff is created, then each is named in one answer
    invoke(cli_database, "migrate")
    empty = ("create-staff", "--username", "", "--role", "", "--branch", "", "--display-name", "")
    refused = invoke(cli_database, *empty, stdin="\n")
    assert refused.exit_code == 1, refused.output
    for field in ("username", "display_name", "password", "branch", "role"):
        assert f" {field}: " in refused.output, (field, refused.output)


@pytest.mark.parametrize(
    ("args", "exit_code", "said"),
    [
        (("accrue", "--month", "0001-01"), 2, "--month must be YYYY-MM"),
        (("auto-redeem", "--month", "2200-01"), 2, "--month must be YYYY-MM"),
        (("warn-expiring", "--as-of", "2999-01-01"), 2, "--as-of must be today or earlier"),
        (("warn-expiring", "--as-of", "garbage"), 2, "--as-of must be YYYY-MM-DD"),
        (("create-partner", "--code", "P9", "--name", "P", "--branch", "[/]"), 1, "NOT_FOUND"),
        (("export-schema", "--output", "/nonexistent-folder/schema.graphql"), 1, "No such file or directory"),
    ],
)
def test_an_operators_mistake_is_answered_in_one_line(cli_database, args, exit_code, said):
    invoke(cli_database, "migrate")
    result = invoke(cli_database, *args)
    assert (result.exit_code, said in result.output, "Traceback" in result.output) == (exit_code, True, False), (
        result.output
    )


def test_a_password_line_ended_by_crlf_is_the_password_without_it(cli_database):
    # given a password file written on Windows, when staff are created from it
    invoke(cli_database, "migrate")
    invoke(cli_database, "create-branch", "--code", "HQ", "--name", "Head office")
    created = invoke(cli_database, "create-staff", "--username", "u4", "--display-name", "He Yu", "--role", "AGENT",
                     "--branch", "HQ", stdin="s3cret-password\r\n")  # fmt: skip
    assert created.exit_code == 0, created.output

    # then the password is the line's text, with no carriage return in it
    async def check() -> tuple[bool, bool]:
        from domain import passwords

        engine = make_engine(to_async_url(cli_database), pool_size=1)
        try:
            async with engine.connect() as connection:
                digest = await connection.scalar(sa.text("SELECT password_hash FROM staff WHERE username = 'u4'"))
        finally:
            await engine.dispose()
        right = await passwords.verify_secret("s3cret-password", digest)
        with_return = await passwords.verify_secret("s3cret-password\r", digest)
        return right[0], with_return[0]

    assert asyncio.run(check()) == (True, False)


def test_create_staff_refuses_a_short_password(cli_database):
    invoke(cli_database, "migrate")
    invoke(cli_database, "create-branch", "--code", "HQ", "--name", "Head office")
    result = invoke(
        cli_database,
        "create-staff",
        "--username",
        "u2",
        "--display-name",
        "Guo Peng",
        "--role",
        "AGENT",
        "--branch",
        "HQ",
        stdin="short\n",
    )
    assert result.exit_code == 1
    assert "password" in result.output


@pytest.fixture(scope="module")
def unmigrated_database(server_url) -> str:
    url = asyncio.run(recreate_database(server_url, "loyalty_cli_unmigrated_test"))
    return url.replace("postgresql+asyncpg://", "postgresql://")


NEEDING_THE_DATABASE = [
    ("verify",),
    ("create-branch", "--code", "HQ", "--name", "Head office"),
    ("create-partner", "--code", "AIR", "--name", "Air miles"),
    ("expire", "--as-of", "2026-01-01"),
    ("accrue", "--month", "2026-01"),
    ("warn-expiring", "--as-of", "2026-01-01"),
    ("auto-redeem", "--month", "2026-01"),
    ("deliver-fulfilments",),
    ("review-grades", "--as-of", "2026-01-01"),
    ("annual-review", "--as-of", "2026-01-01"),
]


@pytest.mark.parametrize("args", NEEDING_THE_DATABASE, ids=lambda args: args[0])
def test_a_command_on_a_database_that_is_not_migrated_says_so_in_one_line(unmigrated_database, args):
    # when a command that needs the database runs on an empty one
    result = invoke(unmigrated_database, *args)
    # then it stops with one line saying what to do, not a traceback
    expected = (
        f"The database is not migrated (at revision none, code expects {head_revision()}): run `loyalty migrate`."
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert expected in result.output.splitlines()
    assert "Traceback" not in result.output
    if args[0] in ("verify", "create-branch", "create-partner"):  # the others show a progress bar
        assert result.output.strip() == expected


def test_a_command_on_a_database_of_newer_code_or_out_of_reach_says_so_in_one_line(unmigrated_database):
    async def stamp(revision: str) -> None:
        engine = make_engine(to_async_url(unmigrated_database), pool_size=1)
        async with engine.begin() as connection:
            await connection.execute(sa.text("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)"))
            await connection.execute(sa.text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})
        await engine.dispose()

    asyncio.run(stamp("9999"))
    newer = invoke(unmigrated_database, "verify")
    assert newer.exit_code == 1
    assert newer.output.strip() == (
        f"The database is at revision 9999, which this code does not know (it expects {head_revision()}):"
        " run newer code."
    )
    gone = invoke("postgresql://nobody@127.0.0.1:1/none", "verify")
    assert gone.exit_code == 1 and isinstance(gone.exception, SystemExit)
    assert gone.output.startswith("Cannot reach the database: ") and len(gone.output.strip().splitlines()) == 1


def test_export_schema_writes_the_sdl(tmp_path):
    target = tmp_path / "schema.graphql"
    assert runner.invoke(app, ["export-schema", "--output", str(target)]).exit_code == 0
    assert "type Query" in target.read_text()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, process: subprocess.Popen, seconds_max: float = 60) -> dict:
    deadline = time.monotonic() + seconds_max
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                return json.load(response)
        except OSError:
            time.sleep(0.3)
    raise AssertionError("the service did not become ready")


def serve(data_dir: Path, port: int, workers: int = 1) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {
        "LOYALTY_PASSWORD_TIME_COST": "1",
        "LOYALTY_PASSWORD_MEMORY_COST_KIB": "1024",
    }
    command = [sys.executable, "-m", "loyalty", "serve", "--demo", "--data-dir", str(data_dir), "--port", str(port)]
    command += ["--workers", str(workers)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_serve_starts_embedded_postgres_stops_cleanly_and_keeps_data(tmp_path):
    login = 'mutation { login(input: {kind: STAFF, login: "admin", password: "demo-password"}) { errors { code } } }'
    for run in ("first", "restart"):
        port = free_port()
        process = serve(tmp_path / "data", port)
        try:
            assert wait_ready(port, process)["status"] == "ready"
            assert graphql(port, login)["data"]["login"]["errors"] == []
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        assert "Stopping embedded PostgreSQL" in stderr
        assert ("Demo data loaded." if run == "first" else "Demo data present already.") in stderr
    assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()


def test_serve_that_cannot_listen_fails(tmp_path):
    # given the port taken by something else
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # when the service is started on it, then it stops with exit 1, saying why, its database stopped
        process = serve(tmp_path / "data", port)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    assert "could not start (could not listen" in stderr and "Stopping embedded PostgreSQL" in stderr


def worker_processes(parent: int) -> list[int]:
    """The worker processes `parent` spawned (its other children: the spawner's resource tracker)."""
    workers = []
    for process in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            status = (process / "status").read_text()
            ppid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))
            if ppid == parent and b"spawn_main" in (process / "cmdline").read_bytes():
                workers.append(int(process.name))
    return workers


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="counts processes through /proc")
def test_serve_with_two_workers_runs_two_processes_on_one_embedded_database(tmp_path):
    # given the service started with two workers and no external database
    port = free_port()
    process = serve(tmp_path / "data", port, workers=2)
    try:
        # when it is ready, then two worker processes serve it, and requests are answered
        assert wait_ready(port, process)["status"] == "ready"
        assert len(worker_processes(process.pid)) == 2
        answers = [graphql(port, "{ grades { code } }")["data"]["grades"] for _ in range(20)]
        assert all([g["code"] for g in grades] == ["DIAMOND", "EMERALD", "SAPPHIRE"] for grades in answers)
        # and the metrics, whichever worker answers the scrape, count the requests of both
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        count = 'loyalty_request_duration_seconds_count{operation="query grades",outcome="ok"}'
        assert sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(count)) == 20
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    # and it stops the workers, then the one database, cleanly
    assert process.returncode == 0, stderr
    assert stderr.count("Finished server process") == 2 and "Stopping embedded PostgreSQL" in stderr
    assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()


def demo_database(server_url: str, name: str) -> tuple[str, str]:
    """A fresh database holding the demo data set: its async URL and its DATABASE_URL."""
    url = asyncio.run(recreate_database(server_url, name))
    database_url = url.replace("postgresql+asyncpg://", "postgresql://")
    assert invoke(database_url, "migrate").exit_code == 0

    async def load() -> None:
        from loyalty.database import make_engine, make_sessions
        from loyalty.demo import load_demo

        engine = make_engine(url, pool_size=1)
        async with make_sessions(engine).begin() as session:
            await load_demo(session)
        await engine.dispose()

    asyncio.run(load())
    return url, database_url


def test_bills_are_imported_and_accrued_from_the_command_line(server_url, tmp_path):
    # given the demo data set and a billing file for September
    url, database_url = demo_database(server_url, "loyalty_cli_accrual_test")
    bills = tmp_path / "bills.csv"
    bills.write_text(
        "account_number,billing_month,amount_billed_fen,amount_paid_fen,due_date,paid_date\n"
        "80000001,2026-09,12345,12345,2026-09-15,2026-09-10\n"
    )
    assert invoke(database_url, "import-bills", str(bills)).exit_code == 0
    # when September is accrued, twice, then it earns once and says so
    first = invoke(database_url, "accrue", "--month", "2026-09")
    assert first.exit_code == 0, first.output
    assert "2026-09: 1 bills, 1 members, 250 points net, 0 penalties." in first.output
    assert "2026-09: 0 bills" in invoke(database_url, "accrue", "--month", "2026-09").output
    assert invoke(database_url, "accrue", "--month", "Sept").exit_code == 2
    # and the month under way, or one to come, is refused in one line and earns nothing
    for month in (f"{clock.today():%Y-%m}", "2099-03"):
        refused = invoke(database_url, "accrue", "--month", month)
        assert refused.exit_code == 1 and "MONTH_NOT_FINISHED" in refused.output, refused.output
        assert "Traceback" not in refused.output
    # and a month before bills are kept is refused in one line too
    refused = invoke(database_url, "accrue", "--month", "1999-12")
    assert refused.exit_code == 1 and "OUT_OF_RANGE" in refused.output and "Traceback" not in refused.output

    # and each run is recorded as started from the command line
    async def recorded() -> list[tuple]:
        from loyalty.database import make_engine

        engine = make_engine(url, pool_size=1)
        async with engine.connect() as connection:
            rows = await connection.execute(
                sa.text(
                    "SELECT status, staff_id, CAST(figures ->> 'bills' AS bigint) FROM job_run"
                    " WHERE kind = 'MONTHLY_ACCRUAL' ORDER BY id"
                )
            )
            found = [tuple(r) for r in rows]
        await engine.dispose()
        return found

    assert asyncio.run(recorded()) == [("DONE", None, 1), ("DONE", None, 0)]


def test_a_run_stopped_by_sigterm_records_that_it_was_interrupted(cli_database):
    # given an accrual run held at its start (the test holds the lock its chunks share)
    from domain.points.bills import ACCRUAL_KIND
    from domain.work.jobs import _WORK_SPACE, _lock_key

    assert invoke(cli_database, "migrate").exit_code == 0
    url = to_async_url(cli_database)
    month, key = "2025-03", _lock_key(ACCRUAL_KIND, "2025-03")

    async def hold_then(stop: Callable[[], Awaitable[None]]) -> list[tuple]:
        engine = make_engine(url, pool_size=2)
        try:
            async with engine.connect() as holder:
                await holder.execute(
                    sa.text("SELECT pg_advisory_lock(:space, :key)"), {"space": _WORK_SPACE, "key": key}
                )
                await stop()
            async with engine.connect() as connection:
                rows = await connection.execute(
                    sa.text("SELECT status, error FROM job_run WHERE kind = :kind AND subject = :month"),
                    {"kind": ACCRUAL_KIND, "month": month},
                )
                return [tuple(r) for r in rows]
        finally:
            await engine.dispose()

    said: list[str] = []

    async def start_and_terminate() -> None:
        env = os.environ | {"DATABASE_URL": cli_database}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "loyalty", "accrue", "--month", month, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        await wait_until_recorded_running(url, month)
        # when the process is asked to stop, as a timeout or a service manager asks
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 60)
        said.append(output.decode())
        said.append(str(process.returncode))

    recorded = asyncio.run(hold_then(start_and_terminate))
    # then it says so in one line and exits as SIGTERM's code, and its run reads INTERRUPTED, not RUNNING
    output, exit_code = said
    assert exit_code == str(128 + signal.SIGTERM), output
    assert "Stopped by SIGTERM" in output and "Traceback" not in output
    assert recorded == [("INTERRUPTED", "Interrupted before the end; a new run resumes where it stopped.")]


async def wait_until_recorded_running(url: str, month: str, seconds_max: float = 60) -> None:
    engine = make_engine(url, pool_size=1)
    try:
        deadline = time.monotonic() + seconds_max
        while time.monotonic() < deadline:
            async with engine.connect() as connection:
                running = await connection.scalar(
                    sa.text("SELECT count(*) FROM job_run WHERE subject = :month AND status = 'RUNNING'"),
                    {"month": month},
                )
            if running:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the run was never recorded")
    finally:
        await engine.dispose()


def test_verify_and_expire_on_a_demo_ledger(server_url, today_is):
    # given a database with the demo data set
    url, database_url = demo_database(server_url, "loyalty_cli_ledger_test")
    # when the ledger is checked, then everything holds
    checked = invoke(database_url, "verify")
    assert checked.exit_code == 0 and "invariants hold" in checked.output
    # when points valid until 2026-12-31 are expired on their last day as of the day after, it is refused
    today_is(date(2026, 12, 31))
    ahead = invoke(database_url, "expire", "--as-of", "2027-01-01")
    assert ahead.exit_code == 2 and "--as-of must be today or earlier" in ahead.output, ahead.output
    # when points expire the day after, twice, then they expire once
    today_is(date(2027, 1, 1))
    assert "Expired 1,200 points of 1 members" in invoke(database_url, "expire", "--as-of", "2027-01-01").output
    assert "Expired 0 points of 0 members" in invoke(database_url, "expire", "--as-of", "2027-01-01").output
    assert invoke(database_url, "expire", "--as-of", "next week").exit_code == 2

    # when a balance is tampered with, then verify fails and says which invariant broke
    async def tamper() -> None:
        from loyalty.database import make_engine

        engine = make_engine(url, pool_size=1)
        async with engine.begin() as connection:
            await connection.execute(sa.text("UPDATE points_balance SET posted = posted + 7"))
        await engine.dispose()

    asyncio.run(tamper())
    broken = invoke(database_url, "verify")
    assert broken.exit_code == 1
    assert "each balance equals the sum of its entries" in broken.output


def test_today_on_the_command_line_is_the_clubs_day_in_the_zone_the_settings_give(server_url, today_is):
    # given a club in Auckland, where it is already 8 December when it is 7 December in Shanghai
    _, database_url = demo_database(server_url, "loyalty_cli_zone_test")
    today_is(date(2026, 12, 7))  # noon UTC: 8 December, 01:00 in Auckland
    in_auckland = {"LOYALTY_TIME_ZONE": "Pacific/Auckland"}
    try:
        # when points are expired as of the club's today, and the reviews run as of today
        expired = invoke(database_url, "expire", "--as-of", "2026-12-08", env=in_auckland)
        reviewed = invoke(database_url, "review-grades", env=in_auckland)
        annual = invoke(database_url, "annual-review", env=in_auckland)
    finally:
        clock.use_zone(clock.zone_default)  # the zone is the process's: the other tests' club is in Shanghai
    # then each takes the club's day, not Shanghai's
    assert expired.exit_code == 0 and "as of 2026-12-08" in expired.output, expired.output
    assert reviewed.exit_code == 0 and "\n2026-12-08: 3 customers reviewed" in reviewed.output, reviewed.output
    assert annual.exit_code == 0 and "\n2026-12-08: 3 members reviewed" in annual.output, annual.output


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="counts processes through /proc")
def test_a_worker_that_dies_is_replaced_and_a_second_server_on_the_port_is_refused(tmp_path):
    # given the service started with two workers
    port = free_port()
    process = serve(tmp_path / "data", port, workers=2)
    try:
        assert wait_ready(port, process)["status"] == "ready"
        first, second = worker_processes(process.pid)
        # when one worker is killed
        os.kill(first, signal.SIGKILL)
        # then another takes its place, and requests are still answered
        for _ in range(100):
            workers = worker_processes(process.pid)
            if len(workers) == 2 and first not in workers:
                break
            time.sleep(0.2)
        assert len(workers) == 2 and second in workers and first not in workers
        wait_ready(port, process)
        assert [g["code"] for g in graphql(port, "{ grades { code } }")["data"]["grades"]][0] == "DIAMOND"
        # and a second service on the same port stops with an error instead of sharing it
        rival = serve(tmp_path / "rival", port, workers=2)
        _, rival_stderr = rival.communicate(timeout=120)
        assert rival.returncode == 1 and f"port {port}" in rival_stderr
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr


def test_an_operator_sees_and_clears_login_throttles(server_url):
    # given a login a stranger has tried five times with a wrong password
    url, database_url = demo_database(server_url, "loyalty_cli_throttle_test")

    async def attempts() -> None:
        from domain.auth import service as auth
        from domain.auth.tables import PrincipalKind
        from domain.work.unit import UnitOfWork
        from loyalty.database import make_engine, make_sessions

        engine = make_engine(url, pool_size=1)
        policy = auth.AuthPolicy(secret_key="k" * 40)
        wrong = auth.Login(kind=PrincipalKind.STAFF, login="gd.agent", password="wrong!!!")
        for _ in range(5):
            with contextlib.suppress(Exception):
                async with UnitOfWork(make_sessions(engine), policies=[policy], remote_address="10.0.0.66") as uow:
                    await uow.run(auth.login, wrong)
        await engine.dispose()

    asyncio.run(attempts())
    # when an operator lists the throttles, then the login is there with its failures
    listed = invoke(database_url, "login-throttles")
    assert listed.exit_code == 0 and "STAFF\tgd.agent\t5 failures\tfrom 1 addresses" in listed.output, listed.output
    # and once cleared, it is not listed any more
    cleared = invoke(database_url, "clear-login-throttle", "--kind", "STAFF", "--login", "gd.agent")
    assert cleared.exit_code == 0 and "may log in again (5 failed attempts forgiven)" in cleared.output
    assert "gd.agent" not in invoke(database_url, "login-throttles").output
    (agent,) = rows(database_url, "SELECT id FROM staff WHERE username = 'gd.agent'")
    assert [e[:3] for e in rows(database_url, OPERATOR_EVENTS)] == [("clear-login-throttle", f"Staff:{agent[0]}", "OK")]
    # and a login cleared again, or mistyped, is said to have nothing to clear
    for login in ("gd.agent", "gd.agnet"):
        again = invoke(database_url, "clear-login-throttle", "--kind", "STAFF", "--login", login)
        assert again.exit_code == 0 and "nothing to clear" in again.output, again.output
    assert invoke(database_url, "clear-login-throttle", "--kind", "NOBODY", "--login", "x").exit_code == 2


def test_an_operator_clears_a_staff_accounts_proof_throttle(server_url):
    # given a terminal's account that entered wrong PINs for ten cards
    _, database_url = demo_database(server_url, "loyalty_cli_proof_throttle_test")
    (agent,) = rows(database_url, "SELECT id FROM staff WHERE username = 'gd.agent'")
    rows(
        database_url,
        f"""INSERT INTO staff_proof_failure (staff_id, card_number)
                           SELECT {agent[0]}, 6299000000000000 + n FROM generate_series(1, 10) AS n RETURNING 1""",
    )
    # when an operator clears it, then its failures are forgotten, and the trail says who did it
    cleared = invoke(database_url, "clear-proof-throttle", "--staff", "GD.AGENT")
    assert (
        cleared.exit_code == 0
        and "gd.agent may prove cards again (wrong proofs of 10 cards forgotten)" in cleared.output
    )
    assert rows(database_url, "SELECT count(*) FROM staff_proof_failure") == [(0,)]
    assert [e[:3] for e in rows(database_url, OPERATOR_EVENTS)] == [("clear-proof-throttle", f"Staff:{agent[0]}", "OK")]
    # and an account that does not exist is said to, in one line
    unknown = invoke(database_url, "clear-proof-throttle", "--staff", "nobody")
    assert unknown.exit_code == 1 and "NOT_FOUND" in unknown.output


def test_prune_sessions_forgets_the_traded_tokens_of_ended_sessions_only(server_url):
    # given two sessions of gd.agent, each with a refresh token traded away; one then logged out
    url, database_url = demo_database(server_url, "loyalty_cli_prune_test")

    async def sessions() -> int:
        from domain.auth import service as auth
        from domain.auth.tables import PrincipalKind
        from domain.work.unit import UnitOfWork
        from loyalty.database import make_sessions

        engine = make_engine(url, pool_size=1)
        policy = auth.AuthPolicy(secret_key="k" * 40)
        for _ in range(2):
            async with UnitOfWork(make_sessions(engine), policies=[policy]) as uow:
                tokens = await uow.run(auth.login, auth.Login(kind=PrincipalKind.STAFF, login="gd.agent",
                                                              password=DEMO_PASSWORD))  # fmt: skip
            async with UnitOfWork(make_sessions(engine), policies=[policy]) as uow:
                await uow.run(auth.refresh, auth.RefreshToken(refresh_token=tokens.refresh_token))
        async with engine.begin() as connection:
            await connection.execute(sa.text("UPDATE auth_session SET revoked_at = now() WHERE id = (SELECT min(id)"
                                             " FROM auth_session)"))  # fmt: skip
            # and of its two logins' attempts, one made 91 days ago
            await connection.execute(sa.text("UPDATE login_attempt SET attempted_at = now() - interval '91 days'"
                                             " WHERE id = (SELECT min(id) FROM login_attempt)"))  # fmt: skip
            kept = await connection.scalar(sa.text("SELECT max(session_id) FROM retired_refresh_token"))
        await engine.dispose()
        return kept

    live = asyncio.run(sessions())
    # when an operator prunes, then the ended session's traded token is forgotten, the live one's kept, and the
    # attempt older than 90 days
    pruned = invoke(database_url, "prune-sessions")
    assert pruned.exit_code == 0, pruned.output
    assert "1 refresh tokens of ended sessions and 1 login attempts forgotten." in pruned.output, pruned.output

    async def left() -> list[int]:
        engine = make_engine(url, pool_size=1)
        async with engine.connect() as connection:
            found = list(await connection.scalars(sa.text("SELECT session_id FROM retired_refresh_token")))
        await engine.dispose()
        return found

    assert asyncio.run(left()) == [live]


def test_bookings_are_carried_out_and_deliveries_sent_from_the_command_line(server_url):
    # given the demo data set and Li Wei's booking of 60 minutes a month from this month
    url, database_url = demo_database(server_url, "loyalty_cli_bookings_test")
    month = f"{clock.today():%Y-%m}"

    async def book() -> None:
        engine = make_engine(url, pool_size=1)
        async with engine.begin() as connection:
            await connection.execute(sa.text(
                """INSERT INTO auto_redemption (member_id, item_id, quantity, start_month, status)
                   SELECT m.id, i.id, 1, date_trunc('month', current_date), 'ACTIVE' FROM member m, reward_item i
                   WHERE m.member_number = (SELECT min(member_number) FROM member) AND i.code = 'MIN-60'"""
            ))  # fmt: skip
        await engine.dispose()

    asyncio.run(book())
    # when the month's bookings are run, twice, then the booking is redeemed once and the summary says so
    first = invoke(database_url, "auto-redeem", "--month", month)
    assert first.exit_code == 0, first.output
    assert f"{month}: 1 bookings, 1 redeemed for 500 points, 0 skipped." in first.output
    assert f"{month}: 0 bookings" in invoke(database_url, "auto-redeem", "--month", month).output
    # and a month to come is refused in one line
    refused = invoke(database_url, "auto-redeem", "--month", "2099-03")
    assert refused.exit_code == 1 and "MONTH_NOT_STARTED" in refused.output and "Traceback" not in refused.output
    # and its minutes are delivered to the billing system
    delivered = invoke(database_url, "deliver-fulfilments")
    assert delivered.exit_code == 0, delivered.output
    assert "1 delivered, 0 given up (retry them with retryFulfilment); 0 in doubt" in delivered.output
    assert invoke(database_url, "verify").exit_code == 0


def test_the_grade_review_runs_from_the_command_line_once_per_date(server_url):
    # given the demo data set, where nobody paid a bill in the last year: every member qualifies for nothing
    url, database_url = demo_database(server_url, "loyalty_cli_grades_test")
    # when the review runs as of today, twice
    first = invoke(database_url, "review-grades")
    again = invoke(database_url, "review-grades")
    # then the first proposed to revoke the three members (waiting for a reviewer), the second nothing new
    assert first.exit_code == 0, first.output
    assert "3 customers reviewed, 3 new proposals" in first.output and "3 revoke; 0 applied." in first.output
    assert "0 new proposals" in again.output
    # and a date to come is refused in one line
    refused = invoke(database_url, "review-grades", "--as-of", "2099-01-01")
    assert refused.exit_code == 2 and "today or earlier" in refused.output and "Traceback" not in refused.output
    # and the annual review ends the three memberships, once
    annual = invoke(database_url, "annual-review")
    said = " ".join(annual.output.split())  # the console wraps long lines
    assert annual.exit_code == 0 and "3 members reviewed" in said and "0 in grace, 3 ended." in said, said
    assert "0 members reviewed" in invoke(database_url, "annual-review").output
    assert invoke(database_url, "verify").exit_code == 0
