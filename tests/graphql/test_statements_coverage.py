"""Every mutation and every list field of the API has its statement count in exactly one area's file.

The per-area files `tests/graphql/test_statements_<area>.py` are found by name, not listed here, so a
new area needs no change here; a new mutation or list field fails until its count is recorded.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from pathlib import Path

import graphql

from loyalty.config import Settings
from loyalty.graphql import build_schema

PREFIX = "test_statements_"
NOT_COUNTED_TYPES = {"Query", "Mutation", "PageInfo", "UserError"}  # roots are listed apart; the rest hold no list


def area_counts() -> dict[str, dict[str, int]]:
    """Each area module's `STATEMENTS`, by module name."""
    folder = Path(__file__).parent
    found = {}
    for module in pkgutil.iter_modules([str(folder)]):
        if module.name.startswith(PREFIX) and module.name != Path(__file__).stem:
            found[module.name] = importlib.import_module(f"{__package__}.{module.name}").STATEMENTS
    return found


def api_schema() -> graphql.GraphQLSchema:
    return graphql.build_schema(build_schema(Settings(_env_file=None)).as_str())


def is_list_or_connection(field: graphql.GraphQLField) -> bool:
    kind = graphql.get_nullable_type(field.type)
    return isinstance(kind, graphql.GraphQLList) or graphql.get_named_type(kind).name.endswith("Connection")


def counted_coordinates(schema: graphql.GraphQLSchema) -> set[str]:
    """Mutations and root list fields by name; list fields of other types as `Type.field`."""
    wanted = set(schema.mutation_type.fields)
    wanted |= {name for name, field in schema.query_type.fields.items() if is_list_or_connection(field)}
    for type_name, kind in schema.type_map.items():
        if (
            not isinstance(kind, graphql.GraphQLObjectType)
            or type_name.startswith("__")
            or type_name in NOT_COUNTED_TYPES
            or type_name.endswith(("Connection", "Edge", "Payload"))
        ):
            continue
        wanted |= {f"{type_name}.{name}" for name, field in kind.fields.items() if is_list_or_connection(field)}
    return wanted


def test_the_area_files_are_found():
    assert {"test_statements_auth", "test_statements_cards", "test_statements_points"} <= set(area_counts())


def test_every_mutation_and_list_field_has_exactly_one_statement_count():
    # given the API's mutations and list fields, and the counts recorded in each area's file
    wanted = counted_coordinates(api_schema())
    recorded = Counter(name for counts in area_counts().values() for name in counts)
    # then each has a count, in one file only, and no count names something the API no longer has
    assert sorted(wanted - set(recorded)) == [], "record their statement counts in a test_statements_<area>.py"
    assert sorted(name for name, times in recorded.items() if times > 1) == []
    assert sorted(set(recorded) - wanted) == []
