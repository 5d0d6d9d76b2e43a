from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, TextIO

import typer
from rich.table import Table

from api.cli.common import EXIT_FAILURE, EXIT_USAGE, console, container, fail
from domain.errors import StudentErasedError
from domain.identifiers import check_identifier, check_tenant
from domain.mastery import StepKey
from domain.mastery.formulas import DEFAULT_FORMULA, Formula
from infrastructure.bootstrap import Container
from projections.compare import Difference, differences, expected_update
from projections.replay import Replay, parse_cursor, step_document
from projections.view import StudentKey

TABLE_STEPS = 50


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"


def replay(
    student: Annotated[str, typer.Argument(help="Student id.")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")] = "default",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Replay up to this UTC date (YYYY-MM-DD).")
    ] = None,
    output: Annotated[
        Format,
        typer.Option(
            "--format",
            help="table (a page of steps), json (one document, streamed), "
            "or jsonl (one step per line: for big histories).",
        ),
    ] = Format.TABLE,
    after: Annotated[
        str | None,
        typer.Option(help="Start after this step: the `next` cursor of a previous page."),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            min=1,
            help=f"At most this many steps (default: all for json/jsonl; the table shows the "
            f"last {TABLE_STEPS} unless --after is given).",
        ),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Each step carries the whole mastery document.")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Compare the replay with the Redis read models.")
    ] = False,
) -> None:
    """Rebuild a student's history from the event store: what each event changed."""
    _check_ids(student, tenant)
    day = _parse_date(as_of) if as_of else datetime.now(UTC).date()
    start = _parse_cursor(after) if after else None
    with container(redis=check) as built:
        try:
            history = built.application.replay(tenant, student, day)
            found = check_read_models(built, tenant, student) if check else None
        except StudentErasedError:
            raise fail(
                f"student {student!r} in tenant {tenant!r} has been erased: "
                "their events can no longer be read"
            ) from None
    if found is not None:
        _report_check(found, tenant, student)
        return
    if output is Format.TABLE:
        if start is None and limit is None:
            start, limit = history.key_before(TABLE_STEPS), TABLE_STEPS
        _print_table(history, start, limit or TABLE_STEPS)
        return
    steps = Page(history, start, limit, full)
    if output is Format.JSONL:
        write_lines(steps)
    else:
        write_document(history, steps, sys.stdout)


@dataclass(frozen=True, slots=True)
class Page:
    """The steps a command asked for, streamed: ``next`` is known once they are read."""

    history: Replay
    after: StepKey | None
    limit: int | None
    full: bool

    def documents(self) -> Iterator[dict[str, Any]]:
        steps = self.history.steps(after=self.after, full=self.full)
        for event, step in itertools.islice(steps, self.limit):
            yield step_document(event, step)

    def next_cursor(self, last: dict[str, Any] | None) -> str | None:
        """The cursor after ``last``, the page's last step, if steps remain after it."""
        return None if last is None else self.history.cursor_after(last["step"])


def write_lines(page: Page) -> None:
    for document in page.documents():
        sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")


def write_document(history: Replay, page: Page, out: TextIO) -> None:
    """One JSON document, written a step at a time: memory stays bounded by one step."""
    final = history.mastery()
    head = {"tenant_id": history.tenant_id, "student_id": history.student_id}
    head["as_of"] = history.as_of.isoformat()
    out.write(json.dumps(head)[:-1] + ', "steps": [')
    last = None
    for number, document in enumerate(page.documents()):
        out.write(("\n" if number == 0 else ",\n") + json.dumps(document))
        last = document
    out.write('\n], "next": ' + json.dumps(page.next_cursor(last)))
    out.write(', "step_count": ' + json.dumps(len(history.events)))
    out.write(', "mastery": ' + json.dumps(final.to_document() if final else None) + "}\n")


def _print_table(history: Replay, after: StepKey | None, limit: int) -> None:
    table = Table(title=f"{history.tenant_id}/{history.student_id} replayed as of {history.as_of}")
    for column in ("step", "timestamp", "event_id", "component", "topic"):
        table.add_column(column, justify="right" if column == "step" else "left")
    for column in ("topic score", "mastery"):
        table.add_column(column, justify="right")
    table.add_column("level")
    page = Page(history, after, limit, full=False)
    first = last = None
    for document in page.documents():
        first = first or document
        change = document["level_change"]
        table.add_row(
            str(document["step"]),
            document["timestamp"],
            document["event_id"],
            document["component"],
            document["topic"],
            f"{document['topic_score']:.3f}",
            f"{document['mastery_score']:.3f}",
            f"{change['from']} -> {change['to']}" if change else document["level"],
        )
        last = document
    console.print(table)
    _print_summary(history, page, first, last)


def _print_summary(
    history: Replay, page: Page, first: dict[str, Any] | None, last: dict[str, Any] | None
) -> None:
    final = history.mastery()
    if final is None:
        console.print(f"no events on or before {history.as_of}")
        return
    shown = f"steps {first['step']}-{last['step']}" if first and last else "no step"
    console.print(f"{len(history.events)} steps; shown: {shown}", highlight=False)
    cursor = page.next_cursor(last)
    if cursor is not None:
        console.print(f"next page: --after {cursor}", soft_wrap=True, highlight=False)
    document = final.to_document(with_topics=False)
    console.print(
        f"mastery as of {history.as_of}: [bold]{document['mastery_score']:.3f}[/] "
        f"({document['level']}), {document['event_count']} events"
    )


def _check_ids(student: str, tenant: str) -> None:
    try:
        check_identifier("student", student)
        check_tenant(tenant)
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


def _parse_cursor(value: str) -> StepKey:
    try:
        return parse_cursor(value)
    except ValueError:
        raise fail(
            f"--after must be the `next` cursor of a previous page, got {value!r}", EXIT_USAGE
        ) from None


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"--as-of must be a date YYYY-MM-DD, got {value!r}", EXIT_USAGE) from None


def check_read_models(
    built: Container, tenant: str, student: str, formula: Formula = DEFAULT_FORMULA
) -> list[Difference]:
    """Differences between the student's read models and a replay of all their events under
    ``formula`` (the formula of the generation the view holds)."""
    key = StudentKey(tenant, student)
    expected = expected_update(key, built.application.learning_events(tenant, student), formula)
    ttl = built.settings.snapshot_ttl_days
    kept_since = datetime.now(UTC).date() - timedelta(days=ttl - 1) if ttl > 0 else None
    stored = built.view.snapshots(key, list(expected.snapshots))
    return differences(expected, built.view.current(key), stored, kept_since)


def _report_check(found: list[Difference], tenant: str, student: str) -> None:
    if not found:
        console.print(f"read models of {tenant}/{student} match the event store")
        return
    table = Table(title=f"{tenant}/{student}: read models differ from the event store")
    for column in ("document", "field", "event store says", "read model has"):
        table.add_column(column)
    for difference in found:
        table.add_row(
            difference.document,
            difference.field,
            repr(difference.expected),
            repr(difference.actual),
        )
    console.print(table)
    raise typer.Exit(EXIT_FAILURE)
