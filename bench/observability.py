"""What logging, metrics and tracing cost a request: `{ __typename }` and `me` on one server, in turns.

Run: `uv run python bench/observability.py [--seconds 10] [--connections 16] [--rounds 2]`.

Each configuration is served in turn, `--rounds` times over, so that the machine's drift falls on all
of them alike:
- `quiet`: log level WARNING (no request lines), tracing off: what the metrics alone cost;
- `production`: production's logging (a JSON line per request at INFO), tracing off;
- `traced`: production's logging, and tracing on, exporting every request's spans over OTLP/HTTP to
  a collector in this process that accepts and drops them;
- `sampled`: the same, tracing one request in twenty (the deploy example's sampler).
The figures are each configuration's requests per second and its ratio to `quiet`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.api import QUERIES, seed
from bench.common import ROOT, database, free_port, login, served, wrk

MEASURED = ("trivial", "me")
CONFIGURATIONS = {
    "quiet": {"LOYALTY_LOG_LEVEL": "WARNING"},
    "production": {"LOYALTY_LOG_LEVEL": "INFO", "LOYALTY_LOG_FORMAT": "json"},
    "traced": {"LOYALTY_LOG_LEVEL": "INFO", "LOYALTY_LOG_FORMAT": "json", "OTEL_EXPORTER_OTLP_ENDPOINT": None},
    "sampled": {
        "LOYALTY_LOG_LEVEL": "INFO",
        "LOYALTY_LOG_FORMAT": "json",
        "OTEL_EXPORTER_OTLP_ENDPOINT": None,
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.05",
    },
}


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that takes every export and keeps nothing (an empty answer is a valid one)."""

    spans_bytes = 0

    def do_POST(self) -> None:
        _Collector.spans_bytes += len(self.rfile.read(int(self.headers.get("content-length", 0))))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def collector() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextlib.contextmanager
def environment(changes: dict[str, str | None], endpoint: str) -> Iterator[None]:
    saved = dict(os.environ)
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"):
        os.environ.pop(name, None)
    os.environ.update({name: value or endpoint for name, value in changes.items()})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def measure(url: str, seconds: int, connections: int) -> dict[str, float]:
    with served(url, 1, connections) as endpoint:
        tokens = {"member": login(endpoint, "MEMBER", "13800000001")}
        rates = {}
        for name in MEASURED:
            query, who = QUERIES[name]
            wrk(endpoint, query, tokens.get(who), 2, connections)  # warm-up
            rates[name] = wrk(endpoint, query, tokens.get(who), seconds, connections)["requests_per_second"]
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--members", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in CONFIGURATIONS}
    loads = []
    with database() as url, collector() as endpoint:
        asyncio.run(seed(url, args.members))
        for _ in range(args.rounds):
            for name, changes in CONFIGURATIONS.items():
                with environment(changes, endpoint):
                    runs[name].append(measure(url, args.seconds, args.connections))
                loads.append(os.getloadavg()[0])
    rates = {c: {q: statistics.median(r[q] for r in runs[c]) for q in MEASURED} for c in CONFIGURATIONS}
    print(f"\nload average {min(loads):.2f}–{max(loads):.2f}; spans exported: {_Collector.spans_bytes:,} bytes")
    print(f"{'configuration':<14}" + "".join(f"{q + ' req/s':>14}{'vs quiet':>10}" for q in MEASURED))
    for configuration, by_query in rates.items():
        cells = "".join(f"{by_query[q]:>14.0f}{by_query[q] / rates['quiet'][q]:>10.3f}" for q in MEASURED)
        print(f"{configuration:<14}{cells}")
    print("me / trivial: " + ", ".join(f"{c} {r['me'] / r['trivial']:.3f}" for c, r in rates.items()))
    record = {
        "when": datetime.now(UTC).isoformat(),
        "machine": platform.machine(),
        "args": vars(args),
        "load_average": [min(loads), max(loads)],
        "runs": runs,
        "medians": rates,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "observability.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
