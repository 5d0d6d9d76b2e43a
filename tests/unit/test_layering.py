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
