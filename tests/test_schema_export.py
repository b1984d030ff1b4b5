"""The committed SDL is the API contract: it must match the code."""

from __future__ import annotations

from loyalty.cli import SCHEMA_PATH, schema_sdl
from loyalty.config import Settings
from loyalty.graphql import build_schema


def test_committed_schema_is_current():
    current = schema_sdl(build_schema(Settings(_env_file=None)))
    assert SCHEMA_PATH.read_text() == current, "schema/schema.graphql is stale: run `uv run loyalty export-schema`"


def test_production_mode_turns_off_introspection_and_suggestions():
    schema = build_schema(Settings(_env_file=None, environment="production", secret_key="k" * 40))
    result = schema.execute_sync("{ __schema { types { name } } }")
    assert result.errors and "introspection" in result.errors[0].message.lower()
    typo = schema.execute_sync("{ grade { code } }")
    assert typo.errors and "Did you mean" not in typo.errors[0].message
