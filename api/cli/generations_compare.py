"""``mastery generations compare A B``: what would change for users (SPEC §4b)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from api.cli.common import EXIT_USAGE, console, container, fail
from domain.identifiers import check_tenant
from infrastructure.generations.compare import compare as compare_generations
from infrastructure.generations.registry import GenerationError
from projections.queries import utc_today


def compare(
    a: Annotated[str, typer.Argument(help="The generation users see now (e.g. the live one).")],
    b: Annotated[str, typer.Argument(help="The generation to compare it with.")],
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Levels matrix, score deltas (b - a: mean, p50, p95, max), at-risk flips and the 20
    largest changes, each student as of today as the class roster shows them."""
    if output not in ("table", "json"):
        raise fail(f"--format must be table or json, got {output!r}", EXIT_USAGE)
    try:
        if tenant is not None:
            check_tenant(tenant)
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    with container(redis=True) as built:
        try:
            ga, gb = built.generations.get(a), built.generations.get(b)
        except GenerationError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
        document = compare_generations(
            built.redis, ga, gb, built.queries_of, utc_today(), tenant
        ).to_document()
    if output == "json":
        console.print_json(json.dumps(document))
        return
    _print_tables(document)


def _print_tables(document: dict[str, object]) -> None:
    levels: dict[str, dict[str, int]] = document["levels"]  # type: ignore[assignment]
    names = sorted({lb for row in levels.values() for lb in row} | set(levels))
    matrix = Table(title=f"levels: {document['a']} (rows) -> {document['b']} (columns)")
    matrix.add_column("")
    for name in names:
        matrix.add_column(name, justify="right")
    for la in names:
        matrix.add_row(la, *(str(levels.get(la, {}).get(lb, 0)) for lb in names))
    console.print(matrix)
    deltas: dict[str, float] = document["score_delta"]  # type: ignore[assignment]
    console.print("score delta (b - a): " + ", ".join(f"{k} {v}" for k, v in deltas.items()))
    risk: dict[str, object] = document["at_risk"]  # type: ignore[assignment]
    console.print(
        f"at risk: {risk['became_at_risk']} became, {risk['no_longer_at_risk']} no longer"
    )
    largest = Table(title="largest changes")
    for column in ("student", str(document["a"]), str(document["b"]), "delta"):
        largest.add_column(column)
    for change in document["largest_changes"]:  # type: ignore[attr-defined]
        largest.add_row(change["student"], str(change["a"]), str(change["b"]), str(change["delta"]))
    console.print(largest)
