"""Reads and deletes on the event store's own tables that the ``eventsourcing`` library has no
call for: ``mastery_events`` with its ``notification_id`` (the notification log),
``mastery_snapshots`` and ``mastery_event_ids``.

The library writes these tables; the projector, exports, erasure and retention read or seal
them directly.
Keeping every such statement here means a change of the library's schema is met in one module.
Each function takes the caller's connection, so it runs inside the caller's transaction (an
erasure destroys the key, seals the events and drops the snapshots in one commit).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent

from infrastructure.event_store.cipher_mapper import MARKER

CURSOR = "audit_export"

TENANT_EVENTS = (
    "SELECT e.originator_id, e.originator_version, e.topic, e.state, e.notification_id "
    "FROM mastery_events e WHERE e.originator_id IN "
    "(SELECT DISTINCT originator_id FROM mastery_event_ids WHERE tenant_id = %s) "
    "ORDER BY e.notification_id"
)
STUDENT_EVENTS = (
    "SELECT originator_id, originator_version, topic, state, notification_id "
    "FROM mastery_events WHERE originator_id = %s ORDER BY notification_id"
)


def tenant_events(
    conn: psycopg.Connection[Any], tenant_id: str, page: int
) -> Generator[tuple[int, StoredEvent], None, None]:
    """Every stored event of the tenant's students with its notification id, in log order,
    fetched ``page`` rows at a time through a server-side cursor (memory stays flat)."""
    yield from _stored_events(conn, TENANT_EVENTS, (tenant_id,), page)


def student_events(
    conn: psycopg.Connection[Any], originator_id: UUID, page: int
) -> Generator[tuple[int, StoredEvent], None, None]:
    """Every stored event of one student with its notification id, in log order."""
    yield from _stored_events(conn, STUDENT_EVENTS, (originator_id,), page)


def _stored_events(
    conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...], page: int
) -> Generator[tuple[int, StoredEvent], None, None]:
    with conn.cursor(name=CURSOR) as cursor:
        cursor.itersize = page
        cursor.execute(query, params)
        for originator_id, version, topic, state, position in cursor:
            yield position, StoredEvent(originator_id, version, topic, bytes(state))


def count_events(conn: psycopg.Connection[Any], originator_id: UUID) -> int:
    row = conn.execute(
        "SELECT count(*) FROM mastery_events WHERE originator_id = %s", (originator_id,)
    ).fetchone()
    return int(row[0]) if row else 0


def seal_plaintext_events(
    conn: psycopg.Connection[Any], originator_id: UUID, filler: bytes
) -> None:
    """Overwrite the student's events stored before encryption was switched on (their state
    does not start with the cipher's ``MARKER``) with ``MARKER + filler``: a ciphertext under
    no key, so they can never be read again. Encrypted events are left as they are."""
    conn.execute(
        "UPDATE mastery_events SET state = %s || %s::bytea "
        "WHERE originator_id = %s AND substring(state from 1 for %s) <> %s",
        (MARKER, filler, originator_id, len(MARKER), MARKER),
    )


def delete_snapshots(conn: psycopg.Connection[Any], originator_id: UUID) -> None:
    conn.execute("DELETE FROM mastery_snapshots WHERE originator_id = %s", (originator_id,))


def unerased_originators(conn: psycopg.Connection[Any]) -> list[UUID]:
    """Every student aggregate id in the store whose data key has not been destroyed, in
    order. (The anti-join on ``student_keys`` only filters: a store without encryption has no
    keys, so all its students are listed.)"""
    rows = conn.execute(
        "SELECT DISTINCT i.originator_id FROM mastery_event_ids i "
        "LEFT JOIN student_keys k USING (originator_id) WHERE k.erased_at IS NULL "
        "ORDER BY 1"
    ).fetchall()
    return [row[0] for row in rows]


STUDENTS_EVENTS_UP_TO = (
    "SELECT originator_id, originator_version, topic, state, notification_id "
    "FROM mastery_events WHERE originator_id = ANY(%s) AND notification_id <= %s "
    "ORDER BY originator_id, originator_version"
)
TOUCHED = (
    "SELECT DISTINCT originator_id FROM mastery_events "
    "WHERE notification_id > %s AND notification_id <= %s"
)
TENANT_STUDENTS = "SELECT DISTINCT originator_id FROM mastery_event_ids WHERE tenant_id = %s"


def students_events_up_to(
    conn: psycopg.Connection[Any], originators: list[UUID], up_to: int
) -> list[tuple[int, StoredEvent]]:
    """The stored events of these students up to a notification id, by student and version."""
    rows = conn.execute(STUDENTS_EVENTS_UP_TO, (originators, up_to)).fetchall()
    return [
        (position, StoredEvent(originator_id, version, topic, bytes(state)))
        for originator_id, version, topic, state, position in rows
    ]


def touched_students(conn: psycopg.Connection[Any], after: int, up_to: int) -> list[UUID]:
    """Students with an event in the notification range ``(after, up_to]``, sorted."""
    return sorted(row[0] for row in conn.execute(TOUCHED, (after, up_to)).fetchall())


def tenant_students(conn: psycopg.Connection[Any], tenant_id: str) -> list[UUID]:
    """Students of a tenant (every one with an idempotency row), sorted."""
    return sorted(row[0] for row in conn.execute(TENANT_STUDENTS, (tenant_id,)).fetchall())
