"""`loyalty serve --workers N`: N server processes on one port, each accepting its own connections.

Each worker listens on a socket of its own, bound to the same address with `SO_REUSEPORT`, so
the kernel spreads new connections evenly across the workers. (With one shared listening
socket, whichever process wakes first accepts a burst of connections: a client that opens its
keep-alive connections at once lands them all on one worker, and the other core idles.) Each
listening socket has `TCP_NODELAY`, which the connections it accepts inherit: a small answer
is sent at once instead of waiting for the client's delayed acknowledgement.

The parent checks that no other server holds the port, starts the workers, restarts one that
dies (backing off, and giving up with an error when they keep dying right after they start),
and on SIGTERM or SIGINT stops them all and waits for each to finish its requests. A worker
whose parent is gone (killed, out of memory) stops too. Each worker builds the app from the environment the
parent set (`loyalty.app.app_from_environment`): its own pool, the database the parent started.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("loyalty.workers")

stop_seconds_max = 30  # a worker still finishing requests after this is killed
watch_seconds = 0.5  # how often the parent looks for a worker that died, and a worker for its parent
quick_death_seconds = 10.0  # a worker that stops sooner after its start died "quickly"
quick_deaths_max = 5  # that many quick deaths within the window: the parent gives up
quick_death_window_seconds = 60.0


class WorkersFailing(Exception):
    """Workers keep stopping right after they start: serving is given up."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port) that the other workers bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def server_options(log_level: str) -> dict[str, Any]:
    """How uvicorn runs the app: its log records go through the service's pipeline (`loyalty.logs`), whose
    request line, written by the app, replaces uvicorn's access line; the app itself reads the trusted
    proxies' headers (`loyalty.app.Edge`)."""
    return {"log_config": None, "log_level": log_level.lower(), "access_log": False, "proxy_headers": False}


@contextlib.contextmanager
def shared_metrics() -> Iterator[str]:
    """The directory through which the workers share their metrics: the operator's own (emptied, as the
    values of an earlier run would count again), or a fresh one, removed when serving ends."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        with tempfile.TemporaryDirectory(prefix="loyalty-metrics-") as fresh:
            yield fresh
        return
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))
    yield folder


def _work(host: str, port: int, log_level: str, parent: int) -> None:
    """One worker: its own listening socket, one uvicorn server on it, stopped when the parent is gone."""
    import uvicorn

    _stop_when_orphaned(parent)
    config = uvicorn.Config("loyalty.app:app_from_environment", factory=True, **server_options(log_level))
    uvicorn.Server(config).run(sockets=[listening_socket(host, port)])


def _stop_when_orphaned(parent: int) -> None:
    """A worker whose parent died (killed, out of memory) stops serving instead of living on alone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(watch_seconds)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _check_port_free(host: str, port: int) -> None:
    """Refuse to start beside another server on the port: a plain bind fails where a shared one would not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise WorkersFailing(f"port {port} on {host} is not free ({error.strerror})") from None


def serve(count: int, host: str, port: int, log_level: str) -> None:
    """Run `count` workers until SIGTERM or SIGINT (raised here as SystemExit by the caller's handlers).

    A worker that dies is started again; when workers keep dying within seconds of starting (the
    database unreachable, a broken release), the parent stops them all and exits with an error.
    """
    _check_port_free(host, port)
    context = multiprocessing.get_context("spawn")
    quick_deaths: list[float] = []
    workers: list[BaseProcess] = []

    def start() -> BaseProcess:
        worker = context.Process(target=_work, args=(host, port, log_level, os.getpid()), name="loyalty-worker")
        worker.start()
        started_at[worker] = time.monotonic()
        return worker

    started_at: dict[BaseProcess, float] = {}
    try:
        workers.extend(start() for _ in range(count))
        while True:
            time.sleep(watch_seconds)
            for index, worker in enumerate(workers):
                if worker.is_alive():
                    continue
                now = time.monotonic()
                if now - started_at.pop(worker) < quick_death_seconds:
                    quick_deaths.append(now)
                    quick_deaths[:] = [t for t in quick_deaths if now - t < quick_death_window_seconds]
                    if len(quick_deaths) >= quick_deaths_max:
                        raise WorkersFailing(f"{len(quick_deaths)} workers stopped right after they started")
                log.warning("worker %s stopped (exit code %s); starting another", worker.pid, worker.exitcode)
                _forget_metrics_of(worker.pid)
                time.sleep(min(len(quick_deaths), 10) * watch_seconds)  # back off while they keep dying
                workers[index] = start()
    finally:
        _stop(workers)


def _forget_metrics_of(pid: int | None) -> None:
    """A dead worker's gauges (connections in use) no longer count; its counters still do."""
    if pid is not None and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def _stop(workers: list[BaseProcess]) -> None:
    # A second SIGTERM or Ctrl-C must not cut the stopping short and leave workers behind.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for worker in workers:
        if worker.is_alive() and worker.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGTERM)
    deadline = time.monotonic() + stop_seconds_max
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            worker.kill()
            worker.join()
