from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from api.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    console,
    container,
    fail,
    output_file,
    output_file_problem,
    readable_file,
)
from domain.identifiers import check_tenant
from infrastructure.bootstrap import Container
from infrastructure.ingest.backfill import BackfillSummary, backfill_file, default_rejects_path
from infrastructure.ingest.contract import DEFAULT_TENANT
from infrastructure.ingest.files import UnreadableFileError, file_format
from infrastructure.ingest.parallel import parallel_backfill
from infrastructure.settings import ConfigurationError
from infrastructure.xapi.translate import Translator, stored_times


class Format(StrEnum):
    EVENTS = "events"
    XAPI = "xapi"


STATUSES = ("recorded", "duplicate", "conflict", "rejected", "ignored")


def backfill(
    files: Annotated[
        list[Path],
        typer.Argument(
            parser=readable_file,
            metavar="FILE",
            help="JSONL or CSV files of learning events; with --format xapi, xAPI statements "
            "(a JSON array as LRS exports hold, or JSONL).",
        ),
    ],
    rejects: Annotated[
        Path | None,
        typer.Option(
            parser=output_file,
            metavar="FILE",
            help="Rejects file (JSONL). Default: FILE.rejects.jsonl beside each file.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes (default MASTERY_BACKFILL_WORKERS, 2)."),
    ] = None,
    kind: Annotated[
        Format,
        typer.Option("--format", help="events: learning events (SPEC §3); xapi: xAPI statements."),
    ] = Format.EVENTS,
    tenant: Annotated[
        str,
        typer.Option(parser=tenant_id, help="The tenant of the statements (--format xapi only)."),
    ] = DEFAULT_TENANT,
) -> None:
    """Import learning events from files, idempotently; safe to interrupt and re-run."""
    if rejects is not None and len(files) > 1:
        raise fail("--rejects names one file; give one input file with it", EXIT_USAGE)
    for path in files:
        if rejects is None:
            _check_input(path, default_rejects_path(path), "its rejects file", files, kind)
        else:
            _check_input(path, rejects, "--rejects", files, kind)
    summaries: list[BackfillSummary] = []
    with container() as built:
        processes = workers or built.settings.backfill_workers
        xapi_tenant = tenant if kind is Format.XAPI else None
        if xapi_tenant is not None:
            _check_mapping(built)
        for path in files:
            try:
                summaries.append(_run(built, path, rejects, processes, xapi_tenant))
            except UnreadableFileError as exc:
                raise fail(str(exc)) from None
    _print_summary(summaries)
    if any(summary.not_accepted for summary in summaries):
        raise typer.Exit(EXIT_FAILURE)


def tenant_id(value: str) -> str:
    try:
        return check_tenant(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _check_mapping(built: Container) -> None:
    try:
        Translator.from_settings(built.settings)
    except ConfigurationError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


def _check_input(path: Path, rejects: Path, label: str, inputs: list[Path], kind: Format) -> None:
    """A file of a known format whose rejects file can be written without overwriting an
    input (a second run over ``*.jsonl`` would otherwise also match the first run's rejects)."""
    try:
        file_format(path, kind.value)
    except UnreadableFileError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    if rejects.exists() and any(rejects.samefile(source) for source in inputs):
        raise fail(
            f"{path}: {label} {rejects} is an input file and would be overwritten; "
            "give another --rejects file or leave rejects files out of the inputs",
            EXIT_USAGE,
        )
    problem = output_file_problem(rejects)
    if problem:
        raise fail(f"{path}: {label} {rejects}: {problem}", EXIT_USAGE)


def _run(
    built: Container, path: Path, rejects: Path | None, workers: int, xapi_tenant: str | None
) -> BackfillSummary:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(path.name, total=path.stat().st_size)

        def advance(done: int) -> None:
            progress.update(task, completed=done)

        if workers > 1:
            return parallel_backfill(
                built.settings,
                path,
                rejects,
                workers=workers,
                on_progress=advance,
                xapi_tenant=xapi_tenant,
            )
        translate = None
        if xapi_tenant is not None:
            translate = Translator.from_settings(built.settings).items_of(
                xapi_tenant, datetime.now(UTC), stored_times(built.application)
            )
        return backfill_file(built.ingest, path, rejects, on_progress=advance, translate=translate)


def _print_summary(summaries: list[BackfillSummary]) -> None:
    table = Table(title="backfill summary")
    table.add_column("file")
    for status in STATUSES:
        table.add_column(status, justify="right")
    table.add_column("store position", justify="right")
    for summary in summaries:
        table.add_row(
            str(summary.path),
            *(str(summary.counts[status]) for status in STATUSES),
            str(summary.position or "-"),
        )
    console.print(table)
    for summary in summaries:
        if summary.not_accepted:
            console.print(
                f"{summary.not_accepted} line(s) of {summary.path} not accepted; "
                f"reasons in {summary.rejects_path}"
            )
