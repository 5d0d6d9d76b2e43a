from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn

from api.cli.common import EXIT_FAILURE, EXIT_USAGE, console, container, fail
from infrastructure.audit import ExportError, export_subject, export_tenant, verify_export
from infrastructure.ingest.identifiers import check_identifier, check_tenant

app = typer.Typer(help="Compliance exports: audit exports, subject exports, verification.")


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the export to.")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")] = "default",
    student: Annotated[
        str | None, typer.Option(help="Export everything about one student.")
    ] = None,
    from_: Annotated[str | None, typer.Option("--from", help="First date (YYYY-MM-DD).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last date (YYYY-MM-DD).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
) -> None:
    """Export a tenant's events and access log over a date range, or all about one student,
    with a manifest (counts, positions, SHA-256 hash chain) that `audit verify` checks."""
    try:
        check_tenant(tenant)
        if student is not None:
            check_identifier("student", student)
        start = date.fromisoformat(from_) if from_ else date.min
        end = date.fromisoformat(to) if to else date.max
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    with container(redis=True) as built:
        try:
            if student is not None:
                summary = export_subject(built, tenant, student, out, fmt)
            else:
                columns = (SpinnerColumn(), TextColumn("exporting: {task.completed} events read"))
                with Progress(*columns, console=console, transient=True) as progress:
                    task = progress.add_task("export")
                    summary = export_tenant(
                        built,
                        tenant,
                        start,
                        end,
                        out,
                        fmt,
                        on_progress=lambda done: progress.update(task, completed=done),
                    )
        except ExportError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    for name, file in summary.files.items():
        console.print(f"{out / name}: {file.records} record(s)")
    console.print(f"manifest: {out / 'manifest.json'}")


@app.command()
def verify(folder: Annotated[Path, typer.Argument(help="An export folder.")]) -> None:
    """Check an export against its manifest and hash chains; names the first bad line."""
    try:
        problems = verify_export(folder)
    except ExportError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    if not problems:
        console.print(f"{folder}: intact")
        return
    for problem in problems:
        where = f"{problem.file} line {problem.line}" if problem.line else problem.file
        console.print(f"[bold red]{where}[/]: {problem.reason}", highlight=False)
    raise typer.Exit(EXIT_FAILURE)
