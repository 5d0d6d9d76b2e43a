"""The ``mastery`` command line (SPEC §8). Each command lives in its own module."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from api.cli import (
    audit,
    backfill,
    consume,
    demo,
    erase,
    generations,
    generations_compare,
    generations_evaluate,
    keys,
    mcp,
    migrate,
    project,
    projections,
    publish,
    ready,
    replay,
    retention,
    run,
    serve,
    store,
    token,
)

DISTRIBUTION = "mastery-engine"

# Plain click help: typer's rich panels label every flag (--help included) ``<bool>`` as if it
# took a value; click's own format shows flags as flags and keeps ``--x / --no-x`` pairs.
app = typer.Typer(
    name="mastery",
    help="Mastery Engine: event-sourced learning mastery.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def package_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _print_version(asked: bool) -> None:
    if asked:
        print(f"mastery {package_version()}")
        raise typer.Exit()


@app.callback()
def main(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Mastery Engine: event-sourced learning mastery."""


app.command("migrate")(migrate.migrate)
app.command("backfill")(backfill.backfill)
app.command("replay")(replay.replay)
app.command("demo")(demo.demo)
app.command("project")(project.project)
app.add_typer(projections.app, name="projections")
generations.app.command("compare")(generations_compare.compare)
generations.app.command("evaluate")(generations_evaluate.evaluate)
app.add_typer(generations.app, name="generations")
app.command("erase")(erase.erase)
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(retention.app, name="retention")
app.add_typer(store.app, name="store")
app.command("serve")(serve.serve)
app.command("token")(token.token)

app.command("consume")(consume.consume)
app.command("publish")(publish.publish)
app.command("run")(run.run)
app.command("ready")(ready.ready)
app.command("mcp")(mcp.mcp)

if __name__ == "__main__":
    app()
