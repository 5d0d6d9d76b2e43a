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
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import psycopg

from domain.errors import StudentErasedError, UnknownStudentError
from domain.student_mastery import student_aggregate_id
from infrastructure.event_store import tables
from infrastructure.event_store.application import MasteryApplication
from infrastructure.event_store.keys import ERASURE_CHANNEL
from infrastructure.settings import ConfigurationError
from projections.view import MasteryView, StudentKey


@dataclass(frozen=True, slots=True)
class Erasure:
    tenant_id: str
    student_id: str
    erased_now: bool  # False: the student had already been erased
    events_kept: int  # events that stay in the log, unreadable


def erase_student(
    application: MasteryApplication,
    view: MasteryView,
    database_url: str,
    tenant_id: str,
    student_id: str,
    *,
    requested_by: str,
    reason: str,
    generations: Callable[[], Mapping[str, MasteryView]] | None = None,
) -> Erasure:
    """Erase the student: ``application`` holds the key ring and reads the student's classes,
    ``view`` holds the read models to seal and drop, ``database_url`` the event store, and
    ``generations`` (when given) every generation's read models, sealed too (SPEC §4b)."""
    keyring = application.keyring
    if keyring is None:
        raise ConfigurationError("erasure needs MASTERY_MASTER_KEY (per-student encryption)")
    originator = student_aggregate_id(tenant_id, student_id)
    classes = _classes_while_readable(application, tenant_id, student_id)
    with psycopg.connect(database_url) as conn:
        events = tables.count_events(conn, originator)
        if classes is None and events == 0:
            raise UnknownStudentError(tenant_id, student_id)
        erased_now = keyring.destroy(conn, originator, tenant_id)
        tables.seal_plaintext_events(conn, originator, os.urandom(28))
        tables.delete_snapshots(conn, originator)
        if erased_now:
            conn.execute(
                "INSERT INTO erasures (tenant_id, originator_id, requested_by, reason) "
                "VALUES (%s, %s, %s, %s)",
                (tenant_id, originator, requested_by, reason),
            )
        conn.execute("SELECT pg_notify(%s, %s)", (ERASURE_CHANNEL, str(originator)))
    key = StudentKey(tenant_id, student_id)
    view.erase_student(key, classes or [])
    if generations is not None:
        _seal_every_generation(generations, key, classes or [])
    return Erasure(tenant_id, student_id, erased_now, events)


def _seal_every_generation(
    generations: Callable[[], Mapping[str, MasteryView]], key: StudentKey, classes: list[str]
) -> None:
    """Seal the student in every generation, reading the registry again until it names none
    not sealed yet: a generation registered after the last reading is built after the key was
    destroyed and copies the tombstones of the others (``generations.lifecycle.build``)."""
    sealed: set[str] = set()
    while pending := {n: v for n, v in generations().items() if n not in sealed}:
        for name, view in pending.items():
            view.erase_student(key, classes)
            sealed.add(name)


def _classes_while_readable(
    application: MasteryApplication, tenant_id: str, student_id: str
) -> list[str] | None:
    """The student's classes (for roster removal); None if there is nothing readable."""
    try:
        return list(application.student(tenant_id, student_id).class_ids)
    except (UnknownStudentError, StudentErasedError):
        return None
