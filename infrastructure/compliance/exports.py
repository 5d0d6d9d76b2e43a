"""Verifiable exports for compliance (issue 6): audit exports and subject exports.

An export is a folder: one file per record kind (``events``, ``access_log``, and for a subject
``mastery``) as JSONL or CSV, plus ``manifest.json``. Records are streamed, so memory stays flat
whatever their number. Each record carries ``chain``, the SHA-256 of the previous record's chain
and of the record itself (without ``chain``), from a fixed seed; the manifest holds per file the
record count, first and last store positions, the last chain value and the file's digest; the
first link starts from the digest of the manifest's header
(``infrastructure.compliance.hash_chain``).
``verify_export`` (``infrastructure.compliance.export_verify``) recomputes and checks all of it.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any

__all__ = [
    "ExportError",
    "ExportSummary",
    "FileSummary",
    "Problem",
    "export_subject",
    "export_tenant",
    "subject_document",
    "verify_export",
]

import psycopg

from domain.student_mastery import StudentMastery, student_aggregate_id
from domain.timestamps import format_timestamp
from infrastructure.bootstrap import Container
from infrastructure.compliance.export_verify import Problem, verify_export
from infrastructure.compliance.hash_chain import (
    ACCESS_COLUMNS,
    EVENT_COLUMNS,
    FORMATS,
    HASH_CHAIN,
    MANIFEST,
    MASTERY_COLUMNS,
    SEED,
    ExportError,
    canonical,
    cell,
    chain_start,
    header_digest,
    link,
)
from infrastructure.event_store.application import UnknownStudentError
from infrastructure.event_store.keys import StudentErasedError

PAGE = 2_000


@dataclass(slots=True)
class FileSummary:
    columns: tuple[str, ...] = ()
    records: int = 0
    first_position: int | None = None
    last_position: int | None = None
    chain: str = SEED
    sha256: str = ""


@dataclass(slots=True)
class ExportSummary:
    folder: Path
    files: dict[str, FileSummary] = field(default_factory=dict)
    manifest_sha256: str = ""  # worth keeping where the export's holder cannot change it


class _Header:
    """The manifest's header, fixed before the first record: its digest starts every chain."""

    def __init__(self, about: dict[str, Any]) -> None:
        self.fields = {
            **about,
            "created_at": format_timestamp(datetime.now(UTC)),
            "hash_chain": HASH_CHAIN,
            "seed": SEED,
        }
        self.sha256 = header_digest(self.fields)
        self.chain_start = chain_start(self.sha256)


# --- writing ------------------------------------------------------------------------------------


class _ChainedWriter:
    def __init__(self, folder: Path, stem: str, header: _Header, columns: tuple[str, ...]) -> None:
        fmt = header.fields["format"]
        self.path = folder / f"{stem}.{fmt}"
        self.columns = columns
        self.summary = FileSummary(columns, chain=header.chain_start)
        self._stream: IO[str] = self.path.open("w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._stream) if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow([*columns, "chain"])

    def write(self, record: dict[str, Any], position: int | None = None) -> None:
        body = canonical(record, self.columns)
        self.summary.chain = link(self.summary.chain, body)
        self.summary.records += 1
        if position is not None:
            if self.summary.first_position is None:
                self.summary.first_position = position
            self.summary.last_position = position
        if self._csv is not None:
            self._csv.writerow([cell(record.get(c)) for c in self.columns] + [self.summary.chain])
        else:
            line = {**record, "chain": self.summary.chain}
            self._stream.write(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n")

    def close(self) -> FileSummary:
        self._stream.close()
        self.summary.sha256 = _file_digest(self.path)
        return self.summary


def export_tenant(
    container: Container,
    tenant_id: str,
    start: date,
    end: date,
    folder: Path,
    fmt: str = "jsonl",
    on_progress: Callable[[int], None] = lambda _: None,
) -> ExportSummary:
    """Every event of the tenant dated in [start, end] and every access-log entry of the
    tenant in that range. Erased students' events are exported as erased (they cannot be dated
    or read, but their place in the log stays visible)."""
    _check_format(fmt)
    header = _Header(
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
    events = _ChainedWriter(folder, "events", header, EVENT_COLUMNS)
    for done, (position, record) in enumerate(_tenant_events(container, tenant_id), start=1):
        moment = record.get("timestamp")
        if moment is None or start <= datetime.fromisoformat(moment).date() <= end:
            events.write(record, position)
        if done % PAGE == 0:
            on_progress(done)
    summary.files[events.path.name] = events.close()
    access = _ChainedWriter(folder, "access_log", header, ACCESS_COLUMNS)
    for record in _access_log(container, tenant_id, None, start, end):
        access.write(record)
    summary.files[access.path.name] = access.close()
    _write_manifest(summary, header)
    return summary


def export_subject(
    container: Container, tenant_id: str, student_id: str, folder: Path, fmt: str = "jsonl"
) -> ExportSummary:
    """Everything held about one student (GDPR access and portability)."""
    _check_format(fmt)
    document = subject_document(container, tenant_id, student_id)
    if not document["erased"] and not document["events"]:
        raise UnknownStudentError(tenant_id, student_id)
    header = _Header(
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
    events = _ChainedWriter(folder, "events", header, EVENT_COLUMNS)
    for record in document["events"]:
        events.write(record, record["position"])
    summary.files[events.path.name] = events.close()
    mastery = _ChainedWriter(folder, "mastery", header, MASTERY_COLUMNS)
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
    access = _ChainedWriter(folder, "access_log", header, ACCESS_COLUMNS)
    for record in document["access_log"]:
        access.write(record)
    summary.files[access.path.name] = access.close()
    _write_manifest(summary, header)
    return summary


def subject_document(container: Container, tenant_id: str, student_id: str) -> dict[str, Any]:
    """The subject export as one JSON-ready document (also what the API returns)."""
    originator = student_aggregate_id(tenant_id, student_id)
    erased = False
    events: list[dict[str, Any]] = []
    try:
        for position, record in _student_events(container, originator):
            events.append({"position": position, **record})
    except StudentErasedError:
        erased = True
        events = []
    current = None if erased else container.view.current(_key(tenant_id, student_id))
    snapshots: list[dict[str, Any]] = []
    if current is not None:
        key = _key(tenant_id, student_id)
        stored = container.view.snapshots(key, container.view.activity_dates(key))
        snapshots = [stored[day] for day in sorted(stored)]
    return {
        "tenant_id": tenant_id,
        "student_id": student_id,
        "erased": erased,
        "exported_at": format_timestamp(datetime.now(UTC)),
        "events": events,
        "current_mastery": current,
        "snapshots": snapshots,
        "access_log": list(_access_log(container, tenant_id, student_id, None, None)),
    }


# --- sources ------------------------------------------------------------------------------------


def _tenant_events(container: Container, tenant_id: str) -> Iterator[tuple[int, dict[str, Any]]]:
    query = (
        "SELECT e.originator_id, e.originator_version, e.topic, e.state, e.notification_id "
        "FROM mastery_events e WHERE e.originator_id IN "
        "(SELECT DISTINCT originator_id FROM mastery_event_ids WHERE tenant_id = %s) "
        "ORDER BY e.notification_id"
    )
    yield from _events(container, query, (tenant_id,), tolerate_erased=True)


def _student_events(
    container: Container, originator: object
) -> Iterator[tuple[int, dict[str, Any]]]:
    query = (
        "SELECT originator_id, originator_version, topic, state, notification_id "
        "FROM mastery_events WHERE originator_id = %s ORDER BY notification_id"
    )
    yield from _events(container, query, (originator,), tolerate_erased=False)


def _events(
    container: Container, query: str, params: tuple[Any, ...], *, tolerate_erased: bool
) -> Iterator[tuple[int, dict[str, Any]]]:
    from eventsourcing.persistence import StoredEvent  # noqa: PLC0415

    mapper = container.application.mapper
    identities: dict[Any, tuple[str, str]] = {}
    with (
        psycopg.connect(container.settings.require_database_url()) as conn,
        conn.cursor(name="audit_export") as cursor,
    ):
        cursor.itersize = PAGE
        cursor.execute(query, params)
        for originator_id, version, topic, state, position in cursor:
            try:
                event = mapper.to_domain_event(
                    StoredEvent(originator_id, version, topic, bytes(state))
                )
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
    container: Container,
    tenant_id: str,
    student_id: str | None,
    start: date | None,
    end: date | None,
) -> Iterable[dict[str, Any]]:
    clauses, params = ["tenant_id = %s"], [tenant_id]
    if student_id is not None:
        clauses.append("student_id = %s")
        params.append(student_id)
    if start is not None and start > date.min:
        clauses.append("at >= %s")
        params.append(datetime.combine(start, time(), tzinfo=UTC))  # type: ignore[arg-type]
    if end is not None and end < date.max:
        clauses.append("at < %s")
        params.append(datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC))  # type: ignore[arg-type]
    columns, where = ", ".join(ACCESS_COLUMNS), " AND ".join(clauses)
    query = f"SELECT {columns} FROM access_log WHERE {where} ORDER BY id"  # noqa: S608 - fixed names
    with (
        psycopg.connect(container.settings.require_database_url()) as conn,
        conn.cursor(name="audit_access") as cursor,
    ):
        cursor.itersize = PAGE
        cursor.execute(query, params)
        for row in cursor:
            record = dict(zip(ACCESS_COLUMNS, row, strict=True))
            record["at"] = format_timestamp(record["at"])
            yield record


# --- helpers ------------------------------------------------------------------------------------


def _key(tenant_id: str, student_id: str) -> Any:
    from projections.view import StudentKey  # noqa: PLC0415

    return StudentKey(tenant_id, student_id)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use jsonl or csv")


def _write_manifest(summary: ExportSummary, header: _Header) -> None:
    manifest = {
        **header.fields,
        "header_sha256": header.sha256,
        "files": {
            name: {
                "records": f.records,
                "first_position": f.first_position,
                "last_position": f.last_position,
                "chain": f.chain,
                "sha256": f.sha256,
                "columns": list(f.columns),
            }
            for name, f in summary.files.items()
        },
    }
    path = summary.folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    summary.manifest_sha256 = _file_digest(path)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
