"""Verifiable exports for compliance (issue 6): audit exports and subject exports.

An export is a folder: one file per record kind (``events``, ``access_log``, and for a subject
``mastery``) as JSONL or CSV, plus ``manifest.json``. Records are streamed, so memory stays flat
whatever their number. Each record carries ``chain``, the SHA-256 of the previous record's chain
and of the record itself (without ``chain``), from a fixed seed; the manifest holds per file the
record count, first and last store positions, the last chain value and the file's digest; the
first link starts from the digest of the manifest's header (the format is
``infrastructure.compliance.hash_chain``; ``infrastructure.compliance.manifest`` writes it).
``verify_export`` (``infrastructure.compliance.export_verify``) recomputes and checks all of it.

This module chooses the records: it reads the event store through
``infrastructure.event_store.tables`` and the access log through its own module, and takes the
mapper that decrypts events, the read-model view and the database URL as parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import Mapper, StoredEvent

from domain.errors import StudentErasedError, UnknownStudentError
from domain.student_mastery import StudentMastery, student_aggregate_id
from domain.timestamps import format_timestamp
from infrastructure.compliance import access_log
from infrastructure.compliance.hash_chain import (
    ACCESS_COLUMNS,
    EVENT_COLUMNS,
    FORMATS,
    MASTERY_COLUMNS,
    ExportError,
)
from infrastructure.compliance.manifest import ChainedWriter, ExportSummary, Header, write_manifest
from infrastructure.event_store import tables
from projections.view import MasteryView, StudentKey

PAGE = 2_000
StoredEvents = Callable[[psycopg.Connection[Any]], Generator[tuple[int, StoredEvent], None, None]]


def export_tenant(
    mapper: Mapper[UUID],
    database_url: str,
    tenant_id: str,
    start: date,
    end: date,
    folder: Path,
    fmt: str = "jsonl",
    on_progress: Callable[[int], None] = lambda _: None,
) -> ExportSummary:
    """Every event of the tenant dated in [start, end] and every access-log entry of the
    tenant in that range. Erased students' events are exported as erased (they cannot be dated
    or read, but their place in the log stays visible). ``mapper`` decodes (and decrypts) the
    stored events."""
    _check_format(fmt)
    header = Header(
        {
            "kind": "audit",
            "tenant_id": tenant_id,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "format": fmt,
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(folder)
    events = ChainedWriter(folder, "events", header, EVENT_COLUMNS)
    tenant_events = _tenant_events(mapper, database_url, tenant_id)
    for done, (position, record) in enumerate(tenant_events, start=1):
        moment = record.get("timestamp")
        if moment is None or start <= datetime.fromisoformat(moment).date() <= end:
            events.write(record, position)
        if done % PAGE == 0:
            on_progress(done)
    summary.files[events.path.name] = events.close()
    access = ChainedWriter(folder, "access_log", header, ACCESS_COLUMNS)
    for record in _access_log(database_url, tenant_id, None, start, end):
        access.write(record)
    summary.files[access.path.name] = access.close()
    write_manifest(summary, header)
    return summary


def export_subject(
    mapper: Mapper[UUID],
    view: MasteryView,
    database_url: str,
    tenant_id: str,
    student_id: str,
    folder: Path,
    fmt: str = "jsonl",
) -> ExportSummary:
    """Everything held about one student (GDPR access and portability)."""
    _check_format(fmt)
    document = subject_document(mapper, view, database_url, tenant_id, student_id)
    if not document["erased"] and not document["events"]:
        raise UnknownStudentError(tenant_id, student_id)
    header = Header(
        {
            "kind": "subject",
            "tenant_id": tenant_id,
            "student_id": student_id,
            "erased": document["erased"],
            "format": fmt,
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(folder)
    events = ChainedWriter(folder, "events", header, EVENT_COLUMNS)
    for record in document["events"]:
        events.write(record, record["position"])
    summary.files[events.path.name] = events.close()
    mastery = ChainedWriter(folder, "mastery", header, MASTERY_COLUMNS)
    if document["current_mastery"] is not None:
        mastery.write(
            {
                "kind": "current",
                "as_of": document["current_mastery"]["as_of"],
                "document": document["current_mastery"],
            }
        )
    for snapshot in document["snapshots"]:
        mastery.write({"kind": "snapshot", "as_of": snapshot["as_of"], "document": snapshot})
    summary.files[mastery.path.name] = mastery.close()
    access = ChainedWriter(folder, "access_log", header, ACCESS_COLUMNS)
    for record in document["access_log"]:
        access.write(record)
    summary.files[access.path.name] = access.close()
    write_manifest(summary, header)
    return summary


def subject_document(
    mapper: Mapper[UUID],
    view: MasteryView,
    database_url: str,
    tenant_id: str,
    student_id: str,
) -> dict[str, Any]:
    """The subject export as one JSON-ready document (also what the API returns)."""
    originator = student_aggregate_id(tenant_id, student_id)
    erased = False
    events: list[dict[str, Any]] = []
    try:
        for position, record in _student_events(mapper, database_url, originator):
            events.append({"position": position, **record})
    except StudentErasedError:
        erased = True
        events = []
    key = StudentKey(tenant_id, student_id)
    current = None if erased else view.current(key)
    snapshots: list[dict[str, Any]] = []
    if current is not None:
        stored = view.snapshots(key, view.activity_dates(key))
        snapshots = [stored[day] for day in sorted(stored)]
    return {
        "tenant_id": tenant_id,
        "student_id": student_id,
        "erased": erased,
        "exported_at": format_timestamp(datetime.now(UTC)),
        "events": events,
        "current_mastery": current,
        "snapshots": snapshots,
        "access_log": list(_access_log(database_url, tenant_id, student_id, None, None)),
    }


# --- sources ------------------------------------------------------------------------------------


def _tenant_events(
    mapper: Mapper[UUID], database_url: str, tenant_id: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    yield from _events(
        mapper,
        database_url,
        lambda conn: tables.tenant_events(conn, tenant_id, PAGE),
        tolerate_erased=True,
    )


def _student_events(
    mapper: Mapper[UUID], database_url: str, originator: UUID
) -> Iterator[tuple[int, dict[str, Any]]]:
    yield from _events(
        mapper,
        database_url,
        lambda conn: tables.student_events(conn, originator, PAGE),
        tolerate_erased=False,
    )


def _events(
    mapper: Mapper[UUID], database_url: str, read: StoredEvents, *, tolerate_erased: bool
) -> Iterator[tuple[int, dict[str, Any]]]:
    identities: dict[Any, tuple[str, str]] = {}
    with psycopg.connect(database_url) as conn, closing(read(conn)) as stored_events:
        for position, stored in stored_events:
            originator_id = stored.originator_id
            try:
                event = mapper.to_domain_event(stored)
            except StudentErasedError:
                if not tolerate_erased:
                    raise
                yield (
                    position,
                    {"position": position, "erased": True, "aggregate_id": str(originator_id)},
                )
                continue
            if isinstance(event, StudentMastery.Enrolled):
                identities[originator_id] = (event.tenant_id, event.student_id)
                continue
            if isinstance(event, StudentMastery.LearningEventRecorded):
                tenant, student = identities.get(originator_id, ("", ""))
                yield position, _event_record(position, event, tenant, student)


def _event_record(
    position: int, event: StudentMastery.LearningEventRecorded, tenant: str, student: str
) -> dict[str, Any]:
    return {
        "position": position,
        "event_id": event.event_id,
        "timestamp": format_timestamp(event.occurred_at),
        "recorded_at": format_timestamp(event.timestamp),
        "tenant_id": tenant,
        "student_id": student,
        "class_id": event.class_id,
        "component": event.component.value,
        "topic": event.topic,
        "data": event.data,
        "metadata": event.metadata,
    }


def _access_log(
    database_url: str,
    tenant_id: str,
    student_id: str | None,
    start: date | None,
    end: date | None,
) -> Iterable[dict[str, Any]]:
    with (
        psycopg.connect(database_url) as conn,
        closing(
            access_log.entries(conn, ACCESS_COLUMNS, tenant_id, student_id, start, end, PAGE)
        ) as records,
    ):
        for record in records:
            record["at"] = format_timestamp(record["at"])
            yield record


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use jsonl or csv")
