"""`loyalty …`: serve, migrate, set-up commands and schema export."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
import typer
from dotenv import dotenv_values
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import clock
from domain.errors import DomainError
from domain.work.commands import Command
from domain.work.unit import UnitOfWork
from loyalty import logs
from loyalty.config import Settings, unknown_variables
from loyalty.database import EmbeddedPostgres, make_engine, make_sessions, to_async_url
from loyalty.workers import WorkersFailing


class Commands(typer.Typer):
    """Every command answers a fault of the machine or of a file it was given (a folder that is not there, a
    read-only or full disk, a file that is not UTF-8) in one line and exit 1, as it answers bad input: an
    operator's cron log gets the reason, not a traceback."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().command(*args, **kwargs)

        def guarded(function: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(function)  # the signature typer reads is the command's own
            def run(*given: Any, **named: Any) -> Any:
                with _failing_in_one_line(OSError, UnicodeError):
                    return function(*given, **named)

            register(run)
            return function

        return guarded


app = Commands(help="Loyalty Club: the GraphQL backend of the customer club.", no_args_is_help=True)
console = Console(stderr=True)
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"
T = TypeVar("T")


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The async URL of DATABASE_URL, or of an embedded server started (and stopped) around the block; in
    production DATABASE_URL is required (exit 2 without it): a host missing it would otherwise serve, back up
    and report healthy an empty database of its own."""
    if settings.database_url:
        yield to_async_url(settings.database_url)
        return
    if settings.production:
        console.print("[red]DATABASE_URL must be set in production: an embedded database is for development.[/red]")
        raise typer.Exit(2)
    console.print(f"Starting embedded PostgreSQL in {settings.pgdata_dir} …")
    # SIGTERM before a command's own handling (while the database starts, or migrations run) stops it here too,
    # so that the database is stopped on the way out instead of left running behind a dead process.
    stopping = _Stopping()
    previous = signal.signal(signal.SIGTERM, stopping.heard)
    try:
        server = EmbeddedPostgres(settings.pgdata_dir)  # a SIGTERM meanwhile waits: the server is not ours yet
        try:
            stopping.started = True
            stopping.now_if_heard()
            yield server.url()
        finally:
            console.print("Stopping embedded PostgreSQL …")
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the database is being stopped: let it
            server.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclasses.dataclass
class _Stopping:
    """SIGTERM around an embedded database: heard while it starts (its handle is ours only once started),
    acted on as soon as it has; at once afterwards."""

    started: bool = False
    pending: bool = False

    def heard(self, signum: int, frame: Any) -> None:
        self.pending = True
        if self.started:
            self.now_if_heard()

    def now_if_heard(self) -> None:
        if self.pending:
            console.print("[red]Stopped by SIGTERM.[/red]")
            raise typer.Exit(128 + signal.SIGTERM)


class DatabaseUnusable(Exception):
    """The database cannot be worked on: unreachable, or its schema is not the code's."""


def run_on_database(url: str, work: Callable[[async_sessionmaker], Awaitable[T]]) -> T:
    """Run `work` with the database's session factory (each transaction a unit of work), once the database
    is found reachable and migrated; print domain errors, or what is wrong with the database, and exit 1."""
    from loyalty import migrate

    terminated = _Termination()

    async def main() -> T:
        # SIGTERM (a timeout, a stopping service manager) stops the work as Ctrl-C does: the task is cancelled,
        # so a run records that it was interrupted and the embedded database is stopped on the way out.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated.set, asyncio.current_task())
        engine = make_engine(url, pool_size=2)
        try:
            try:
                problem = await migrate.not_at_head(engine)
            except (OSError, sa.exc.DBAPIError) as error:
                reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
                raise DatabaseUnusable(f"Cannot reach the database: {reason}") from None
            if problem:
                raise DatabaseUnusable(problem)
            return await work(make_sessions(engine))
        finally:
            await engine.dispose()

    handler = signal.getsignal(signal.SIGTERM)  # the loop's closing leaves SIGTERM at its default: put it back
    try:
        return asyncio.run(main())
    except DomainError as error:
        for problem in error.problems:
            console.print(
                f"[red]{problem.code}[/red] {escape(problem.field or '')}: {escape(problem.message)}",
                soft_wrap=True,
                highlight=False,
            )
        raise typer.Exit(1) from None
    except DatabaseUnusable as unusable:
        console.print(f"[red]{escape(str(unusable))}[/red]", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None
    except asyncio.CancelledError:
        if not terminated.task:
            raise
        console.print("[red]Stopped by SIGTERM.[/red] A run carries on where it stopped when started again.")
        raise typer.Exit(128 + signal.SIGTERM) from None
    finally:
        signal.signal(signal.SIGTERM, handler)


@dataclasses.dataclass
class _Termination:
    """The task that SIGTERM cancelled, once it has."""

    task: asyncio.Task[Any] | None = None

    def set(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        task.cancel()


def run_command(url: str, handler: Callable[[UnitOfWork, Any], Awaitable[T]], command: Command) -> T:
    """Carry out one command in one unit of work, as the system (no caller)."""

    async def once(sessions: async_sessionmaker) -> T:
        async with UnitOfWork(sessions) as uow:
            return await uow.run(handler, command)

    return run_on_database(url, once)


def run_with_session(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work(session)` in one unit of work (set-up services that take a session)."""

    async def once(sessions: async_sessionmaker) -> T:
        async with UnitOfWork(sessions) as uow:
            return await work(uow.session)

    return run_on_database(url, once)


def run_audited(
    settings: Settings,
    operation: str,
    work: Callable[[AsyncSession], Awaitable[T]],
    named: Callable[[T], tuple[str | None, int | None]],
) -> T:
    """`run_with_session` on the settings' database, as an operator's command of the audit trail: its event
    (`operation`; the object `named(result)` names, `Staff:12`, and that object's branch, whose auditors see
    it) commits with the work; a refused command's is written on its own, nationally. The operator is
    `LOYALTY_OPERATOR`, else the host's user."""
    from domain.audit import trail

    who = _operator(settings.operator)

    async def once(sessions: async_sessionmaker) -> T:
        try:
            async with UnitOfWork(sessions) as uow:
                result = await work(uow.session)
                result_id, branch_id = named(result)
                path = await uow.session.scalar(_BRANCH_PATH, {"id": branch_id}) if branch_id is not None else None
                event = trail.operator_event(
                    operation, uow.now, who, result_id, branch_path=path or trail.NATIONAL_PATH
                )
                await uow.session.execute(trail.RECORD, event)
                return result
        except (DomainError, sa.exc.IntegrityError) as refused:
            try:
                async with UnitOfWork(sessions) as uow:
                    event = trail.operator_event(operation, uow.now, who, outcome=trail.outcome_of(refused))
                    await uow.session.execute(trail.RECORD, event)
            except Exception:  # the refusal is what the operator must read; the lost event is logged
                logs.get(__name__).warning("the audit event of a refused %s was not written", operation, exc_info=True)
            raise

    with database(settings) as url:
        return run_on_database(url, once)


_BRANCH_PATH = sa.text("SELECT path FROM branch WHERE id = :id")


def _operator(named: str | None) -> tuple[int, str]:
    """Who runs this command: `(uid, "name@host")`, the name as given (`LOYALTY_OPERATOR`), else the host's
    user's (under sudo, the user who called it)."""
    import getpass
    import socket

    uid = os.getuid()
    if not named:
        try:
            named = os.environ.get("SUDO_USER") or getpass.getuser()
        except (KeyError, OSError):  # no name for the uid (a container's): the uid says it
            named = str(uid)
    return uid, f"{named}@{socket.gethostname()}"


def _migrate(url: str) -> None:
    from loyalty import migrate

    async def main() -> None:
        engine = make_engine(url, pool_size=1)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(main())


def _settings(data_dir: Path | None = None) -> Settings:
    """The settings, or a line per setting that is wrong (named as it is set) and exit 2."""
    try:
        settings = Settings()
    except ValidationError as invalid:
        for error in invalid.errors():
            name = "_".join(str(part) for part in error["loc"]).upper()
            name = name if name == "DATABASE_URL" else f"LOYALTY_{name.removeprefix('LOYALTY_')}"
            reason = error["msg"].removeprefix("Value error, ")
            console.print(f"[red]{escape(name)}: {escape(reason)}[/red]", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from None
    for line in unknown_variables(dotenv_values(".env") | os.environ):  # as the settings are read
        console.print(f"[yellow]{escape(line)}[/yellow]", soft_wrap=True, highlight=False)
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    logs.configure(settings.log_level, settings.logs_as_json)
    clock.use_zone(settings.time_zone)
    return settings


DataDir = typer.Option(None, "--data-dir", help="Where the embedded database and secrets live.")


@app.command()
def serve(
    host: str = typer.Option(None, help="Interface to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, min=1, max=65_535, help="TCP port (default 8000)."),
    data_dir: Path = DataDir,
    demo: bool = typer.Option(False, "--demo", help="Load the demo data set (see README) if absent."),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes, each with its own connection pool."),
) -> None:
    """Apply migrations and serve GraphQL (embedded PostgreSQL unless DATABASE_URL is set)."""
    settings = _settings(data_dir)
    try:
        settings.signing_key  # noqa: B018  (made before serving; missing in production: refused before migrating)
    except RuntimeError as missing:
        console.print(f"[red]{escape(str(missing))}[/red]")
        raise typer.Exit(2) from None
    failed = False
    with database(settings) as url:
        _migrate(url)
        if demo:
            _load_demo(url)
        if (short := connections_short(url, settings, workers)) is not None:
            console.print(f"[yellow]{escape(short)}[/yellow]", soft_wrap=True, highlight=False)
        host, port = host or settings.host, settings.port if port is None else port
        console.print(f"Serving GraphQL on http://{host}:{port}/graphql")
        # uvicorn shuts down gracefully, then re-raises SIGTERM/SIGINT; turning that into a normal
        # exit lets the embedded database stop cleanly on the way out.
        signal.signal(signal.SIGTERM, _exit_quietly)
        signal.signal(signal.SIGINT, _exit_quietly)
        try:
            _run_workers(settings, url, host, port, workers)
        except SystemExit as stopped:  # a signal's quiet exit is 0; uvicorn's own 1 (it could not start) is a failure
            if stopped.code not in (None, 0):
                console.print("[red]Stopped serving:[/red] the server could not start (could not listen, or the"
                              " app's start-up failed); see the log above.", soft_wrap=True)  # fmt: skip
                failed = True
        except WorkersFailing as failure:
            console.print(f"[red]Stopped serving:[/red] {failure}; see the workers' log above.")
            failed = True
    if failed:
        raise typer.Exit(1)


# The connections of the server, and those the service's role may have of them: all of them for a superuser
# (the embedded database's is); else all but the reserved ones (`superuser_reserved_connections` and, from
# version 16, `reserved_connections`), within its own and its database's connection limits, if any.
_CONNECTIONS_ALLOWED = sa.text(
    """SELECT current_setting('max_connections')::int,
              CASE WHEN current_setting('is_superuser') = 'on' THEN current_setting('max_connections')::int
                   ELSE least(current_setting('max_connections')::int
                                - current_setting('superuser_reserved_connections')::int
                                - coalesce(current_setting('reserved_connections', true)::int, 0),
                              (SELECT nullif(rolconnlimit, -1) FROM pg_roles WHERE rolname = current_user),
                              (SELECT nullif(datconnlimit, -1) FROM pg_database WHERE datname = current_database()))
              END"""
)


def connections_short(url: str, settings: Settings, workers: int) -> str | None:
    """What is wrong when `workers` processes may open more connections than the database allows: under load,
    the requests over it would fail (PostgreSQL's "too many clients"). Other hosts and the jobs need theirs too."""

    async def allowed(session: AsyncSession) -> tuple[int, int]:
        return tuple((await session.execute(_CONNECTIONS_ALLOWED)).one())

    most, allowed_here = run_with_session(url, allowed)
    needed = settings.connections_max(workers)
    if needed <= allowed_here:
        return None
    return (
        f"{workers} workers may open {needed} connections (LOYALTY_DATABASE_POOL_SIZE,"
        f" LOYALTY_DATABASE_STATEMENT_POOL_SIZE), more than the {allowed_here} PostgreSQL allows"
        f" (max_connections {most}, less reserved ones and the role's and database's limits): lower the pools or"
        f" the workers, or raise max_connections."
    )


def _run_workers(settings: Settings, url: str, host: str, port: int, workers: int) -> None:
    """One process serves in place; more are worker processes (`loyalty.workers`), each building the app
    from the environment set here: this process's settings, and the database it started (once)."""
    import uvicorn

    from loyalty import workers as worker_processes
    from loyalty.app import create_app

    if workers == 1:
        options = worker_processes.server_options(settings.log_level)
        uvicorn.run(create_app(settings, url), host=host, port=port, **options)
        return
    with worker_processes.shared_metrics() as metrics_dir:
        os.environ |= {
            "DATABASE_URL": sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
            "LOYALTY_DATA_DIR": str(settings.data_dir),
            "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        }
        worker_processes.serve(workers, host, port, settings.log_level.lower())


def _exit_quietly(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def _load_demo(url: str) -> None:
    from loyalty.app import configure_hashing
    from loyalty.demo import load_demo

    configure_hashing(Settings())
    loaded = run_with_session(url, load_demo)
    console.print("Demo data loaded." if loaded else "Demo data present already.")


@app.command()
def migrate(data_dir: Path = DataDir) -> None:
    """Apply every pending database migration."""
    settings = _settings(data_dir)
    with database(settings) as url:
        _migrate(url)
    console.print("Migrations at head.")


@app.command("create-branch")
def create_branch(
    code: str = typer.Option(..., help="Unique branch code, e.g. GD."),
    name: str = typer.Option(..., help="Display name."),
    parent: str = typer.Option(None, help="Parent branch code; omit for headquarters."),
    data_dir: Path = DataDir,
) -> None:
    """Add headquarters, a province under HQ, or a city under a province."""
    from domain.organisation import service as organisation

    branch = run_audited(
        _settings(data_dir),
        "create-branch",
        lambda s: organisation.create_branch(s, code=code, name=name, parent_code=parent),
        lambda made: (f"Branch:{made.id}", made.id),
    )
    console.print(f"Branch {branch.code} ({branch.level}) created.")


@app.command("create-staff")
def create_staff(
    username: str = typer.Option(..., help="Login name."),
    role: str = typer.Option(
        ..., help="ADMINISTRATOR, CLUB_OPERATOR, CUSTOMER_MANAGER, AGENT, SETTLEMENT_CLERK, AUDITOR."
    ),
    branch: str = typer.Option(..., help="Branch code."),
    display_name: str = typer.Option(
        ..., help="The name members and colleagues see (a member never sees the login name)."
    ),
    data_dir: Path = DataDir,
) -> None:
    """Create a staff user. The password is read from stdin (or prompted), never from arguments."""
    from domain.organisation import service as organisation
    from loyalty.app import configure_hashing

    settings = _settings(data_dir)
    configure_hashing(settings)
    password = _read_password()
    staff = run_audited(
        settings,
        "create-staff",
        lambda s: organisation.create_staff(
            s, username=username, display_name=display_name, role=role.upper(), branch_code=branch, password=password
        ),
        lambda made: (f"Staff:{made.id}", made.branch_id),
    )
    console.print(f"Staff user {staff.username} ({staff.role}) created.")


def _read_password() -> str:
    if sys.stdin.isatty():
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")  # a line ended by CRLF (a file written on Windows) too


@app.command("create-partner")
def create_partner(
    code: str = typer.Option(..., help="Unique partner code."),
    name: str = typer.Option(..., help="Display name."),
    branch: str = typer.Option("HQ", help="Maintaining branch: HQ for national partners."),
    data_dir: Path = DataDir,
) -> None:
    """Register a partner (its other details, status and contacts are kept through the API)."""
    from domain.partners import registry

    partner = run_audited(
        _settings(data_dir),
        "create-partner",
        lambda s: registry.create_partner_by_code(s, code=code, name=name, branch_code=branch),
        lambda made: (f"Partner:{made.id}", made.branch_id),
    )
    console.print(f"Partner {code} created (Partner:{partner.id}).")


@app.command("login-throttles")
def login_throttles(data_dir: Path = DataDir) -> None:
    """List the logins with recent failed attempts (the window since their last success)."""
    from domain.auth import service as auth

    settings = _settings(data_dir)
    with database(settings) as url:
        found = run_with_session(url, lambda s: auth.throttled_logins(s, settings.auth_policy(), clock.now()))
    for t in found:
        last = f"{t.last_failed_at:%Y-%m-%d %H:%M:%S}"
        print(f"{t.kind.value}\t{t.login}\t{t.failures} failures\tfrom {t.addresses} addresses\tlast {last} UTC")
    console.print(f"{len(found)} logins with recent failures.")


@app.command("clear-login-throttle")
def clear_login_throttle(
    kind: str = typer.Option(..., "--kind", help="MEMBER or STAFF."),
    login: str = typer.Option(..., "--login", help="As typed: member or subscriber number, or username."),
    data_dir: Path = DataDir,
) -> None:
    """Let a login try again at once from every address (e.g. after its owner called the hotline)."""
    from domain.auth import service as auth
    from domain.auth.tables import PrincipalKind

    if kind not in {k.value for k in auth.LOGIN_KINDS}:
        console.print("[red]--kind must be MEMBER or STAFF[/red]")
        raise typer.Exit(2)
    cleared = run_audited(
        _settings(data_dir),
        "clear-login-throttle",
        lambda s: auth.clear_throttle(s, PrincipalKind(kind), login, "cleared by an operator"),
        lambda cleared: (cleared.identity, cleared.branch_id) if cleared.failures else (None, None),
    )
    if failures := cleared.failures:
        console.print(f"{kind} {escape(login)} may log in again ({failures:,} failed attempts forgiven).")
    else:
        console.print(f"{kind} {escape(login)} has no failed attempts since its last success: nothing to clear.")


@app.command("clear-proof-throttle")
def clear_proof_throttle(
    staff: str = typer.Option(..., "--staff", help="The staff account's username."),
    data_dir: Path = DataDir,
) -> None:
    """Let a staff account prove cards again at once, its wrong PINs and proofs forgotten (e.g. a busy shop's
    terminal after its customers' typos)."""
    from domain.cards import lifecycle

    settings = _settings(data_dir)
    forgiven = run_audited(
        settings,
        "clear-proof-throttle",
        lambda s: lifecycle.forgive_account(s, settings.card_policy(), staff),
        lambda forgiven: (f"Staff:{forgiven.staff_id}", forgiven.branch_id),
    )
    console.print(f"{forgiven.username} may prove cards again (wrong proofs of {forgiven.cards:,} cards forgotten).")


@app.command("prune-sessions")
def prune_sessions(data_dir: Path = DataDir) -> None:
    """Forget the refresh tokens traded away by sessions that have ended, and login attempts older than 90 days
    (run it daily, say)."""
    from domain.auth import service as auth

    with database(_settings(data_dir)) as url:
        tokens, attempts = run_with_session(url, lambda s: auth.prune_sessions(s, clock.now()))
    console.print(f"{tokens} refresh tokens of ended sessions and {attempts} login attempts forgotten.")


@app.command()
def verify(data_dir: Path = DataDir) -> None:
    """Check every points ledger invariant; exit 1 with a report when one fails."""
    from domain.points import ledger

    with database(_settings(data_dir)) as url:
        violations = run_with_session(url, ledger.verify)
    for violation in violations:
        console.print(f"[red]FAILED[/red] {violation.invariant}: e.g. {violation.examples}")
    if violations:
        raise typer.Exit(1)
    console.print(f"All {len(ledger.every_invariant())} ledger and area invariants hold.")


@app.command()
def expire(
    as_of: str = typer.Option(..., "--as-of", help="YYYY-MM-DD: points whose last day is before this expire."),
    data_dir: Path = DataDir,
) -> None:
    """Move what remains of expired lots to breakage. Safe to rerun: expired lots are empty."""

    from rich.progress import Progress

    from domain.points import service

    settings = _settings(data_dir)  # the club's zone first: it says which day is today
    day = _review_day(as_of)
    with database(settings) as url, Progress(console=console) as progress:
        task = progress.add_task("Expiring points", total=None)
        run = run_on_database(
            url, lambda sessions: service.expire(sessions, day, progress=lambda n: progress.advance(task, n))
        )
    console.print(f"Expired {run.points:,} points of {run.members:,} members as of {day}.")


@app.command("import-bills")
def import_bills(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV with a header row (see README)."),
    data_dir: Path = DataDir,
) -> None:
    """Import monthly bills. A file with any bad row is rejected whole; bad rows are listed by line."""
    from domain.points import bills

    with database(_settings(data_dir)) as url:
        result = run_command(url, bills.import_bills, bills.ImportBills(path=file))
    if result.problems:
        for problem in result.problems:
            console.print(f"[red]{escape(problem)}[/red]", soft_wrap=True, highlight=False)
        if result.problems_total > len(result.problems):
            console.print(f"… and {result.problems_total - len(result.problems):,} more problems.")
        console.print("Nothing was imported.")
        raise typer.Exit(1)
    console.print(
        f"{result.rows:,} rows: {result.written:,} bills written, {result.skipped_accrued:,} skipped (earned already)."
    )


@app.command()
def accrue(
    month: str = typer.Option(..., "--month", help="YYYY-MM: the billing month to earn points for."),
    chunk: int = typer.Option(10_000, min=1, max=100_000, help="Bills per committed chunk."),
    data_dir: Path = DataDir,
) -> None:
    """Earn the month's points from paid bills. Safe to rerun; resumes after a stop."""
    from rich.progress import Progress

    from domain.points import accrual
    from domain.work.jobs import JobRunner

    first_day = _month_option(month)
    with database(_settings(data_dir)) as url, Progress(console=console) as progress:
        task = progress.add_task(f"Accruing {month}", total=None)

        async def main(sessions: async_sessionmaker) -> accrual.MonthlyAccrualRun:
            runner = JobRunner(sessions)  # the same runner as the API's, carrying the run out here
            started = await runner.begin(accrual.MonthlyAccrualJob(first_day, chunk_bills=chunk))
            progress.update(task, total=started.record.total)
            record = await runner.carry_out(
                started, progress=lambda added: progress.advance(task, added.get("bills", 0))
            )
            return accrual.MonthlyAccrualRun.of(record)

        run = run_on_database(url, main)
    console.print(
        f"{month}: {run.bills:,} bills, {run.members:,} members, {run.points:,} points net,"
        f" {run.penalties:,} penalties."
    )


@app.command("warn-expiring")
def warn_expiring(
    as_of: str = typer.Option(None, "--as-of", help="YYYY-MM-DD (default: today)."),
    data_dir: Path = DataDir,
) -> None:
    """Queue a warning for each member whose points expire soon (once per expiry date) and send what is due."""

    from domain.points import warnings

    settings = _settings(data_dir)
    day = _review_day(as_of)  # warnings are queued from today's points: never for a day to come
    with database(settings) as url:

        async def main(sessions: async_sessionmaker) -> tuple[int, int, int]:
            async with UnitOfWork(sessions) as uow:
                command = warnings.EnqueueExpiryWarnings(as_of=day, within_days=settings.expiry_warning_days)
                queued = await uow.run(warnings.enqueue_expiry_warnings, command)
            sent, failed = await warnings.send_pending(sessions, warnings.load_sender(settings.notification_sender))
            return queued, sent, failed

        queued, sent, failed = run_on_database(url, main)
    console.print(f"{queued:,} warnings queued; {sent:,} sent, {failed:,} given up.")
    if failed:  # messages no run will send again: the cron's exit tells someone
        raise typer.Exit(1)


@app.command("auto-redeem")
def auto_redeem(
    month: str = typer.Option(..., "--month", help="YYYY-MM: the month whose bookings to carry out (begun)."),
    chunk: int = typer.Option(10_000, min=1, max=100_000, help="Bookings per committed chunk."),
    data_dir: Path = DataDir,
) -> None:
    """Carry out the month's booked redemptions [R3]. Safe to rerun; resumes after a stop."""
    from domain.redemption import bookings

    first_day = _month_option(month)
    with database(_settings(data_dir)) as url:
        job = functools.partial(bookings.AutoRedemptionJob, first_day, chunk_bookings=chunk)
        run = bookings.AutoRedemptionRun.of(_carried_out(url, job, f"Booked redemptions of {month}", "bookings"))
    console.print(
        f"{month}: {run.bookings:,} bookings, {run.redeemed:,} redeemed for {run.points:,} points,"
        f" {run.skipped:,} skipped."
    )


AsOfReview = typer.Option(None, "--as-of", help="YYYY-MM-DD: the review's date (today or earlier; today if left out).")
ChunkCustomers = typer.Option(10_000, min=1, max=100_000, help="Customers per committed chunk.")


def _month_option(month: str) -> date:
    """The first day of `--month`, as the API reads a month (`month_first_day`); refused in one line when
    malformed or beyond the days the service keeps."""
    from domain.validation import date_max, date_min, month_first_day

    try:
        return month_first_day(month)
    except (ValueError, DomainError):
        console.print(f"[red]--month must be YYYY-MM, from {date_min:%Y-%m} to {date_max:%Y-%m}[/red]")
        raise typer.Exit(2) from None


def _review_day(as_of: str | None) -> date:
    """The day of a review: today (in the club's zone: read the settings first) when left out; refused in one
    line when malformed or to come."""

    try:
        day = date.fromisoformat(as_of) if as_of else clock.today()
    except ValueError:
        console.print("[red]--as-of must be YYYY-MM-DD[/red]")
        raise typer.Exit(2) from None
    if day > clock.today():
        console.print("[red]--as-of must be today or earlier[/red]")
        raise typer.Exit(2)
    return day


def _carried_out(url: str, make_job: Callable[[], Any], title: str, counted: str) -> Any:
    """The job `make_job` makes (inside, so that its refusals are printed as any other), begun and carried out
    to its end by the API's job runner in this process, with a progress bar advancing by its figure `counted`;
    its run record."""
    from rich.progress import Progress

    from domain.work.jobs import JobRunner

    with Progress(console=console) as progress:
        task = progress.add_task(title, total=None)

        async def main(sessions: async_sessionmaker) -> Any:
            runner = JobRunner(sessions)
            started = await runner.begin(make_job())
            progress.update(task, total=started.record.total)
            return await runner.carry_out(started, progress=lambda added: progress.advance(task, added.get(counted, 0)))

        return run_on_database(url, main)


@app.command("review-grades")
def review_grades(as_of: str = AsOfReview, chunk: int = ChunkCustomers, data_dir: Path = DataDir) -> None:
    """The qualification review [G4]: proposals to admit, upgrade, downgrade or revoke, the automatic kinds
    applied at once. Safe to rerun for the same date (nothing new is proposed); resumes after a stop."""
    from domain.grades import review

    settings = _settings(data_dir)
    day = _review_day(as_of)
    with database(settings) as url:
        job = functools.partial(review.GradeReviewJob, day, settings.grade_policy(), chunk_customers=chunk)
        run = review.GradeReviewRun.of(_carried_out(url, job, f"Grade review as of {day}", "customers"))
    console.print(
        f"{day}: {run.customers:,} customers reviewed, {run.proposals:,} new proposals — {run.admit:,} admit,"
        f" {run.upgrade:,} upgrade, {run.downgrade:,} downgrade ({run.suppressed:,} suppressed by policy,"
        f" {run.in_grace:,} in grace), {run.revoke:,} revoke; {run.applied:,} applied."
    )


@app.command("annual-review")
def annual_review(as_of: str = AsOfReview, chunk: int = ChunkCustomers, data_dir: Path = DataDir) -> None:
    """The annual review [G6]: memberships whose validity ended or that qualify for no grade end (at once, or
    after the grace the settings give); the others are kept, or extended by a year. Once per date."""
    from domain.grades import review

    settings = _settings(data_dir)
    day = _review_day(as_of)
    with database(settings) as url:
        job = functools.partial(review.AnnualReviewJob, day, settings.grade_policy(), chunk_customers=chunk)
        figures = _carried_out(url, job, f"Annual review as of {day}", "members").figures
    counted = {k: int(figures.get(k, 0)) for k in ("members", "extended", "kept", "grace", "ended")}
    console.print(
        f"{day}: {counted['members']:,} members reviewed — {counted['extended']:,} extended by a year,"
        f" {counted['kept']:,} kept, {counted['grace']:,} in grace, {counted['ended']:,} ended."
    )


@app.command("deliver-fulfilments")
def deliver_fulfilments(data_dir: Path = DataDir) -> None:
    """Send what redemptions owe the billing system (bill credit, minutes, content) through the sender."""
    from domain.redemption import fulfilment

    settings = _settings(data_dir)
    with database(settings) as url:

        async def main(sessions: async_sessionmaker) -> tuple[int, int, int]:
            sender = fulfilment.load_fulfilment_sender(settings.fulfilment_sender)
            delivered, failed = await fulfilment.deliver_pending(sessions, sender)
            return delivered, failed, await fulfilment.in_doubt(sessions)

        delivered, failed, doubtful = run_on_database(url, main)
    console.print(
        f"{delivered:,} delivered, {failed:,} given up (retry them with retryFulfilment); {doubtful:,} in doubt"
        " (sent unanswered: retried by the next run, or settled with settleFulfilment once failed)."
    )
    if failed:  # deliveries no run will try again: the cron's exit tells someone
        raise typer.Exit(1)


@app.command()
def backup(
    file: Path = typer.Argument(..., dir_okay=False, help="Where to write the backup (pg_dump's custom format)."),
    data_dir: Path = DataDir,
) -> None:
    """Back the database up into FILE (written whole or not at all)."""
    from loyalty import backup as backups

    with database(_settings(data_dir)) as url, _failing_in_one_line(backups.BackupFailed):
        made = backups.backup(url, file)
    console.print(f"Backed up the database (revision {made.revision}) to {file} ({made.size_bytes:,} bytes).")


@app.command()
def restore(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A backup made by `loyalty backup`."),
    yes: bool = typer.Option(False, "--yes", help="Yes, replace everything in the database with the backup."),
    data_dir: Path = DataDir,
) -> None:
    """Replace the database's contents with a backup's, in one transaction; then check its revision."""
    from loyalty import backup as backups

    if not yes:
        console.print(
            "[red]Restoring replaces everything in the database with the backup: run again with --yes.[/red]",
            soft_wrap=True,
        )
        raise typer.Exit(2)  # a refused argument, as every command's
    with database(_settings(data_dir)) as url, _failing_in_one_line(backups.BackupFailed):
        restored = backups.restore(url, file)
    console.print(f"Restored {file}: the database is at revision {restored.revision}.")
    if restored.problem:
        console.print(f"[yellow]{escape(restored.problem)}[/yellow]", soft_wrap=True, highlight=False)


@contextlib.contextmanager
def _failing_in_one_line(*failures: type[Exception]) -> Iterator[None]:
    try:
        yield
    except failures as failure:
        reason = (
            f"{failure.strerror}: {failure.filename}"
            if isinstance(failure, OSError) and failure.filename
            else str(failure)
        )
        console.print(f"[red]{escape(reason)}[/red]", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None


@app.command("export-audit")
def export_audit(
    file: Path = typer.Argument(..., dir_okay=False, help="Where to write the events (CSV with a header)."),
    start: str = typer.Option(..., "--from", help="YYYY-MM-DD: the first day of the events (the club's time zone)."),
    end: str = typer.Option(..., "--to", help="YYYY-MM-DD: the last day, inclusive."),
    branch: str | None = typer.Option(None, "--branch", help="A branch code: only the events of its subtree."),
    data_dir: Path = DataDir,
) -> None:
    """Write the audit trail's events of a period into FILE as CSV, oldest first, streamed (memory stays flat)."""
    from rich.progress import Progress

    from domain.audit import queries

    try:
        first_day, last_day = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        console.print("[red]--from and --to must be YYYY-MM-DD[/red]")
        raise typer.Exit(2) from None
    with database(_settings(data_dir)) as url, Progress(console=console) as progress:
        task = progress.add_task("Exporting audit events", total=None)
        exported = run_on_database(
            url,
            lambda sessions: queries.export(sessions.kw["bind"], first_day, last_day, file, branch_code=branch,
                                            progress=lambda n: progress.advance(task, n)),
        )  # fmt: skip
    console.print(f"Wrote {exported.events:,} audit events of {first_day} to {last_day} to {file}.")


@app.command("export-schema")
def export_schema(
    output: Path = typer.Option(SCHEMA_PATH, help="Where to write the SDL."),
) -> None:
    """Write the GraphQL schema (SDL) that clients build against."""
    from loyalty.graphql import build_schema

    output.write_text(schema_sdl(build_schema(Settings())))
    console.print(f"Wrote {output}.")


def schema_sdl(schema: Any) -> str:
    return str(schema).rstrip() + "\n"
