"""Retention (issue 6): erase students idle for ``MASTERY_RETENTION_DAYS`` and purge old
access-log entries. ``plan`` says what would go; ``apply`` does exactly that plan."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from domain.errors import StudentErasedError
from domain.student_mastery import StudentMastery
from infrastructure.compliance import access_log
from infrastructure.compliance.erasure import erase_student
from infrastructure.event_store import tables
from infrastructure.event_store.application import MasteryApplication
from projections.view import MasteryView


@dataclass(frozen=True, slots=True)
class IdleStudent:
    tenant_id: str
    student_id: str
    last_event_at: datetime


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    cutoff: datetime
    students: list[IdleStudent]
    access_log_entries: int


def plan(
    application: MasteryApplication,
    database_url: str,
    retention_days: int,
    now: datetime | None = None,
) -> RetentionPlan:
    """Who and what ``retention_days`` (``MASTERY_RETENTION_DAYS``; 0 or less keeps everything)
    lets go as of ``now``; ``application`` loads each student to find their last activity."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    if retention_days <= 0:
        return RetentionPlan(cutoff, [], 0)
    with psycopg.connect(database_url) as conn:
        originators = tables.unerased_originators(conn)
        purge = access_log.count_before(conn, cutoff)
    idle = []
    for originator in originators:
        try:
            aggregate: StudentMastery = application.repository.get(originator)
        except StudentErasedError:
            continue
        last = aggregate.ledger.last_event_at
        if last is not None and last < cutoff:
            idle.append(IdleStudent(aggregate.tenant_id, aggregate.student_id, last))
    return RetentionPlan(cutoff, idle, purge)


def apply(
    application: MasteryApplication,
    view: MasteryView,
    database_url: str,
    retention: RetentionPlan,
    generations: Callable[[], Mapping[str, MasteryView]] | None = None,
) -> int:
    """Erase the plan's students (in every generation, when given) and purge its access-log
    entries; returns students erased."""
    erased = 0
    for student in retention.students:
        erasure = erase_student(
            application,
            view,
            database_url,
            student.tenant_id,
            student.student_id,
            requested_by="retention",
            reason=f"no activity since {student.last_event_at.date().isoformat()}",
            generations=generations,
        )
        erased += erasure.erased_now
    with psycopg.connect(database_url) as conn:
        access_log.purge_before(conn, retention.cutoff)
    return erased
