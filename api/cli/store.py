from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from api.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    console,
    container,
    errors,
    fail,
    reported_errors,
)
from infrastructure.bootstrap import Container
from infrastructure.event_store.check_report import Problem, Report, StudentRepair
from infrastructure.event_store.cipher_mapper import StudentCipherMapper
from infrastructure.event_store.integrity import (
    Progress as OnProgress,
)
from infrastructure.event_store.integrity import check_store, repair_store
from infrastructure.event_store.keys import MasterKeyError
from infrastructure.event_store.repair_writer import RepairLockError
from infrastructure.settings import Settings

app = typer.Typer(help="The event store: verify its invariants, repair what is safe to repair.")

LISTED_MOVES = 8


@app.command()
def check(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report.")] = False,
    repair: Annotated[
        bool, typer.Option("--repair", help="Show the safe repairs (a dry run: nothing changes).")
    ] = False,
    apply: Annotated[
        bool,
        typer.Option("--apply", help="With --repair: make them, under the writers' table lock."),
    ] = False,
) -> None:
    """Verify the event store's invariants (SPEC §10): every stored learning event has its
    idempotency row, each event_id is stored once per tenant, versions follow commit order.
    Exit 0 when intact, 1 when anything is broken."""
    if apply and not repair:
        raise fail(
            "--apply only goes with --repair (run --repair alone first: a dry run)", EXIT_USAGE
        )
    with _store(rebuild_read_models=apply) as built:
        mapper = built.application.mapper
        encrypted = isinstance(mapper, StudentCipherMapper)
        database_url = built.settings.require_database_url()
        report = _checked(lambda progress: check_store(database_url, mapper, progress))
        document = _document(report, repairs_encrypted=encrypted if repair else None)
        if not apply:
            _finish(report, document, as_json, dry_run=repair, encrypted=encrypted)
            return
        try:
            applied = repair_store(database_url, mapper, report.broken_students())
        except RepairLockError as exc:
            raise fail(str(exc)) from None
        rebuilt = _rebuild(built, applied.repairs)
        after = _checked(lambda progress: check_store(database_url, mapper, progress))
    document["applied"] = [_repair_document(r, encrypted) for r in applied.repairs]
    document["read_models_rebuilt"] = rebuilt
    document["after"] = _document(after, repairs_encrypted=None)
    if as_json:
        console.print_json(json.dumps(document))
    else:
        _print_applied(applied.repairs, rebuilt, encrypted)
        console.print("[bold]after the repair:[/]")
        _print_report(after)
    if not after.intact:
        raise typer.Exit(EXIT_FAILURE)


@contextmanager
def _store(*, rebuild_read_models: bool) -> Iterator[Container]:
    """The container; with Redis when read models are to be rebuilt and Redis is configured
    (or everything runs embedded), never starting an embedded Redis beside a real database."""
    with reported_errors():
        settings = Settings.from_env()
    redis = rebuild_read_models and (
        settings.redis_url is not None or settings.database_url is None
    )
    with container(redis=redis, settings=settings) as built:
        try:
            yield built
        except MasterKeyError as exc:
            raise fail(str(exc), EXIT_USAGE) from None


def _checked(run: Callable[[OnProgress], Report]) -> Report:
    """Run a check with a spinner on stderr (stdout stays clean for --json)."""
    columns = (SpinnerColumn(), TextColumn("checking the event store: {task.completed} events"))
    with Progress(*columns, console=errors, transient=True) as progress:
        task = progress.add_task("check")

        def on_progress(done: int) -> None:
            progress.update(task, completed=done)

        return run(on_progress)


def _rebuild(built: Container, repairs: list[StudentRepair]) -> bool:
    if not repairs or built.settings.redis_url is None:
        return False
    for repair in repairs:
        built.projector.rebuild(tenant_id=repair.tenant_id, student_id=repair.student_id)
    return True


# --- output -------------------------------------------------------------------------------------


def _finish(
    report: Report, document: dict[str, Any], as_json: bool, *, dry_run: bool, encrypted: bool
) -> None:
    if as_json:
        console.print_json(json.dumps(document))
    else:
        _print_report(report)
        if dry_run:
            _print_plan(report, encrypted)
    if not report.intact:
        raise typer.Exit(EXIT_FAILURE)


def _print_report(report: Report) -> None:
    counts = report.counts
    console.print(
        f"event store: {counts.events} events of {counts.students} students "
        f"({counts.learning_events} learning events, {counts.id_rows} id rows)"
        + (
            f"; {counts.erased_students} erased student(s) skipped "
            f"({counts.erased_events} events, unreadable by design)"
            if counts.erased_students
            else ""
        ),
        highlight=False,
    )
    if report.intact:
        console.print(
            "[bold green]intact:[/] every learning event has its id row, every id row its "
            "event, each event_id is stored once per tenant, versions run from 1 in commit order"
        )
        return
    table = Table(title="problems", show_lines=False)
    for column in (
        "problem", "tenant", "student", "event_id", "versions", "notification ids", "detail",
        "repair",
    ):  # fmt: skip
        table.add_column(column, overflow="fold")
    for problem in report.problems:
        table.add_row(
            problem.kind.value,
            problem.tenant_id or "?",
            problem.student_id or str(problem.originator_id),
            problem.event_id or "",
            _numbers(problem.versions),
            _numbers(problem.notification_ids),
            problem.detail,
            problem.repair or f"manual: {problem.manual}",
        )
    console.print(table)
    repairable = sum(1 for p in report.problems if p.repair)
    kinds = ", ".join(f"{n} {kind}" for kind, n in report.by_kind().items())
    console.print(
        f"[bold red]{len(report.problems)} problem(s)[/]: {kinds}; {repairable} safe to "
        f"repair (see --repair), {len(report.problems) - repairable} need manual action",
        highlight=False,
    )


def _print_plan(report: Report, encrypted: bool) -> None:
    if not report.repairs:
        console.print("nothing can be repaired automatically")
        return
    console.print("[bold]would repair[/] (dry run, nothing changed; --repair --apply does it):")
    _print_repairs(report.repairs, encrypted=encrypted)
    if any(r.deletes for r in report.repairs):
        console.print(
            "before --apply, stop the writers and projectors (mastery serve, consume, project, "
            "publish, run, backfill) and start them after: they keep students in memory, and a "
            "student kept from before would be written at a stale version or projected with "
            "the deleted copy"
        )


def _print_applied(repairs: list[StudentRepair], rebuilt: bool, encrypted: bool) -> None:
    if not repairs:
        console.print("nothing was repaired")
        return
    console.print("[bold]repaired:[/]")
    _print_repairs(repairs, encrypted=encrypted)
    if any(r.deletes for r in repairs):
        console.print("start the writers and projectors again if they were stopped")
    if rebuilt:
        console.print(f"rebuilt the read models of {len(repairs)} student(s)")
    else:
        console.print("now rebuild their read models:")
        for repair in repairs:
            console.print(f"  {_rebuild_command(repair)}", highlight=False)


def _print_repairs(repairs: list[StudentRepair], *, encrypted: bool) -> None:
    for repair in repairs:
        console.print(
            f"  {repair.tenant_id}/{repair.student_id} ({repair.originator_id}):", highlight=False
        )
        for step in _steps(repair, encrypted):
            console.print(f"    - {step}", highlight=False)


def _steps(repair: StudentRepair, encrypted: bool) -> list[str]:
    steps = [
        f"delete version {d.version} (notification {d.notification_id}), a duplicate copy"
        for d in repair.deletes
    ]
    if repair.moves:
        why = "to follow commit order" if repair.reordered else "to fill the deleted copy's place"
        sealed = ", re-sealed for their new versions" if encrypted else ""
        steps.append(f"renumber versions {_moves(repair.moves)} {why}{sealed}")
        steps.append("move their id rows to the new versions")
    steps.extend(
        f"restore the id row of {row.event_id} at version {row.originator_version}"
        for row in repair.restores
    )
    steps.append("delete the student's snapshots")
    return steps


def _moves(moves: tuple[tuple[int, int], ...]) -> str:
    """``8..10 -> 7..9`` for a shift, else the first pairs and a count."""
    shifted = all(b[0] == a[0] + 1 and b[1] == a[1] + 1 for a, b in pairwise(moves))
    if shifted and len(moves) > 1:
        return f"{moves[0][0]}..{moves[-1][0]} -> {moves[0][1]}..{moves[-1][1]}"
    listed = ", ".join(f"{old} -> {new}" for old, new in moves[:LISTED_MOVES])
    more = f" and {len(moves) - LISTED_MOVES} more" if len(moves) > LISTED_MOVES else ""
    return listed + more


def _numbers(values: tuple[int, ...]) -> str:
    return ", ".join(str(v) for v in values)


def _rebuild_command(repair: StudentRepair) -> str:
    return f"mastery projections rebuild --tenant {repair.tenant_id} --student {repair.student_id}"


# --- JSON ---------------------------------------------------------------------------------------


def _document(report: Report, *, repairs_encrypted: bool | None) -> dict[str, Any]:
    """The report as JSON; with the planned repairs unless ``repairs_encrypted`` is None."""
    repairable = sum(1 for p in report.problems if p.repair)
    document: dict[str, Any] = {
        "intact": report.intact,
        "counts": {
            "students": report.counts.students,
            "events": report.counts.events,
            "learning_events": report.counts.learning_events,
            "id_rows": report.counts.id_rows,
            "erased_students_skipped": report.counts.erased_students,
            "erased_events_skipped": report.counts.erased_events,
        },
        "problems_by_kind": report.by_kind(),
        "repairable": repairable,
        "manual": len(report.problems) - repairable,
        "problems": [_problem_document(p) for p in report.problems],
    }
    if repairs_encrypted is not None:
        document["repairs"] = [_repair_document(r, repairs_encrypted) for r in report.repairs]
    return document


def _problem_document(problem: Problem) -> dict[str, Any]:
    original = problem.original
    return {
        "kind": problem.kind.value,
        "tenant_id": problem.tenant_id,
        "student_id": problem.student_id,
        "originator_id": str(problem.originator_id) if problem.originator_id else None,
        "event_id": problem.event_id,
        "versions": list(problem.versions),
        "notification_ids": list(problem.notification_ids),
        "detail": problem.detail,
        "original": None
        if original is None
        else {
            "originator_id": str(original.originator_id),
            "version": original.version,
            "notification_id": original.notification_id,
        },
        "repair": problem.repair,
        "manual": problem.manual,
    }


def _repair_document(repair: StudentRepair, encrypted: bool) -> dict[str, Any]:
    return {
        "tenant_id": repair.tenant_id,
        "student_id": repair.student_id,
        "originator_id": str(repair.originator_id),
        "delete": [
            {"version": d.version, "notification_id": d.notification_id} for d in repair.deletes
        ],
        "renumber": [{"from": old, "to": new} for old, new in repair.moves],
        "reordered_by_commit": repair.reordered,
        "restore_id_rows": [
            {"event_id": r.event_id, "version": r.originator_version} for r in repair.restores
        ],
        "steps": _steps(repair, encrypted),
        "rebuild_read_models": _rebuild_command(repair),
    }
