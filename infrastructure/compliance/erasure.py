"""GDPR erasure by crypto-shredding (issue 6).

Erasing a student destroys their data key: their events stay in the log — positions, counts and
order intact — but can never be decrypted again. Their read models and roster entries are
removed, their aggregate snapshots deleted (derived data), and an entry without personal data
goes to the ``erasures`` register. Events written before encryption was switched on (legacy
plaintext) are sealed in place with a throw-away key, so they become unreadable too.
Idempotent: erasing an erased student changes nothing and says so.

The order makes it final (decision 28): the key is destroyed and committed first, with a
``NOTIFY`` that tells every process to drop its cached copy of the key; only then are the read
models sealed — a tombstone that every later projection write refuses — and dropped. A
projector that read the student's events before the key was destroyed writes nothing after the
seal, and one that reads after the commit cannot decrypt them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psycopg

from domain.errors import StudentErasedError, UnknownStudentError
from domain.student_mastery import student_aggregate_id
from infrastructure.bootstrap import Container
from infrastructure.event_store.cipher_mapper import MARKER
from infrastructure.event_store.keys import ERASURE_CHANNEL
from infrastructure.settings import ConfigurationError
from projections.view import StudentKey


@dataclass(frozen=True, slots=True)
class Erasure:
    tenant_id: str
    student_id: str
    erased_now: bool  # False: the student had already been erased
    events_kept: int  # events that stay in the log, unreadable


def erase_student(
    container: Container, tenant_id: str, student_id: str, *, requested_by: str, reason: str
) -> Erasure:
    keyring = container.application.keyring
    if keyring is None:
        raise ConfigurationError("erasure needs MASTERY_MASTER_KEY (per-student encryption)")
    originator = student_aggregate_id(tenant_id, student_id)
    classes = _classes_while_readable(container, tenant_id, student_id)
    with psycopg.connect(container.settings.require_database_url()) as conn:
        events = _count_events(conn, originator)
        if classes is None and events == 0:
            raise UnknownStudentError(tenant_id, student_id)
        erased_now = keyring.destroy(conn, originator, tenant_id)
        conn.execute(
            "UPDATE mastery_events SET state = %s || %s::bytea "
            "WHERE originator_id = %s AND substring(state from 1 for %s) <> %s",
            (MARKER, os.urandom(28), originator, len(MARKER), MARKER),
        )
        conn.execute("DELETE FROM mastery_snapshots WHERE originator_id = %s", (originator,))
        if erased_now:
            conn.execute(
                "INSERT INTO erasures (tenant_id, originator_id, requested_by, reason) "
                "VALUES (%s, %s, %s, %s)",
                (tenant_id, originator, requested_by, reason),
            )
        conn.execute("SELECT pg_notify(%s, %s)", (ERASURE_CHANNEL, str(originator)))
    container.view.erase_student(StudentKey(tenant_id, student_id), classes or [])
    return Erasure(tenant_id, student_id, erased_now, events)


def _classes_while_readable(
    container: Container, tenant_id: str, student_id: str
) -> list[str] | None:
    """The student's classes (for roster removal); None if there is nothing readable."""
    try:
        return list(container.application.student(tenant_id, student_id).class_ids)
    except (UnknownStudentError, StudentErasedError):
        return None


def _count_events(conn: psycopg.Connection[tuple[int]], originator: object) -> int:
    row = conn.execute(
        "SELECT count(*) FROM mastery_events WHERE originator_id = %s", (originator,)
    ).fetchone()
    return int(row[0]) if row else 0
