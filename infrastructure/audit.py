"""Verifiable exports for compliance (issue 6): audit exports and subject exports.

An export is a folder: one file per record kind (``events``, ``access_log``, and for a subject
``mastery``) as JSONL or CSV, plus ``manifest.json``. Records are streamed, so memory stays flat
whatever their number. Each record carries ``chain``, the SHA-256 of the previous record's chain
and of the record itself (without ``chain``), from a fixed seed; the manifest holds per file the
record count, first and last store positions, the last chain value and the file's digest.
``verify_export`` recomputes all of it and names the first line that does not check out: an
altered line fails its own link, a removed line breaks the next one, a cut tail fails the count.
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

import psycopg

from domain.student_mastery import StudentMastery, student_aggregate_id
from infrastructure.container import Container
from infrastructure.event_store.application import UnknownStudentError
from infrastructure.event_store.keys import StudentErasedError
from infrastructure.ingest.contract import format_timestamp

SEED = hashlib.sha256(b"mastery-engine audit export v1").hexdigest()
FORMATS = ("jsonl", "csv")
EVENT_COLUMNS = (
    "position", "event_id", "timestamp", "recorded_at", "tenant_id", "student_id", "class_id",
    "component", "topic", "data", "metadata", "erased", "aggregate_id",
)  # fmt: skip
ACCESS_COLUMNS = (
    "id", "at", "request_id", "subject", "role", "tenant_id", "student_id", "class_id", "route",
    "action", "outcome", "status",
)  # fmt: skip
MASTERY_COLUMNS = ("kind", "as_of", "document")
PAGE = 2_000


class ExportError(ValueError):
    """The export cannot be made or read (bad folder, unknown format...)."""


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


# --- writing ------------------------------------------------------------------------------------


class _ChainedWriter:
    def __init__(self, path: Path, fmt: str, columns: tuple[str, ...]) -> None:
        self.path = path
        self.fmt = fmt
        self.columns = columns
        self.summary = FileSummary(columns)
        self._stream: IO[str] = path.open("w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._stream) if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow([*columns, "chain"])

    def write(self, record: dict[str, Any], position: int | None = None) -> None:
        body = _canonical(record, self.columns)
        self.summary.chain = _link(self.summary.chain, body)
        self.summary.records += 1
        if position is not None:
            if self.summary.first_position is None:
                self.summary.first_position = position
            self.summary.last_position = position
        if self._csv is not None:
            self._csv.writerow([_cell(record.get(c)) for c in self.columns] + [self.summary.chain])
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
    folder.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(folder)
    events = _ChainedWriter(folder / f"events.{fmt}", fmt, EVENT_COLUMNS)
    for done, (position, record) in enumerate(_tenant_events(container, tenant_id), start=1):
        moment = record.get("timestamp")
        if moment is None or start <= datetime.fromisoformat(moment).date() <= end:
            events.write(record, position)
        if done % PAGE == 0:
            on_progress(done)
    summary.files[events.path.name] = events.close()
    access = _ChainedWriter(folder / f"access_log.{fmt}", fmt, ACCESS_COLUMNS)
    for record in _access_log(container, tenant_id, None, start, end):
        access.write(record)
    summary.files[access.path.name] = access.close()
    _write_manifest(
        folder,
        summary,
        {
            "kind": "audit",
            "tenant_id": tenant_id,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "format": fmt,
        },
    )
    return summary


def export_subject(
    container: Container, tenant_id: str, student_id: str, folder: Path, fmt: str = "jsonl"
) -> ExportSummary:
    """Everything held about one student (GDPR access and portability)."""
    _check_format(fmt)
    document = subject_document(container, tenant_id, student_id)
    if not document["erased"] and not document["events"]:
        raise UnknownStudentError(tenant_id, student_id)
    folder.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(folder)
    events = _ChainedWriter(folder / f"events.{fmt}", fmt, EVENT_COLUMNS)
    for record in document["events"]:
        events.write(record, record["position"])
    summary.files[events.path.name] = events.close()
    mastery = _ChainedWriter(folder / f"mastery.{fmt}", fmt, MASTERY_COLUMNS)
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
    access = _ChainedWriter(folder / f"access_log.{fmt}", fmt, ACCESS_COLUMNS)
    for record in document["access_log"]:
        access.write(record)
    summary.files[access.path.name] = access.close()
    _write_manifest(
        folder,
        summary,
        {
            "kind": "subject",
            "tenant_id": tenant_id,
            "student_id": student_id,
            "erased": document["erased"],
            "format": fmt,
        },
    )
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


# --- verifying ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int | None
    reason: str


def verify_export(folder: Path) -> list[Problem]:
    """Every way the folder differs from what its manifest and chains promise (empty: intact)."""
    fmt, files = _read_manifest(folder)
    problems: list[Problem] = []
    for name, (columns, expected) in files.items():
        problems += _verify_file(folder / name, fmt, columns, expected)
    return problems


def _read_manifest(folder: Path) -> tuple[str, dict[str, tuple[tuple[str, ...], Any]]]:
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise ExportError(f"{folder}: not an export folder (no manifest.json)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        fmt = manifest["format"]
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        files = {name: (tuple(f["columns"]), f) for name, f in manifest["files"].items()}
        _check_manifest_files(files)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ExportError(f"{manifest_path}: not a readable manifest ({exc})") from None
    except OSError as exc:
        raise ExportError(f"{manifest_path}: cannot be read ({exc.strerror})") from None
    return fmt, files


def _verify_file(
    path: Path, fmt: str, columns: tuple[str, ...], expected: dict[str, Any]
) -> list[Problem]:
    name = path.name
    if not path.is_file():
        return [Problem(name, None, "file is missing")]
    problems: list[Problem] = []
    chain, count = SEED, 0
    try:
        for line, record, stated in _read_records(path, fmt):
            count += 1
            chain = _link(chain, _canonical(record, columns))
            if stated != chain and not problems:
                problems.append(
                    Problem(
                        name, line, "record altered, or a record before it removed or reordered"
                    )
                )
                chain = stated  # carry on from what the file says, to report one break
    except (csv.Error, OSError) as exc:
        return [Problem(name, None, f"unreadable after {count} records: {exc}")]
    if count != expected["records"]:
        problems.append(
            Problem(name, None, f"{count} records, the manifest says {expected['records']}")
        )
    elif chain != expected["chain"] and not problems:
        problems.append(Problem(name, None, "the last chain value differs from the manifest"))
    if not problems and _file_digest(path) != expected["sha256"]:
        problems.append(Problem(name, None, "file digest differs from the manifest"))
    return problems


def _check_manifest_files(files: dict[str, tuple[tuple[str, ...], Any]]) -> None:
    """Each file entry names a file of the export folder itself and says what to expect."""
    for name, (columns, expected) in files.items():
        if not name or Path(name).name != name or name in (".", ".."):
            raise ValueError(f"file name {name!r} is not a file of the export folder")
        if not all(isinstance(column, str) for column in columns):
            raise ValueError(f"{name}: columns must be names")
        if not isinstance(expected.get("records"), int):
            raise ValueError(f"{name}: records must be a number")
        if not isinstance(expected.get("chain"), str) or not isinstance(
            expected.get("sha256"), str
        ):
            raise ValueError(f"{name}: chain and sha256 must be text")


def _read_records(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any], str]]:
    """Each record with its line number and stated chain value; bytes that are not UTF-8 are
    read as U+FFFD, so such a line fails its link like any other altered record."""
    with path.open(encoding="utf-8", errors="replace", newline="") as stream:
        if fmt == "csv":
            reader = csv.DictReader(stream)
            for row in reader:
                stated = row.pop("chain", "")
                yield reader.line_num, {k: _uncell(v) for k, v in row.items()}, stated
            return
        for number, text in enumerate(stream, start=1):
            try:
                record = json.loads(text)
            except json.JSONDecodeError:
                yield number, {"unreadable": text}, ""
                continue
            stated = record.pop("chain", "") if isinstance(record, dict) else ""
            yield number, record if isinstance(record, dict) else {"value": record}, stated


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


def _write_manifest(folder: Path, summary: ExportSummary, about: dict[str, Any]) -> None:
    manifest = {
        **about,
        "created_at": format_timestamp(datetime.now(UTC)),
        "hash_chain": "chain_i = sha256(chain_(i-1) + sha256(record_i)), chain_0 = seed",
        "seed": SEED,
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
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _canonical(record: dict[str, Any], columns: tuple[str, ...]) -> str:
    """The text a record is hashed as: the file's columns (and any other key the record has,
    so an added field is caught), values as a CSV cell holds them, as JSON with sorted keys —
    so JSONL and CSV exports verify the same way."""
    projected = {column: _cell(record.get(column)) for column in columns}
    projected.update({k: _cell(v) for k, v in record.items() if k not in projected})
    return json.dumps(projected, sort_keys=True, ensure_ascii=False)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list | bool):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _uncell(value: str | None) -> str:
    return value or ""


def _link(previous: str, body: str) -> str:
    return hashlib.sha256(
        (previous + hashlib.sha256(body.encode()).hexdigest()).encode()
    ).hexdigest()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
