"""The deploy examples in deploy/: the compose file (checked by `docker compose config` where Docker has compose,
and read here in every case), the proxy, Prometheus, its alert rules and the OpenTelemetry collector's config."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from domain import metrics
from loyalty.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
YAML_FILES = ["compose.yaml", "prometheus.yml", "alerts.yml", "otel-collector.yaml"]
# What an operator puts in deploy/.env (or the environment) before `docker compose up`.
REQUIRED = {
    "POSTGRES_PASSWORD": "pg-password",
    "LOYALTY_APP_DB_PASSWORD": "app-password",
    "LOYALTY_SECRET_KEY": "k" * 48,
    "LOYALTY_METRICS_TOKEN": "scraper",
}
APPS = ["app1", "app2"]


def load(name: str) -> Any:
    return yaml.safe_load((DEPLOY / name).read_text())


_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolated(value: Any, env: dict[str, str]) -> Any:
    """A compose file's values with its `${VAR}`, `${VAR:-default}` and `${VAR:?error}` filled from `env`, as
    `docker compose` does; a missing required variable raises with the compose file's message."""
    if isinstance(value, dict):
        return {key: interpolated(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolated(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def fill(match: re.Match) -> str:
        if match[0] == "$$":
            return "$"
        name, kind, rest = match[1], match[2] or "", match[3] or ""
        if env.get(name):
            return env[name]
        if kind.endswith("?"):
            raise LookupError(f"{name}: {rest}")
        return rest if kind.endswith("-") else ""

    return _VARIABLE.sub(fill, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return interpolated(load("compose.yaml"), REQUIRED)


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    given = service.get("environment") or {}
    if isinstance(given, list):
        given = dict(item.split("=", 1) for item in given)
    return {key: str(value) for key, value in given.items()}


def mounts_of(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, created when missing) of a service's volumes; a named volume's source has no slash."""
    found = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
            found.append((source, target, False))
        else:
            created = bool((volume.get("bind") or {}).get("create_host_path"))
            found.append((volume["source"], volume["target"], created))
    return found


def test_every_deploy_file_parses():
    # given the deploy examples, when each is read, then it is YAML of a mapping
    for name in YAML_FILES:
        assert isinstance(load(name), dict), name
    # and nginx's configuration closes every block it opens
    nginx = (DEPLOY / "nginx.conf").read_text()
    code = "\n".join(line.split("#", 1)[0] for line in nginx.splitlines())
    assert code.count("{") == code.count("}") > 0


def docker_compose() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, check=False)
    return docker if probe.returncode == 0 else None


@pytest.mark.skipif(docker_compose() is None, reason="Docker with its compose plugin is not installed")
def test_docker_compose_accepts_the_file_and_names_what_is_missing():
    docker = docker_compose()
    command = [docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "-q"]
    base = {k: v for k, v in os.environ.items() if k not in REQUIRED}
    # given the required variables, when compose reads the file, then it finds nothing wrong
    checked = subprocess.run(command, env=base | REQUIRED, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    # given no secret key, then it stops and says which variable is missing
    missing = subprocess.run(command, env=base | REQUIRED | {"LOYALTY_SECRET_KEY": ""}, capture_output=True,
                             text=True, check=False)  # fmt: skip
    assert missing.returncode != 0 and "LOYALTY_SECRET_KEY" in missing.stderr


def test_a_missing_secret_stops_compose_with_the_variables_name():
    # given no LOYALTY_SECRET_KEY, when the file is interpolated, then it stops and names it
    with pytest.raises(LookupError, match="LOYALTY_SECRET_KEY"):
        interpolated(load("compose.yaml"), {k: v for k, v in REQUIRED.items() if k != "LOYALTY_SECRET_KEY"})


def test_compose_runs_the_database_a_migration_two_apps_a_proxy_prometheus_and_a_collector(compose):
    services = compose["services"]
    assert {"postgres", "migrate", *APPS, "proxy", "prometheus", "otel-collector"} <= set(services)
    # PostgreSQL 17 keeps its data in a volume and says when it is ready
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:17")
    assert any(target == "/var/lib/postgresql/data" and source in compose["volumes"]
               for source, target, _ in mounts_of(postgres))  # fmt: skip
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    # the migration runs once, when the database is healthy, and the apps wait for it to succeed
    assert services["migrate"]["command"] == ["loyalty", "migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in APPS:
        app = services[name]
        assert app["command"] == ["loyalty", "serve", "--workers", "2"]
        assert (DEPLOY / app["build"]["context"] / app["build"]["dockerfile"]).resolve() == ROOT / "Dockerfile"
        assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # the proxy waits for both apps to be ready
    assert set(services["proxy"]["depends_on"]) == set(APPS)
    assert services["proxy"]["image"].startswith("nginx")


def test_every_dependency_names_a_service_and_every_mounted_file_exists(compose):
    services = compose["services"]
    for name, service in services.items():
        for needed in service.get("depends_on") or []:
            assert needed in services, f"{name} depends on {needed}, which is no service"
        for source, _, created in mounts_of(service):
            if "/" in source and not created:  # a file or folder of deploy/, not a named volume
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which is not in deploy/"
            elif "/" not in source:
                assert source in compose["volumes"], f"{name} mounts the undeclared volume {source}"
        for network in service.get("networks") or []:
            assert network in compose["networks"], f"{name} is on the undeclared network {network}"


def test_the_apps_are_configured_only_by_settings_that_exist(compose, monkeypatch):
    known = {f"LOYALTY_{name.upper()}" for name in Settings.model_fields} | {"DATABASE_URL"}
    edge = ipaddress.ip_network(compose["networks"]["edge"]["ipam"]["config"][0]["subnet"])
    for name in [*APPS, "migrate", "ops"]:
        environment = environment_of(compose["services"][name])
        # given each variable the service is given, then it is a setting of the service, or OpenTelemetry's
        unknown = {v for v in environment if v not in known and not v.startswith("OTEL_")}
        assert not unknown, f"{name}: {unknown} are no settings of loyalty.config.Settings"
        # and the service's settings accept the values
        for variable in [v for v in os.environ if v.startswith("LOYALTY_") or v == "DATABASE_URL"]:
            monkeypatch.delenv(variable)
        for variable, value in environment.items():
            monkeypatch.setenv(variable, value)
        settings = Settings(_env_file=None)
        # the apps as their own role, which owns nothing; the migration and the operator's commands as the owner
        user = "loyalty_app:app-password" if name in APPS else "loyalty:pg-password"
        assert settings.database_url.startswith(f"postgresql://{user}@postgres:5432/")
        if name in APPS:
            # the apps run in production, behind the proxy of the edge network, and report to the collector
            assert settings.production and settings.signing_key == REQUIRED["LOYALTY_SECRET_KEY"]
            assert settings.metrics_token == REQUIRED["LOYALTY_METRICS_TOKEN"]
            assert [ipaddress.ip_network(n) for n in settings.trusted_proxies] == [edge]
            assert (
                "edge" in compose["services"][name]["networks"] and "edge" in compose["services"]["proxy"]["networks"]
            )
            assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
            assert environment["OTEL_SERVICE_NAME"]


def container_file(service: dict[str, Any], compose: dict[str, Any], path: str) -> Path | str:
    """What a path inside a service's container is: a file of deploy/ it mounts, or the secret it is given."""
    for source, target, _ in mounts_of(service):
        if target == path:
            return (DEPLOY / source).resolve()
    for secret in service.get("secrets") or []:
        if path == f"/run/secrets/{secret}":
            return compose["secrets"][secret]["environment"]
    raise AssertionError(f"{path} is not mounted in the container")


def test_prometheus_scrapes_both_apps_with_the_token_and_loads_the_alerts(compose):
    prometheus = load("prometheus.yml")
    service = compose["services"]["prometheus"]
    # given its scrape jobs, then one reads both apps' /metrics, sending the metrics token
    (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "loyalty"]
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert sorted(targets) == [f"{app}:8000" for app in APPS]
    assert job.get("metrics_path", "/metrics") == "/metrics" and job["authorization"]["type"] == "Bearer"
    assert container_file(service, compose, job["authorization"]["credentials_file"]) == "LOYALTY_METRICS_TOKEN"
    # and it is on a network with the apps
    for app in APPS:
        assert set(service["networks"]) & set(compose["services"][app]["networks"])
    # and its rule files are deploy/alerts.yml
    assert [container_file(service, compose, f) for f in prometheus["rule_files"]] == [DEPLOY / "alerts.yml"]
    assert container_file(service, compose, "/etc/prometheus/prometheus.yml") == DEPLOY / "prometheus.yml"


def test_the_collector_receives_otlp_over_http_and_batches_traces_to_the_debug_exporter(compose):
    collector = load("otel-collector.yaml")
    assert collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    traces = collector["service"]["pipelines"]["traces"]
    assert traces == {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["debug"]}
    assert set(traces["processors"]) <= set(collector["processors"])
    assert set(traces["exporters"]) <= set(collector["exporters"])
    service = compose["services"]["otel-collector"]
    config = next(a.split("=", 1)[1] for a in service["command"] if a.startswith("--config="))
    assert container_file(service, compose, config) == DEPLOY / "otel-collector.yaml"


def test_the_proxy_balances_both_apps_names_requests_and_keeps_metrics_inside():
    nginx = (DEPLOY / "nginx.conf").read_text()
    upstream = re.search(r"upstream loyalty \{(.*?)\}", nginx, re.S)[1]
    assert re.findall(r"server (\w+):8000", upstream) == APPS
    # the id and the client are always the proxy's own, never what the client sent
    assert re.search(r"proxy_set_header X-Request-ID \$request_id;", nginx)
    assert re.search(r"proxy_set_header X-Forwarded-For \$remote_addr;", nginx)
    assert re.search(r"location \^~ /metrics \{\s*return 404;\s*\}", nginx)


def prometheus_names() -> dict[str, set[str]]:
    """Every series name Prometheus shows for the metrics of domain/metrics.py, with the labels it has."""
    suffixes = {"counter": ["_total", "_created"], "histogram": ["_bucket", "_sum", "_count", "_created"],
                "gauge": [""]}  # fmt: skip
    names = {}
    for metric in vars(metrics).values():
        if isinstance(metric, MetricWrapperBase):
            (family,) = metric.describe()
            for suffix in suffixes[family.type]:
                labels = set(metric._labelnames) | ({"le"} if suffix == "_bucket" else set())
                names[family.name + suffix] = labels | {"instance", "job"}
    return names


def headings(markdown: str) -> set[str]:
    """The anchors of a Markdown file's headings, as GitHub makes them."""
    found, fenced = set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"#{1,6} (.+)", line)):
            found.add(re.sub(r"[^\w\- ]", "", match[1].strip().lower()).replace(" ", "-"))
    return found


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load("alerts.yml")["groups"] for rule in group["rules"]]


def test_every_alert_has_a_severity_a_summary_and_a_runbook_section_that_exists():
    anchors = headings((ROOT / "docs" / "operations.md").read_text())
    rules = alert_rules()
    assert len(rules) >= 8 and len({r["alert"] for r in rules}) == len(rules)
    for rule in rules:
        assert rule["expr"].strip() and re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], rule["alert"]
        page, _, anchor = annotations["runbook"].partition("#")
        assert page == "docs/operations.md" and anchor in anchors, f"{rule['alert']}: no section #{anchor}"


def test_every_alert_reads_metrics_that_exist_with_their_labels():
    names = prometheus_names()
    read = set()
    for rule in alert_rules():
        expr = rule["expr"]
        for name in re.findall(r"\bloyalty_\w+", expr):
            assert name in names, f"{rule['alert']}: {name} is no metric of domain/metrics.py"
            read.add(name)
        for name, selector in re.findall(r"\b(loyalty_\w+)\{([^}]*)\}", expr):
            labels = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector))
            assert labels <= names[name], f"{rule['alert']}: {name} has no label {labels - names[name]}"
    # and the alerts the runbook promises are there: errors, latency, the pool, the jobs, logins, PINs, throttles
    expected = {"loyalty_request_duration_seconds_count", "loyalty_request_duration_seconds_bucket",
                "loyalty_db_pool_waiting", "loyalty_db_pool_in_use", "loyalty_db_pool_capacity",
                "loyalty_job_runs_total", "loyalty_login_failures_total", "loyalty_pin_failures_total",
                "loyalty_throttled_total"}  # fmt: skip
    assert expected <= read
    assert any(rule["expr"].strip().startswith("up{") for rule in alert_rules())
