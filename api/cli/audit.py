from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn

from api.cli.common import (
    DATE_FORMAT,
    EXIT_FAILURE,
    EXIT_USAGE,
    console,
    container,
    existing_folder,
    fail,
    iso_date,
    new_folder,
)
from domain.identifiers import check_identifier, check_tenant
from infrastructure.compliance.export_verify import verify_export
from infrastructure.compliance.exports import export_subject, export_tenant
from infrastructure.compliance.hash_chain import ExportError

app = typer.Typer(help="Compliance exports: audit exports, subject exports, verification.")


class Format(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


@app.command()
def export(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            parser=new_folder,
            metavar="DIR",
            help="New or empty folder to write the export to (created if missing).",
        ),
    ],
    tenant: Annotated[str, typer.Option(help="Tenant id.")] = "default",
    student: Annotated[
        str | None, typer.Option(help="Export everything about one student.")
    ] = None,
    from_: Annotated[
        date | None,
        typer.Option("--from", parser=iso_date, metavar=DATE_FORMAT, help="First date."),
    ] = None,
    to: Annotated[
        date | None,
        typer.Option("--to", parser=iso_date, metavar=DATE_FORMAT, help="Last date."),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="File format.")] = Format.JSONL,
) -> None:
    """Export a tenant's events and access log over a date range, or all about one student,
    with a manifest (counts, positions, SHA-256 hash chain) that `audit verify` checks."""
    try:
        check_tenant(tenant)
        if student is not None:
            check_identifier("student", student)
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    if student is not None and (from_ is not None or to is not None):
        raise fail("--from and --to do not apply with --student: it exports everything", EXIT_USAGE)
    if from_ is not None and to is not None and from_ > to:
        raise fail(f"--from {from_} is after --to {to}", EXIT_USAGE)
    start, end = from_ or date.min, to or date.max
    with container(redis=True) as built:
        mapper, database_url = built.application.mapper, built.settings.require_database_url()
        try:
            if student is not None:
                summary = export_subject(
                    mapper, built.view, database_url, tenant, student, out, fmt.value
                )
            else:
                columns = (SpinnerColumn(), TextColumn("exporting: {task.completed} events read"))
                with Progress(*columns, console=console, transient=True) as progress:
                    task = progress.add_task("export")
                    summary = export_tenant(
                        mapper,
                        database_url,
                        tenant,
                        start,
                        end,
                        out,
                        fmt.value,
                        on_progress=lambda done: progress.update(task, completed=done),
                    )
        except ExportError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    for name, file in summary.files.items():
        console.print(f"{out / name}: {file.records} record(s)")
    console.print(f"manifest: {out / 'manifest.json'}")
    console.print(
        f"manifest sha256: {summary.manifest_sha256} (keep it apart from the export: "
        "`audit verify --manifest-sha256` then proves the manifest is this one)",
        highlight=False,
    )


@app.command()
def verify(
    folder: Annotated[
        Path, typer.Argument(parser=existing_folder, metavar="DIR", help="An export folder.")
    ],
    manifest_sha256: Annotated[
        str | None,
        typer.Option(
            metavar="HEX",
            help="The manifest's SHA-256 as `audit export` printed it, kept apart from the "
            "export: the manifest must be that one.",
        ),
    ] = None,
) -> None:
    """Check an export against its manifest and hash chains, and the manifest against the
    files; names the first bad line. Exit 1 when anything differs, 2 without a readable
    manifest."""
    if manifest_sha256 is not None and not _is_sha256(manifest_sha256):
        raise fail("--manifest-sha256 must be 64 hexadecimal digits", EXIT_USAGE)
    try:
        problems = verify_export(folder, manifest_sha256)
    except ExportError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    if not problems:
        console.print(f"{folder}: intact")
        return
    for problem in problems:
        where = f"{problem.file} line {problem.line}" if problem.line else problem.file
        console.print(f"[bold red]{where}[/]: {problem.reason}", highlight=False)
    raise typer.Exit(EXIT_FAILURE)


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)
