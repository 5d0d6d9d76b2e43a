"""Reading the event store for ``mastery store check``, and applying its safe repairs.

All the SQL of the check lives here; what is broken and what is safe to repair is decided by
the pure functions of ``invariants.py``. The check streams two server-side cursors in one
snapshot (REPEATABLE READ): the stored events by ``(originator_id, originator_version)`` and the
id rows in the same order, merged as they go, so memory holds one student's facts at a time
(plus the facts of broken students), whatever the size of the store. Events are decoded by the
application's own mapper; erased students' events are counted and skipped, never decoded.

A repair runs in one transaction holding the writers' table lock (``LOCK TABLE mastery_events
IN EXCLUSIVE MODE``, as the library's recorder takes before each insert), re-checks the broken
students under it and applies the plan made from that fresh reading, so no writer interleaves
and nothing the dry run did not see is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from itertools import groupby
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import Mapper, StoredEvent
from psycopg import IsolationLevel
from psycopg.errors import LockNotAvailable
from psycopg.sql import SQL, Composable, Literal

from domain.student_mastery import StudentMastery
from infrastructure.event_store.cipher_mapper import StudentCipherMapper
from infrastructure.event_store.invariants import (
    FactKind,
    IdRow,
    Location,
    Problem,
    Report,
    StoredFact,
    StudentRepair,
    Target,
    Unmatched,
    check_student,
    classify_unmatched,
    orphan_problems,
    plan_repairs,
)
from infrastructure.event_store.keys import KeyRing, MasterKeyError
from infrastructure.settings import ConfigurationError

CHUNK = 2_000
LOCK_TIMEOUT_SECONDS = 30

_ONLY = SQL("WHERE originator_id = ANY(%(only)s)")
SELECT_EVENTS = SQL(
    "SELECT originator_id, originator_version, topic, state, notification_id "
    "FROM mastery_events {where} ORDER BY originator_id, originator_version"
)
SELECT_ID_ROWS = SQL(
    "SELECT tenant_id, event_id, content_hash, originator_id, originator_version "
    "FROM mastery_event_ids {where} "
    "ORDER BY originator_id, originator_version, tenant_id, event_id"
)
SELECT_ERASED = "SELECT originator_id FROM student_keys WHERE erased_at IS NOT NULL"
SELECT_ANY_KEY = "SELECT EXISTS (SELECT 1 FROM student_keys WHERE wrapped_key IS NOT NULL)"
SELECT_TARGETS = (
    "SELECT i.tenant_id, i.event_id, i.content_hash, i.originator_id, i.originator_version, "
    "e.topic, e.state, e.notification_id "
    "FROM unnest(%s::text[], %s::text[]) AS k(tenant_id, event_id) "
    "JOIN mastery_event_ids AS i USING (tenant_id, event_id) "
    "LEFT JOIN mastery_events AS e "
    "ON e.originator_id = i.originator_id AND e.originator_version = i.originator_version"
)
SELECT_ENROLMENTS = (
    "SELECT originator_id, originator_version, topic, state, notification_id "
    "FROM mastery_events WHERE originator_id = ANY(%s) AND originator_version = 1"
)
LOCK_EVENTS = "LOCK TABLE mastery_events IN EXCLUSIVE MODE"
SELECT_STATES = (
    "SELECT originator_version, topic, state FROM mastery_events "
    "WHERE originator_id = %s AND originator_version = ANY(%s)"
)
DELETE_EVENTS = (
    "DELETE FROM mastery_events WHERE originator_id = %s AND originator_version = ANY(%s)"
)
# Versions are moved in two steps, through their negatives, so that no intermediate state
# collides with the primary key (originator_id, originator_version).
PARK_VERSIONS = (
    "UPDATE mastery_events SET originator_version = -originator_version "
    "WHERE originator_id = %s AND originator_version = ANY(%s)"
)
MOVE_VERSIONS = (
    "UPDATE mastery_events AS e SET originator_version = m.new, state = m.state "
    "FROM unnest(%s::bigint[], %s::bigint[], %s::bytea[]) AS m(old, new, state) "
    "WHERE e.originator_id = %s AND e.originator_version = -m.old"
)
MOVE_ID_ROWS = (
    "UPDATE mastery_event_ids AS i SET originator_version = m.new "
    "FROM unnest(%s::bigint[], %s::bigint[]) AS m(old, new) "
    "WHERE i.originator_id = %s AND i.originator_version = m.old"
)
INSERT_ID_ROWS = (
    "INSERT INTO mastery_event_ids "
    "(tenant_id, event_id, content_hash, originator_id, originator_version) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::bytea[], %s::uuid[], %s::bigint[])"
)
DELETE_SNAPSHOTS = "DELETE FROM mastery_snapshots WHERE originator_id = %s"

Progress = Callable[[int], None]


class RepairLockError(RuntimeError):
    def __init__(self) -> None:
        super().__init__(
            f"could not take the event store's write lock within {LOCK_TIMEOUT_SECONDS} s "
            "(a long transaction holds it); nothing was changed, try again"
        )


def check_store(
    database_url: str, mapper: Mapper[UUID], on_progress: Progress = lambda _: None
) -> Report:
    """The whole store checked in one consistent snapshot, with the safe repairs planned."""
    with psycopg.connect(database_url) as conn:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            return _inspect(conn, mapper, None, on_progress)


def repair_store(database_url: str, mapper: Mapper[UUID], originators: Sequence[UUID]) -> Report:
    """Re-check these students under the writers' lock and apply the safe repairs found, in
    one transaction. Returns that report: its ``repairs`` are what was applied."""
    if not originators:
        return Report()
    with psycopg.connect(database_url) as conn, conn.transaction():
        conn.execute(SQL("SET LOCAL lock_timeout = {}").format(Literal(f"{LOCK_TIMEOUT_SECONDS}s")))
        try:
            conn.execute(LOCK_EVENTS)
        except LockNotAvailable:
            raise RepairLockError from None
        report = _inspect(conn, mapper, list(originators), lambda _: None)
        for repair in report.repairs:
            _apply(conn, mapper, repair)
    return report


# --- reading ------------------------------------------------------------------------------------


def _inspect(
    conn: psycopg.Connection[Any],
    mapper: Mapper[UUID],
    only: list[UUID] | None,
    on_progress: Progress,
) -> Report:
    keyring = _keyring(conn, mapper)
    erased = {row[0] for row in conn.execute(SELECT_ERASED)}
    scan = _Scan(mapper, keyring, erased)
    id_rows = _IdRows(_id_rows(conn, only))
    events = _stored_events(conn, only, keyring, erased, on_progress)
    for originator_id, group in groupby(events, key=lambda row: _uuid(row[0].originator_id)):
        scan.orphans(id_rows.take_below(originator_id))
        scan.student(originator_id, group, id_rows)
    scan.orphans(id_rows.take_all())
    report = scan.report
    problems = scan.problems + classify_unmatched(
        scan.unmatched, _targets(conn, mapper, scan.unmatched)
    )
    report.problems, report.repairs = plan_repairs(scan.facts_of_broken, problems)
    report.problems.sort(key=_display_order)
    report.repairs.sort(key=lambda repair: (repair.tenant_id, repair.student_id))
    return report


class _Scan:
    """What the check keeps while the store streams past: counts, problems, and the facts of
    the students that have any (the repair plan needs them)."""

    def __init__(self, mapper: Mapper[UUID], keyring: KeyRing | None, erased: set[UUID]) -> None:
        self.mapper = mapper
        self.keyring = keyring
        self.erased = erased
        self.report = Report()
        self.problems: list[Problem] = []
        self.unmatched: list[Unmatched] = []
        self.facts_of_broken: dict[UUID, list[StoredFact]] = {}

    def orphans(self, rows: Iterable[IdRow]) -> None:
        """Id rows of aggregates without any stored event."""
        kept = [row for row in rows if row.originator_id not in self.erased]
        self.report.counts.id_rows += len(kept)
        self.problems.extend(orphan_problems(kept))

    def student(
        self,
        originator_id: UUID,
        rows: Iterable[tuple[StoredEvent, int]],
        id_rows: _IdRows,
    ) -> None:
        counts = self.report.counts
        if originator_id in self.erased:
            counts.erased_students += 1
            counts.erased_events += sum(1 for _ in rows)
            counts.erased_id_rows += len(id_rows.take_through(originator_id))
            return
        facts: list[StoredFact] = []
        orphans: list[IdRow] = []
        for stored, notification_id in rows:
            orphans.extend(id_rows.take_before(originator_id, stored.originator_version))
            attached = id_rows.take_at(originator_id, stored.originator_version)
            facts.append(_fact(self.mapper, stored, notification_id, attached))
        orphans.extend(id_rows.take_through(originator_id))
        if self.keyring is not None:
            self.keyring.forget(originator_id)  # keeps memory flat over millions of students
        counts.students += 1
        counts.events += len(facts)
        counts.learning_events += sum(1 for f in facts if f.kind is FactKind.LEARNING)
        counts.id_rows += len(orphans) + sum(len(f.id_rows) for f in facts)
        found = check_student(facts, orphans)
        if found.problems or found.unmatched:
            self.facts_of_broken[originator_id] = facts
            self.problems.extend(found.problems)
            self.unmatched.extend(found.unmatched)


def _keyring(conn: psycopg.Connection[Any], mapper: Mapper[UUID]) -> KeyRing | None:
    if isinstance(mapper, StudentCipherMapper):
        return mapper.keyring
    if conn.execute(SELECT_ANY_KEY).fetchone() == (True,):
        raise ConfigurationError(
            "the event store holds encrypted events: set MASTERY_MASTER_KEY to check them"
        )
    return None


def _stored_events(
    conn: psycopg.Connection[Any],
    only: list[UUID] | None,
    keyring: KeyRing | None,
    erased: set[UUID],
    on_progress: Progress,
) -> Iterator[tuple[StoredEvent, int]]:
    seen = 0
    with conn.cursor(name="store_check_events") as cursor:
        cursor.execute(SELECT_EVENTS.format(where=_where(only)), {"only": only})
        while rows := cursor.fetchmany(CHUNK):
            if keyring is not None:
                keyring.preload(conn, {row[0] for row in rows if row[0] not in erased})
            for originator_id, version, topic, state, notification_id in rows:
                yield StoredEvent(originator_id, version, topic, bytes(state)), notification_id
            seen += len(rows)
            on_progress(seen)


def _id_rows(conn: psycopg.Connection[Any], only: list[UUID] | None) -> Iterator[IdRow]:
    with conn.cursor(name="store_check_id_rows") as cursor:
        cursor.itersize = CHUNK
        cursor.execute(SELECT_ID_ROWS.format(where=_where(only)), {"only": only})
        for tenant_id, event_id, content_hash, originator_id, version in cursor:
            yield IdRow(tenant_id, event_id, bytes(content_hash).hex(), originator_id, version)


def _where(only: list[UUID] | None) -> Composable:
    return SQL("") if only is None else _ONLY


class _IdRows:
    """The id rows in (originator_id, originator_version) order, taken as the events pass."""

    def __init__(self, rows: Iterator[IdRow]) -> None:
        self._rows = rows
        self._next = next(rows, None)

    def take_below(self, originator_id: UUID) -> list[IdRow]:
        """The rows of aggregates before this one."""
        return self._take(lambda row: row.originator_id < originator_id)

    def take_before(self, originator_id: UUID, version: int) -> list[IdRow]:
        return self._take(
            lambda row: (row.originator_id, row.originator_version) < (originator_id, version)
        )

    def take_at(self, originator_id: UUID, version: int) -> list[IdRow]:
        return self._take(
            lambda row: (row.originator_id, row.originator_version) == (originator_id, version)
        )

    def take_through(self, originator_id: UUID) -> list[IdRow]:
        """The rows up to and including this aggregate's last."""
        return self._take(lambda row: row.originator_id <= originator_id)

    def take_all(self) -> list[IdRow]:
        return self._take(lambda row: True)

    def _take(self, wanted: Callable[[IdRow], bool]) -> list[IdRow]:
        taken: list[IdRow] = []
        while self._next is not None and wanted(self._next):
            taken.append(self._next)
            self._next = next(self._rows, None)
        return taken


def _fact(
    mapper: Mapper[UUID], stored: StoredEvent, notification_id: int, id_rows: Sequence[IdRow]
) -> StoredFact:
    other = StoredFact(
        _uuid(stored.originator_id),
        stored.originator_version,
        notification_id,
        FactKind.OTHER,
        id_rows=tuple(id_rows),
    )
    try:
        event = mapper.to_domain_event(stored)
    except MasterKeyError:
        raise
    except Exception as exc:  # whatever stops the application reading an event is reported
        return replace(other, kind=FactKind.UNREADABLE, detail=_reason(exc))
    if isinstance(event, StudentMastery.Enrolled):
        return replace(
            other, kind=FactKind.ENROLLED, tenant_id=event.tenant_id, student_id=event.student_id
        )
    if isinstance(event, StudentMastery.LearningEventRecorded):
        return replace(
            other,
            kind=FactKind.LEARNING,
            event_id=event.event_id,
            content_hash=event.content_hash,
        )
    return other


def _reason(exc: Exception) -> str:
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    text = str(cause).splitlines()[0][:200] if str(cause) else ""
    return f"cannot be read ({type(cause).__name__}{': ' + text if text else ''})"


def _targets(
    conn: psycopg.Connection[Any], mapper: Mapper[UUID], unmatched: Sequence[Unmatched]
) -> dict[tuple[str, str], Target]:
    """Where the id rows of the unmatched events' (tenant, event_id) point, and what is there."""
    keys = sorted({(u.tenant_id, u.fact.event_id or "") for u in unmatched})
    found: list[tuple[IdRow, StoredFact | None]] = []
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        rows = conn.execute(SELECT_TARGETS, ([k[0] for k in chunk], [k[1] for k in chunk]))
        for tenant_id, event_id, content_hash, originator_id, version, topic, state, n in rows:
            row = IdRow(tenant_id, event_id, bytes(content_hash).hex(), originator_id, version)
            stored = (
                None
                if topic is None
                else _fact(mapper, StoredEvent(originator_id, version, topic, bytes(state)), n, ())
            )
            found.append((row, stored))
    tenants = _tenants(conn, mapper, {row.originator_id for row, stored in found if stored})
    return {
        (row.tenant_id, row.event_id): Target(
            row,
            None
            if stored is None
            else Location(stored.originator_id, stored.version, stored.notification_id),
            tenants.get(row.originator_id),
            stored.event_id if stored is not None else None,
        )
        for row, stored in found
    }


def _tenants(
    conn: psycopg.Connection[Any], mapper: Mapper[UUID], originators: Iterable[UUID]
) -> dict[UUID, str]:
    rows = conn.execute(SELECT_ENROLMENTS, (list(originators),))
    tenants: dict[UUID, str] = {}
    for originator_id, version, topic, state, notification_id in rows:
        stored = StoredEvent(originator_id, version, topic, bytes(state))
        fact = _fact(mapper, stored, notification_id, ())
        if fact.tenant_id is not None:
            tenants[originator_id] = fact.tenant_id
    return tenants


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def _display_order(problem: Problem) -> tuple[str, str, str, tuple[int, ...], str]:
    return (
        problem.tenant_id or "",
        problem.student_id or "",
        str(problem.originator_id),
        problem.versions,
        problem.kind.value,
    )


# --- repairing ----------------------------------------------------------------------------------


def _apply(conn: psycopg.Connection[Any], mapper: Mapper[UUID], repair: StudentRepair) -> None:
    originator_id = repair.originator_id
    if repair.deletes:
        conn.execute(DELETE_EVENTS, (originator_id, [d.version for d in repair.deletes]))
    if repair.moves:
        olds = [old for old, _ in repair.moves]
        news = dict(repair.moves)
        states = {
            version: _moved(mapper, StoredEvent(originator_id, version, topic, bytes(state)), news)
            for version, topic, state in conn.execute(SELECT_STATES, (originator_id, olds))
        }
        conn.execute(PARK_VERSIONS, (originator_id, olds))
        conn.execute(
            MOVE_VERSIONS,
            (olds, [news[old] for old in olds], [states[old] for old in olds], originator_id),
        )
        conn.execute(MOVE_ID_ROWS, (olds, [news[old] for old in olds], originator_id))
    if repair.restores:
        rows = repair.restores
        conn.execute(
            INSERT_ID_ROWS,
            (
                [r.tenant_id for r in rows],
                [r.event_id for r in rows],
                [bytes.fromhex(r.content_hash) for r in rows],
                [r.originator_id for r in rows],
                [r.originator_version for r in rows],
            ),
        )
    conn.execute(DELETE_SNAPSHOTS, (originator_id,))


def _moved(mapper: Mapper[UUID], stored: StoredEvent, news: dict[int, int]) -> bytes:
    """The event's state at its new version: re-sealed when encrypted (the version is in the
    associated data), unchanged otherwise."""
    version = news[stored.originator_version]
    if isinstance(mapper, StudentCipherMapper):
        return mapper.moved(stored, version).state
    return stored.state
