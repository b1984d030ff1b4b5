"""The layers keep their direction: the domain knows nothing of GraphQL."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_DOMAIN = ("strawberry", "graphql", "schema", "resolvers", "loyalty", "starlette")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_domain_imports_nothing_from_the_graphql_or_app_layers():
    offenders = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "domain").rglob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] in FORBIDDEN_IN_DOMAIN
    }
    assert offenders == set()


def test_resolvers_contain_no_sql():
    offenders = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "resolvers").rglob("*.py")
        if any(
            name.split(".")[0] == "sqlalchemy" and name != "sqlalchemy.ext.asyncio" for name in imported_modules(path)
        )
        and path.name != "context.py"
    }
    assert offenders == {"resolvers/edge.py"} or offenders == set()
