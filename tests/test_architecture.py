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


PACKAGES = ("domain", "schema", "resolvers", "loyalty")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path, modules: set[str]) -> set[str]:
    """The project modules `path` imports when it runs: at the top or in a function, but not
    under `if TYPE_CHECKING:` (imports for type checkers only)."""
    tree = ast.parse(path.read_text())
    checking = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in checking:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in modules}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each a cycle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_module_imports_itself_through_others():
    """Given every module of the service, when their run-time imports are followed, then no cycle exists
    (a package importing its own submodules, as `resolvers/<area>/__init__.py` does, is not a cycle)."""
    paths = {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    modules = set(paths)
    graph = {
        name: {
            t for t in _runtime_imports(path, modules) if not (t.startswith(name + ".") and path.name == "__init__.py")
        }
        for name, path in paths.items()
    }
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_two_areas_register_the_same_loader():
    # given every area of the app, when each lists its loaders (a request asks for them on first use)
    from loyalty.areas import AREAS

    names = [name for area in AREAS if area.loaders for name in area.loaders(None)]
    # then every name is one area's
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
