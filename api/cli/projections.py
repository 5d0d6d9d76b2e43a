from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from api.cli.common import EXIT_USAGE, console, container, fail
from domain.identifiers import check_identifier, check_tenant

app = typer.Typer(help="Read models: rebuild them from the event store, watch their lag.")


@app.command()
def rebuild(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's read models.")] = None,
    student: Annotated[
        str | None, typer.Option(help="Only this student's (with --tenant, default 'default').")
    ] = None,
) -> None:
    """Drop read models and rebuild them from the event store; other students are untouched."""
    try:
        if tenant is not None:
            check_tenant(tenant)
        if student is not None:
            check_identifier("student", student)
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    columns = (
        TextColumn("rebuilding"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("students"),
        TimeRemainingColumn(),
    )
    with container(redis=True) as built, Progress(*columns, console=console) as progress:
        task = progress.add_task("rebuild", total=None)
        rebuilt = built.projector.rebuild(
            tenant_id=tenant,
            student_id=student,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
        position = built.projector.position()
    scope = f"student {student}" if student else f"tenant {tenant}" if tenant else "all tenants"
    console.print(f"rebuilt {rebuilt} student(s) of {scope}; projector position {position}")


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Event store head, the projector's position and its lag in events and seconds."""
    with container(redis=True) as built:
        current = built.projector.status()
    document = {
        "event_store_head": current.head,
        "projections": [
            {
                "name": "mastery",
                "position": current.position,
                "lag_events": current.lag_events,
                "lag_seconds": round(current.lag_seconds, 3),
            }
        ],
    }
    if as_json:
        console.print_json(json.dumps(document))
        return
    table = Table(title=f"event store head {current.head}")
    for column in ("projection", "position", "lag (events)", "lag (seconds)"):
        table.add_column(column, justify="right")
    table.add_row(
        "mastery", str(current.position), str(current.lag_events), f"{current.lag_seconds:.3f}"
    )
    console.print(table)
