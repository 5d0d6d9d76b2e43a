"""The SQL that reads the event store for ``mastery store check``, decoded into facts.

Two server-side cursors stream the stored events by ``(originator_id, originator_version)``
and the id rows in the same order, so that ``integrity.py`` can merge them as they go and hold
one student's facts at a time. Events are decoded by the application's own mapper into the
``StoredFact`` the rules of ``invariants.py`` need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import Mapper, StoredEvent
from psycopg.sql import SQL, Composable

from domain.student_mastery import StudentMastery
from infrastructure.event_store.check_facts import FactKind, IdRow, Location, StoredFact, Target
from infrastructure.event_store.cipher_mapper import StudentCipherMapper
from infrastructure.event_store.invariants import Unmatched
from infrastructure.event_store.keys import KeyRing, MasterKeyError
from infrastructure.settings import ConfigurationError

CHUNK = 2_000

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


def erased_students(conn: psycopg.Connection[Any]) -> set[UUID]:
    """Students whose events are unreadable by design: counted and skipped, never decoded."""
    return {row[0] for row in conn.execute(SELECT_ERASED)}


def keyring_for_check(conn: psycopg.Connection[Any], mapper: Mapper[UUID]) -> KeyRing | None:
    """The keys that decrypt the events; a store holding encrypted events is not checked
    without them (every event would be reported unreadable)."""
    if isinstance(mapper, StudentCipherMapper):
        return mapper.keyring
    if conn.execute(SELECT_ANY_KEY).fetchone() == (True,):
        raise ConfigurationError(
            "the event store holds encrypted events: set MASTERY_MASTER_KEY to check them"
        )
    return None


def stored_events(
    conn: psycopg.Connection[Any],
    only: list[UUID] | None,
    keyring: KeyRing | None,
    erased: set[UUID],
    on_progress: Callable[[int], None],
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


def stored_id_rows(conn: psycopg.Connection[Any], only: list[UUID] | None) -> Iterator[IdRow]:
    with conn.cursor(name="store_check_id_rows") as cursor:
        cursor.itersize = CHUNK
        cursor.execute(SELECT_ID_ROWS.format(where=_where(only)), {"only": only})
        for tenant_id, event_id, content_hash, originator_id, version in cursor:
            yield IdRow(tenant_id, event_id, bytes(content_hash).hex(), originator_id, version)


def _where(only: list[UUID] | None) -> Composable:
    return SQL("") if only is None else _ONLY


def decoded_fact(
    mapper: Mapper[UUID], stored: StoredEvent, notification_id: int, id_rows: Sequence[IdRow]
) -> StoredFact:
    other = StoredFact(
        as_uuid(stored.originator_id),
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


def targets(
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
                else decoded_fact(
                    mapper, StoredEvent(originator_id, version, topic, bytes(state)), n, ()
                )
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
        fact = decoded_fact(mapper, stored, notification_id, ())
        if fact.tenant_id is not None:
            tenants[originator_id] = fact.tenant_id
    return tenants


def as_uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)
