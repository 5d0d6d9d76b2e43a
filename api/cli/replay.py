from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.common import EXIT_FAILURE, EXIT_USAGE, console, container, fail
from domain.errors import StudentErasedError
from domain.identifiers import check_identifier, check_tenant
from domain.student_mastery import StudentMastery
from domain.timestamps import format_timestamp
from infrastructure.bootstrap import Container
from projections.compare import Difference, differences
from projections.mastery_projection import StudentHistory, student_update
from projections.student_events import Replay
from projections.view import StudentKey


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


def replay(
    student: Annotated[str, typer.Argument(help="Student id.")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")] = "default",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Replay up to this UTC date (YYYY-MM-DD).")
    ] = None,
    output: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.TABLE,
    check: Annotated[
        bool, typer.Option("--check", help="Compare the replay with the Redis read models.")
    ] = False,
) -> None:
    """Rebuild a student's history from the event store: mastery after each event."""
    _check_ids(student, tenant)
    day = _parse_date(as_of) if as_of else datetime.now(UTC).date()
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
    if output is Format.JSON:
        console.print_json(json.dumps(replay_document(history, day)))
    else:
        _print_table(history, day)


def replay_document(history: Replay, as_of: date) -> dict[str, Any]:
    return {
        "tenant_id": history.tenant_id,
        "student_id": history.student_id,
        "as_of": as_of.isoformat(),
        "events": [
            {
                "event_id": event.event_id,
                "timestamp": format_timestamp(event.occurred_at),
                "component": _component(event),
                "topic": event.topic,
                "mastery": mastery.to_document(with_topics=False),
            }
            for event, mastery in history.rows
        ],
        "mastery": history.mastery.to_document() if history.mastery else None,
    }


def _print_table(history: Replay, as_of: date) -> None:
    table = Table(title=f"{history.tenant_id}/{history.student_id} replayed as of {as_of}")
    for column in ("timestamp", "event_id", "component", "topic"):
        table.add_column(column)
    for column in ("completion", "quiz", "quality", "consistency", "mastery"):
        table.add_column(column, justify="right")
    table.add_column("level")
    for event, mastery in history.rows:
        doc = mastery.to_document(with_topics=False)
        components = doc["components"]
        table.add_row(
            format_timestamp(event.occurred_at),
            event.event_id,
            _component(event),
            event.topic,
            *(f"{components[c]:.3f}" for c in ("completion", "quiz", "quality", "consistency")),
            f"{doc['mastery_score']:.3f}",
            doc["level"],
        )
    console.print(table)
    if history.mastery is None:
        console.print(f"no events on or before {as_of}")
        return
    final = history.mastery.to_document()
    console.print(
        f"mastery as of {as_of}: [bold]{final['mastery_score']:.3f}[/] ({final['level']}), "
        f"{final['event_count']} events"
    )


def _component(event: StudentMastery.LearningEventRecorded) -> str:
    return event.component.value


def _check_ids(student: str, tenant: str) -> None:
    try:
        check_identifier("student", student)
        check_tenant(tenant)
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"--as-of must be a date YYYY-MM-DD, got {value!r}", EXIT_USAGE) from None


def check_read_models(built: Container, tenant: str, student: str) -> list[Difference]:
    """Differences between the student's read models and a replay of all their events."""
    key = StudentKey(tenant, student)
    history = StudentHistory(key)
    for event in built.application.learning_events(tenant, student):
        history.add(event.fact, event.class_id, 0)
    expected = student_update(history)
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
