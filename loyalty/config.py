"""Settings from the environment (prefix LOYALTY_, plus DATABASE_URL) or a .env file."""

from __future__ import annotations

import difflib
import importlib
import inspect
import secrets
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain import clock
from domain.auth.principals import Principals
from domain.auth.principals import seconds_max as principals_seconds_max
from domain.auth.service import AuthPolicy
from domain.cards.common import CardPolicy
from domain.grades.review import DowngradePolicy, GradePolicy
from domain.grades.tables import ProposalKind
from domain.redemption.redeem import RedemptionPolicy

secret_key_length_min = 32  # in production: a key anyone could guess signs tokens anyone could make


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOYALTY_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "LOYALTY_DATABASE_URL")
    )
    data_dir: Path = Field(default_factory=lambda: platformdirs.user_data_path("loyalty-club"))
    secret_key: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65_535)

    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=300, le=365 * 86_400)
    login_failures_max: int = Field(default=5, ge=1, le=100)
    login_lock_seconds: int = Field(default=900, ge=1, le=86_400)
    login_failures_ceiling: int = Field(default=20, ge=1, le=10_000)
    login_address_failures_max: int = Field(default=100, ge=1, le=1_000_000)

    # How long a process may remember a session's principal (0: never), while it hears of every change of
    # sessions, people and partner keys (`domain/auth/principals.py`, docs/operations.md "Sessions").
    principal_cache_seconds: float = Field(default=5.0, ge=0, le=principals_seconds_max)

    # Who runs the command line's commands, as the audit trail names them (`create-staff`): the host's user
    # when not set (under sudo, the user who called it), which in a container is the image's.
    operator: str | None = Field(default=None, min_length=1, max_length=40)

    card_failures_max: int = Field(default=5, ge=1, le=100)
    card_lock_seconds: int = Field(default=1_800, ge=1, le=86_400)
    card_presenter_cards_max: int = Field(default=10, ge=1, le=10_000)

    # The club's time zone (IANA): every business day — today in each check, a redemption's day, the month a
    # limit counts in, the day points expire, the days of a period asked for — is a day in this zone.
    time_zone: str = clock.zone_default
    expiry_warning_days: int = Field(default=30, ge=1, le=366)
    notification_sender: str = "log"  # or "package.module:ClassName"
    fulfilment_sender: str = "log"  # or "package.module:ClassName": the billing system's gateway
    redemption_cancellation_days: int = Field(default=7, ge=0, le=366)
    # The qualification review [G4]: the proposal kinds applied without a reviewer, and downgrades.
    grade_automatic_kinds: list[ProposalKind] = Field(default_factory=lambda: [ProposalKind.UPGRADE])
    grade_downgrades: DowngradePolicy = DowngradePolicy.NOT_APPLIED
    grade_downgrade_grace_months: int = Field(default=3, ge=0, le=24)
    # The annual review [G6]: 0 ends a membership at once; otherwise it is in GRACE this many months first.
    grade_annual_grace_months: int = Field(default=0, ge=0, le=24)
    grade_ended_points_kept_days: int = Field(default=180, ge=0, le=3_650)

    password_time_cost: int = Field(default=3, ge=1, le=20)
    password_memory_cost_kib: int = Field(default=65_536, ge=8, le=1_048_576)

    query_depth_max: int = Field(default=10, ge=3, le=50)
    query_aliases_max: int = Field(default=15, ge=1, le=200)
    query_tokens_max: int = Field(default=2_000, ge=100, le=100_000)
    # The document's length before it is parsed, comments and spaces included: what bounds the parser's
    # time on any document the service accepts (docs/operations.md, "Limits").
    query_length_max: int = Field(default=20_000, ge=1_000, le=1_000_000)
    # A request body is read up to this size; a larger one is answered 413 before the rest is read.
    request_body_max_bytes: int = Field(default=1_048_576, ge=10_000, le=100_000_000)
    # At least the requests one process has in flight: a smaller pool opens and closes a connection
    # for every request above it (docs/operations.md).
    database_pool_size: int = Field(default=16, ge=1, le=200)
    # The statements one process sends alone at once (authentication, the one-statement writes, `me`, the
    # loaders' batches; the requests over it wait their turn): the pool's size unless set. A few per core of
    # the database's machine over all processes serves a busy database best (docs/operations.md).
    database_statement_pool_size: int | None = Field(default=None, ge=1, le=200)
    # How long a request waits for a connection for statements sent alone before it is answered 503 UNAVAILABLE
    # ("try again shortly"), rather than queueing without end behind a burst; a transaction waits at most 30 s
    # (docs/operations.md).
    database_pool_wait_seconds: float = Field(default=5.0, gt=0, le=60)
    # A transaction of the service's left idle this long (a request stuck between its statements) is ended by
    # PostgreSQL, and the locks it held given back (docs/operations.md).
    database_idle_in_transaction_seconds: int = Field(default=60, ge=1, le=3_600)
    log_level: str = "INFO"
    # Log lines as JSON, one object per line (production's default), or readable (development's).
    log_format: Literal["json", "console"] | None = None
    # The reverse proxies in front of the service (addresses or networks): only their `X-Request-ID` and
    # `X-Forwarded-For` are believed. Anyone else's request gets an id of the service's own.
    trusted_proxies: list[str] = Field(default_factory=list)
    # Who may read `GET /metrics`: a client from these addresses or networks, or one that sends
    # `Authorization: Bearer <metrics_token>`. Everyone else is answered 404.
    metrics_networks: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    metrics_token: str | None = None

    @field_validator("notification_sender", "fulfilment_sender")
    @classmethod
    def _known_sender(cls, spec: str) -> str:
        """`log`, or a class with an async `send`: checked when the settings are read, so that a name mistyped
        stops every command and the server at once instead of failing each message until it is given up."""
        if spec == "log":
            return spec
        module, _, name = spec.partition(":")
        try:
            found = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError, ValueError):
            raise ValueError(f"{spec!r} names no class: give package.module:ClassName, or log") from None
        if not (inspect.isclass(found) and inspect.iscoroutinefunction(getattr(found, "send", None))):
            raise ValueError(f"{spec!r} is no class with an async send(…)")
        return spec

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, name: str) -> str:
        if name.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"{name!r} is no log level; give DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return name.upper()

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(f"{name!r} is no time zone; give one such as Asia/Shanghai") from None
        return name

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def logs_as_json(self) -> bool:
        return (self.log_format or ("json" if self.production else "console")) == "json"

    @property
    def pgdata_dir(self) -> Path:
        return self.data_dir / "pgdata"

    @cached_property
    def signing_key(self) -> str:
        """The token signing key: required in production, kept in the data folder otherwise."""
        if self.production and len(self.secret_key or "") < secret_key_length_min:
            raise RuntimeError(
                f"LOYALTY_SECRET_KEY must be set in production, of {secret_key_length_min} characters at least"
                " (e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')."
            )
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()

    def connections_max(self, workers: int) -> int:
        """The connections `workers` processes may open at once (docs/operations.md, "Connections"): each its
        engine pool and its overflow, its statement pool, and the one that listens for sessions' changes."""
        statements = self.database_statement_pool_size or self.database_pool_size
        return workers * (2 * self.database_pool_size + statements + 1)

    def card_policy(self) -> CardPolicy:
        return CardPolicy(
            failures_max=self.card_failures_max,
            lock_seconds=self.card_lock_seconds,
            presenter_cards_max=self.card_presenter_cards_max,
        )

    def auth_policy(self) -> AuthPolicy:
        return AuthPolicy(
            secret_key=self.signing_key,
            access_token_ttl_seconds=self.access_token_ttl_seconds,
            refresh_token_ttl_seconds=self.refresh_token_ttl_seconds,
            login_failures_max=self.login_failures_max,
            login_lock_seconds=self.login_lock_seconds,
            login_failures_ceiling=self.login_failures_ceiling,
            login_address_failures_max=self.login_address_failures_max,
            principals=Principals(self.principal_cache_seconds),
        )

    def redemption_policy(self) -> RedemptionPolicy:
        return RedemptionPolicy(cancellation_days=self.redemption_cancellation_days)

    def grade_policy(self) -> GradePolicy:
        return GradePolicy(automatic=frozenset(self.grade_automatic_kinds), downgrades=self.grade_downgrades,
                           downgrade_grace_months=self.grade_downgrade_grace_months,
                           annual_grace_months=self.grade_annual_grace_months,
                           ended_points_kept_days=self.grade_ended_points_kept_days)  # fmt: skip

    def policies(self) -> tuple[object, ...]:
        """Every area's settings, for the units of work of the app and the command line."""
        return (self.auth_policy(), self.card_policy(), self.redemption_policy(), self.grade_policy())


# Variables of a deployment that share the prefix and are no setting of the service (the database role's
# password the compose example gives its initialisation script).
_NOT_SETTINGS = frozenset({"LOYALTY_APP_DB_PASSWORD"})


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A line for each `LOYALTY_` variable that is no setting, naming the setting it looks like: a misspelt
    one is otherwise ignored without a word, and its setting keeps its default."""
    settings = {f"LOYALTY_{name.upper()}" for name in Settings.model_fields}
    lines = []
    for variable in sorted(environ):
        name = variable.upper()
        if not name.startswith("LOYALTY_") or name in settings or name in _NOT_SETTINGS:
            continue
        like = difflib.get_close_matches(name, settings, n=1, cutoff=0.8)
        meant = f" (did you mean {like[0]}?)" if like else ""
        lines.append(f"{variable} is not a setting{meant}: it is ignored.")
    return lines
