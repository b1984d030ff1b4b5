"""The service's metrics, in Prometheus' terms (served at `GET /metrics`, docs/operations.md "Metrics").

Every metric is defined here, once, so that the alert rules (`deploy/alerts.yml`), the runbook and the
code name the same things. Labels take values from closed sets only (operation names of the schema,
error codes, entry types, channels, job kinds): a client can never add a series.

With `loyalty serve --workers N` the workers share their values through files in the directory named
by `PROMETHEUS_MULTIPROC_DIR`, which the serving parent sets before any worker imports this module.
"""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import Counter, Gauge, Histogram


@functools.lru_cache(maxsize=4_096)  # label values come from closed sets (above): the series are few
def series(metric: Any, *values: str) -> Any:
    """The series of `metric` for these label values, looked up once per process (`labels` takes a lock and
    builds its key on every call, and the hot paths count on every request)."""
    return metric.labels(*values)


# Latency buckets, in seconds, around what a request of this service takes (milliseconds) and its alerts.
REQUEST_BUCKETS_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_SECONDS = Histogram(
    "loyalty_request_duration_seconds",
    "Requests served and how long each took, by operation ('query me', 'mutation adjustPoints', "
    "'GET /healthz') and outcome (ok, refused, error, internal). Its _count is the request count.",
    ["operation", "outcome"],
    buckets=REQUEST_BUCKETS_SECONDS,
)
GRAPHQL_ERRORS = Counter(
    "loyalty_graphql_errors",
    "Errors in the `errors` of GraphQL answers, by code (INTERNAL is a fault of ours).",
    ["code"],
)
REFUSALS = Counter(
    "loyalty_refusals",
    "Business refusals answered in a mutation's payload `errors`, by operation and code.",
    ["operation", "code"],
)
POOL_IN_USE = Gauge(
    "loyalty_db_pool_in_use",
    "Database connections checked out of the pools right now.",
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "loyalty_db_pool_waiting",
    "Requests waiting for a database connection of the pools right now.",
    multiprocess_mode="livesum",
)
POOL_CAPACITY = Gauge(
    "loyalty_db_pool_capacity",
    "Database connections the pools may open (both pools of every worker).",
    multiprocess_mode="livesum",
)
POINTS_MOVED = Counter(
    "loyalty_points_moved",
    "Points moved through the ledger by requests, by entry type (the amount without its sign).",
    ["entry_type"],
)
REDEMPTIONS = Counter("loyalty_redemptions", "Redemptions made, by channel.", ["channel"])
JOB_RUNS = Counter("loyalty_job_runs", "Background runs that ended, by kind and state.", ["kind", "state"])
# Read from the database when the metrics are read (`domain.work.jobs.left_interrupted`): whichever process
# stopped (or died) leaving a run, the next scrape of any worker sees it; the most recent worker's reading wins.
JOB_RUNS_LEFT_INTERRUPTED = Gauge(
    "loyalty_job_runs_left_interrupted",
    "Runs that stopped before their end and that no later run of their kind and subject followed, by kind.",
    ["kind"],
    multiprocess_mode="mostrecent",
)
JOB_FIGURES = Counter(
    "loyalty_job_figures",
    "What background runs did (bills accrued, members reviewed, …), by kind and figure.",
    ["kind", "figure"],
)
LOGIN_FAILURES = Counter("loyalty_login_failures", "Refused logins, by reason (error code).", ["reason"])
PIN_FAILURES = Counter("loyalty_pin_failures", "Wrong card PINs entered.")
CREDENTIALS_REFUSED = Counter(
    "loyalty_credentials_refused",
    "Requests whose credential was refused (each ran as an anonymous caller's), by kind (token, partner_key,"
    " malformed) and reason (error code).",
    ["kind", "reason"],
)
THROTTLED = Counter(
    "loyalty_throttled",
    "Requests refused because their account or card is locked after too many failures, by what.",
    ["what"],
)
