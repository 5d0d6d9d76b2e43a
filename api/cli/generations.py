"""``mastery generations``: build, list, promote and drop generations of read models (SPEC §4b,
docs/generations.md). ``compare`` lives in generations_compare.py, ``evaluate`` in
generations_evaluate.py."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from api.cli.common import EXIT_USAGE, console, container, fail
from domain.mastery.formulas import DEFAULT_FORMULA, UnknownFormulaError, formula_named
from infrastructure.bootstrap import Container
from infrastructure.generations import lifecycle
from infrastructure.generations.registry import Generation, GenerationError, check_generation_name
from infrastructure.runtime.priority import lower_priority

app = typer.Typer(help="Generations of read models: build one beside the live one, switch.")

Format = Annotated[str, typer.Option("--format", help="table or json.")]


def _position_of(built: Container) -> lifecycle.PositionOf:
    def position_of(generation: Generation) -> int:
        return built.view_of(generation).max_tracking_id("mastery") or 0

    return position_of


@app.command("list")
def list_generations(output: Format = "table") -> None:
    """Each generation: name, formula, prefix, state, position, lag, live or not."""
    _check_format(output)
    with container(redis=True) as built:
        found = lifecycle.states(built.generations, _position_of(built), built.application.head())
    if output == "json":
        console.print_json(json.dumps([s.to_document() for s in found]))
        return
    table = Table(title="generations")
    for column in ("name", "formula", "prefix", "state", "position", "lag (events)", "live"):
        table.add_column(column)
    for state in found:
        g = state.generation
        live = "live" if state.live else ""
        row = (g.name, g.formula, g.prefix or "(none)", g.state, str(state.position))
        table.add_row(*row, str(state.lag_events), live)
    console.print(table)


@app.command()
def build(
    name: Annotated[str, typer.Argument(help="The new generation's name.")],
    formula: Annotated[
        str, typer.Option(help="The formula it computes with.")
    ] = DEFAULT_FORMULA.name,
    nice: Annotated[
        int,
        typer.Option(
            min=0,
            max=19,
            help="Lower the build's CPU priority by this much (its worker processes too), so "
            "the live generation's projector and the API keep their share; 0: same priority.",
        ),
    ] = 10,
) -> None:
    """Build a generation from the event store beside the live one, which keeps serving and
    following events; a running projector follows it from then on."""
    try:
        check_generation_name(name)
        policy = formula_named(formula)
    except (GenerationError, UnknownFormulaError) as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    lower_priority(nice)
    columns = (
        TextColumn(f"building {name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("students"),
        TimeRemainingColumn(),
    )
    with container(redis=True) as built, Progress(*columns, console=console) as progress:
        task = progress.add_task("build", total=None)
        try:
            generation = lifecycle.build(
                built.generations,
                name,
                policy,
                built.projector_of,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        except GenerationError as exc:
            raise fail(str(exc)) from None
        position = _position_of(built)(generation)
    console.print(
        f"built generation {name} ({generation.formula}) under prefix {generation.prefix!r} "
        f"at position {position}; `mastery project` follows it from now on"
    )


@app.command()
def promote(
    name: Annotated[str, typer.Argument(help="The generation to make live.")],
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if it is behind the live one.")
    ] = False,
) -> None:
    """Make a generation live: the API switches between two requests. Promoting the previous
    one again rolls back at once (it keeps following events)."""
    with container(redis=True) as built:
        try:
            previous = built.generations.live_name()
            lifecycle.promote(built.generations, name, _position_of(built), force=force)
        except GenerationError as exc:
            raise fail(str(exc)) from None
    console.print(
        f"generation {name} is live (was {previous}); roll back with "
        f"`mastery generations promote {previous}`"
    )


@app.command()
def drop(name: Annotated[str, typer.Argument(help="The generation to delete.")]) -> None:
    """Delete a generation that is not live: its keys and its registry entry."""
    with container(redis=True) as built:
        try:
            deleted = lifecycle.drop(built.generations, name)
        except GenerationError as exc:
            raise fail(str(exc)) from None
    console.print(f"dropped generation {name}: {deleted} key(s) deleted")


def _check_format(output: str) -> None:
    if output not in ("table", "json"):
        raise fail(f"--format must be table or json, got {output!r}", EXIT_USAGE)
