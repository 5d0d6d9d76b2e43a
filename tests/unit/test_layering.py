"""Dependencies point inwards: api -> infrastructure -> projections -> domain (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["domain", "projections", "infrastructure", "api"]
FRAMEWORKS = {"redis", "confluent_kafka", "starlette", "psycopg", "sqlalchemy", "pydantic", "typer"}


def imported_modules(package: str) -> list[tuple[Path, str]]:
    found = []
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.extend((path, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module))
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_only_inner_layers(layer: str) -> None:
    outer = LAYERS[LAYERS.index(layer) + 1 :]
    offending = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path, module in imported_modules(layer)
        if module.split(".")[0] in outer
    ]
    assert offending == []


@pytest.mark.parametrize("layer", ["domain", "projections"])
def test_the_core_imports_no_framework(layer: str) -> None:
    offending = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path, module in imported_modules(layer)
        if module.split(".")[0] in FRAMEWORKS
    ]
    assert offending == []


def test_domain_uses_only_the_domain_part_of_eventsourcing() -> None:
    eventsourcing = {m for _, m in imported_modules("domain") if m.startswith("eventsourcing")}
    assert eventsourcing <= {"eventsourcing.domain"}


# --- the shape of the module graph (issue 12; docs/architecture.md) --------------------------

PRODUCT = ["domain", "projections", "infrastructure", "api", "migrations"]
BOOTSTRAP = "infrastructure.bootstrap"
MAX_LINES = 400
# Modules allowed over MAX_LINES, each with the reason (docs/architecture.md says the same).
LONG_MODULES: dict[str, str] = {}


def product_modules() -> dict[str, Path]:
    modules = {}
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


def _module_of(target: str, modules: dict[str, Path]) -> str | None:
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def import_graph() -> dict[str, set[str]]:
    """Module -> the product modules it imports (at any level of the file)."""
    modules = product_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
            for target in targets:
                found = _module_of(target, modules)
                if found is not None and found != name:
                    graph[name].add(found)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycles_finds_a_cycle_and_only_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_modules() -> None:
    assert cycles(import_graph()) == []


def test_only_entry_points_import_the_bootstrap() -> None:
    importers = [name for name, imported in import_graph().items() if BOOTSTRAP in imported]
    assert [name for name in importers if not name.startswith("api.")] == []


def _has_reason(lines: list[str], lineno: int) -> bool:
    """A comment on the import's line beyond a bare ``noqa`` code, or on the line above."""
    comment = lines[lineno - 1].partition("#")[2]
    reason = comment.replace("noqa:", "").replace("PLC0415", "").strip(" -")
    return bool(reason) or lines[lineno - 2].strip().startswith("#")


def test_every_function_level_import_says_why() -> None:
    unexplained = []
    for path in product_modules().values():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for function in ast.walk(ast.parse(source)):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                is_import = isinstance(node, ast.Import | ast.ImportFrom)
                if is_import and not _has_reason(lines, node.lineno):
                    unexplained.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert unexplained == []


def test_no_module_is_longer_than_the_limit() -> None:
    too_long = [
        f"{name} ({count} lines)"
        for name, path in product_modules().items()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
        and name not in LONG_MODULES
    ]
    assert too_long == []
