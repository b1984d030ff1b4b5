"""Fixtures: one real PostgreSQL per run (embedded, or TEST_DATABASE_URL), migrated once;
every test starts from empty tables plus the demo data set, through the real HTTP app."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import clock
from domain.work import driver
from loyalty import logs, migrate
from loyalty.app import create_app
from loyalty.config import Settings
from loyalty.database import EmbeddedPostgres, make_engine, make_sessions, to_async_url
from loyalty.demo import Demo, load_demo
from tests.api import Api

TEST_DATABASE = "loyalty_test"
KEPT_TABLES = {"grade", "ledger_account", "alembic_version"}  # reference data seeded by migrations


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A URL to the PostgreSQL server's maintenance database."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield to_async_url(external)
        return
    with tempfile.TemporaryDirectory(prefix="loyalty-test-") as folder:
        server = EmbeddedPostgres(Path(folder) / "pgdata")
        try:
            # A throwaway server: durability costs time and protects nothing here.
            server.psql(
                "ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off;"
                " ALTER SYSTEM SET full_page_writes = off; SELECT pg_reload_conf();"
            )
            yield server.url()
        finally:
            server.stop()


async def recreate_database(server_url: str, name: str) -> str:
    engine = make_engine(server_url, pool_size=1)
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
async def engine(server_url: str) -> AsyncIterator[AsyncEngine]:
    url = await recreate_database(server_url, TEST_DATABASE)
    engine = make_engine(url, pool_size=5)
    await migrate.upgrade(engine)
    yield engine
    await engine.dispose()


SUITE_LOG = Path(tempfile.gettempdir()) / f"loyalty-test-log-{os.getpid()}.jsonl"  # read by test_log_secrets.py


@pytest.fixture(scope="session", autouse=True)
def suite_log() -> Iterator[Path]:
    """Every log line of the run, as production writes them (JSON), in one file; the records also reach
    pytest's own capture (`caplog`)."""
    with SUITE_LOG.open("w", encoding="utf-8") as stream:
        logs.configure("INFO", as_json=True, stream=stream, again=True)
        try:
            yield SUITE_LOG
        finally:
            logs.configure("INFO", as_json=True, stream=sys.__stderr__, again=True)  # the servers' shutdown lines
    SUITE_LOG.unlink(missing_ok=True)


@pytest.fixture
def logged(suite_log: Path) -> Callable[[], list[dict]]:
    """The log lines written since the test began, as the JSON objects production writes."""
    start = suite_log.stat().st_size

    def lines() -> list[dict]:
        with suite_log.open("rb") as log:
            log.seek(start)
            return [json.loads(line) for line in log.read().decode().splitlines()]

    return lines


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The log's secrets test reads what the whole run logged: it runs last."""
    last = [item for item in items if item.module.__name__.endswith("test_log_secrets")]
    items[:] = [item for item in items if item not in last] + last


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("data"),
        secret_key="test-signing-key-test-signing-key-0123456789",
        password_time_cost=1,
        password_memory_cost_kib=1024,
    )


@pytest.fixture(scope="session")
def app(settings: Settings, engine: AsyncEngine):
    return create_app(settings, str(engine.url), engine=engine)


@pytest.fixture(scope="session")
async def seeded_grades(engine: AsyncEngine) -> str:
    """The grades as the migrations seed them, as JSON: tests that add, edit or retire grades are undone."""
    async with engine.connect() as connection:
        return await connection.scalar(sa.text("SELECT json_agg(g)::text FROM grade g"))


@pytest.fixture(autouse=False)
async def clean(engine: AsyncEngine, seeded_grades: str) -> None:
    tables = [t for t in (await table_names(engine)) if t not in KEPT_TABLES]
    async with engine.begin() as connection:
        # The audit trail refuses TRUNCATE: only its owner, as here, can lift that for the transaction.
        await connection.execute(sa.text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))
        await connection.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        await connection.execute(sa.text("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only"))
        await connection.execute(sa.text("DELETE FROM grade"))
        await connection.execute(
            sa.text("INSERT INTO grade SELECT * FROM json_populate_recordset(NULL::grade, CAST(:seeded AS json))"),
            {"seeded": seeded_grades},
        )


async def table_names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        return sorted(r[0] for r in rows)


@pytest.fixture
async def demo(clean: None, engine: AsyncEngine) -> Demo:
    async with make_sessions(engine).begin() as session:
        demo = await load_demo(session)
    assert demo is not None
    return demo


@pytest.fixture
async def api(app, engine: AsyncEngine, demo: Demo) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, engine, demo)
    await app.state.services.jobs.stop()  # runs a test started and left are interrupted, as at shutdown


@pytest.fixture
def statements(engine):
    """The SQL statements the app sends while the test runs: through SQLAlchemy, and straight to the driver."""
    counted: list[str] = []

    def count(conn, cursor, statement, *args):
        counted.append(statement)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", count)
    driver.observers.append(counted.append)
    yield counted
    driver.observers.remove(counted.append)
    sa.event.remove(engine.sync_engine, "before_cursor_execute", count)


@pytest.fixture
def prepared_ledger(demo: Demo, engine: AsyncEngine) -> tuple[str, list[int]]:
    """A URL and two members for tests that drive the ledger from their own event loop."""
    return engine.url.render_as_string(hide_password=False), [demo.members["Li Wei"], demo.members["Wang Fang"]]


@pytest.fixture
def today_is(monkeypatch: pytest.MonkeyPatch) -> Callable[[date | None], None]:
    """Move the product's clock: after `today_is(date(2027, 1, 1))` that day is today (noon UTC);
    `today_is(None)` gives back the real time (sessions opened today expire in the future)."""
    real_now = clock.now

    def move(day: date | None) -> None:
        monkeypatch.setattr(clock, "now", real_now if day is None else lambda: datetime.combine(day, time(12), UTC))

    return move
