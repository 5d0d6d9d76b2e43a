"""Retention (issue 6): erase students idle for ``MASTERY_RETENTION_DAYS`` and purge old
access-log entries. ``plan`` says what would go; ``apply`` does exactly that plan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from domain.errors import StudentErasedError
from domain.student_mastery import StudentMastery
from infrastructure.bootstrap import Container
from infrastructure.compliance.erasure import erase_student


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


def plan(container: Container, now: datetime | None = None) -> RetentionPlan:
    days = container.settings.retention_days
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    if days <= 0:
        return RetentionPlan(cutoff, [], 0)
    url = container.settings.require_database_url()
    with psycopg.connect(url) as conn:
        originators = [
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT i.originator_id FROM mastery_event_ids i "
                "LEFT JOIN student_keys k USING (originator_id) WHERE k.erased_at IS NULL "
                "ORDER BY 1"
            ).fetchall()
        ]
        purge = conn.execute("SELECT count(*) FROM access_log WHERE at < %s", (cutoff,)).fetchone()
    idle = []
    for originator in originators:
        try:
            aggregate: StudentMastery = container.application.repository.get(originator)
        except StudentErasedError:
            continue
        last = aggregate.ledger.last_event_at
        if last is not None and last < cutoff:
            idle.append(IdleStudent(aggregate.tenant_id, aggregate.student_id, last))
    return RetentionPlan(cutoff, idle, int(purge[0]) if purge else 0)


def apply(container: Container, retention: RetentionPlan) -> int:
    """Erase the plan's students and purge its access-log entries; returns students erased."""
    erased = 0
    for student in retention.students:
        erasure = erase_student(
            container,
            student.tenant_id,
            student.student_id,
            requested_by="retention",
            reason=f"no activity since {student.last_event_at.date().isoformat()}",
        )
        erased += erasure.erased_now
    with psycopg.connect(container.settings.require_database_url()) as conn:
        conn.execute("DELETE FROM access_log WHERE at < %s", (retention.cutoff,))
    return erased
