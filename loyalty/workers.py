"""`loyalty serve --workers N`: N server processes on one port, each accepting its own connections.

Each worker listens on a socket of its own, bound to the same address with `SO_REUSEPORT`, so
the kernel spreads new connections evenly across the workers. (With one shared listening
socket, whichever process wakes first accepts a burst of connections: a client that opens its
keep-alive connections at once lands them all on one worker, and the other core idles.) Each
listening socket has `TCP_NODELAY`, which the connections it accepts inherit: a small answer
is sent at once instead of waiting for the client's delayed acknowledgement.

The parent starts the workers, restarts one that dies, and on SIGTERM or SIGINT stops them all
and waits for each to finish its requests. Each worker builds the app from the environment the
parent set (`loyalty.app.app_from_environment`): its own pool, the database the parent started.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import time
from multiprocessing.process import BaseProcess

log = logging.getLogger("loyalty.workers")

stop_seconds_max = 30  # a worker still finishing requests after this is killed
watch_seconds = 0.5  # how often the parent looks for a worker that died


def listening_socket(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """A TCP socket bound to (host, port) that other workers may bind too; listening unless told not to."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(2048)
    return sock


def _work(host: str, port: int, log_level: str) -> None:
    """One worker: its own listening socket, one uvicorn server on it."""
    import uvicorn

    config = uvicorn.Config("loyalty.app:app_from_environment", factory=True, log_level=log_level)
    uvicorn.Server(config).run(sockets=[listening_socket(host, port)])


def serve(count: int, host: str, port: int, log_level: str) -> None:
    """Run `count` workers until SIGTERM or SIGINT (raised here as SystemExit by the caller's handlers)."""
    context = multiprocessing.get_context("spawn")
    # Bound, not listening: the port is checked (a clear error if it is taken) and kept for the workers.
    with listening_socket(host, port, listen=False):

        def start() -> BaseProcess:
            worker = context.Process(target=_work, args=(host, port, log_level), name="loyalty-worker")
            worker.start()
            return worker

        workers = [start() for _ in range(count)]
        try:
            while True:
                time.sleep(watch_seconds)
                for index, worker in enumerate(workers):
                    if not worker.is_alive():
                        log.warning("worker %s stopped (exit code %s); starting another", worker.pid, worker.exitcode)
                        workers[index] = start()
        finally:
            _stop(workers)


def _stop(workers: list[BaseProcess]) -> None:
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
