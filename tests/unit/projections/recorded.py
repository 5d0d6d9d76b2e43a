"""Recorded events for the projection and query unit tests, with no I/O: made by the real
``StudentMastery`` aggregate, numbered in recording order as the event store's notifications
are, and served through an in-memory ``StudentEvents``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from uuid import UUID

from domain.errors import StudentErasedError, UnknownStudentError
from domain.facts import Component
from domain.student_mastery import StudentMastery, student_aggregate_id
from projections.replay import Replay
from projections.view import StudentKey

DATA: dict[Component, dict[str, Any]] = {
    Component.COMPLETION: {"total_exercises": 10, "completed_exercises": 9},
    Component.QUIZ: {"total_questions": 10, "correct_answers": 9, "attempts": 1},
    Component.QUALITY: {"avg_code_quality": 0.9, "correctness": 0.9, "efficiency": 0.8},
    Component.CONSISTENCY: {"activity": "practice"},
}


@dataclass(frozen=True, slots=True)
class Learning:
    """A validated learning event, as the aggregate's ``record`` takes it."""

    event_id: str
    occurred_at: datetime
    component: str
    data: dict[str, Any]
    topic: str = "loops"
    class_id: str | None = "c1"
    metadata: dict[str, Any] | None = None
    content_hash: str = "0" * 64


def learning(
    event_id: str,
    day: date,
    component: Component,
    *,
    hour: int = 9,
    class_id: str | None = "c1",
    **data: Any,
) -> Learning:
    """A learning event of ``component`` on ``day``; ``data`` overrides the default evidence."""
    moment = datetime.combine(day, time(hour), tzinfo=UTC)
    return Learning(event_id, moment, component, {**DATA[component], **data}, class_id=class_id)


@dataclass(slots=True)
class Streams:
    """The part of the library's ``EventStore`` the queries use, over in-memory streams; an
    erased student's stream can no longer be read, as when their data key is destroyed."""

    streams: dict[UUID, list[Any]] = field(default_factory=dict)
    erased: set[UUID] = field(default_factory=set)
    reads: int = 0

    def get(
        self, originator_id: UUID, *, gt: int | None = None, limit: int | None = None
    ) -> list[Any]:
        self.reads += 1
        if originator_id in self.erased:
            raise StudentErasedError(originator_id)
        found = [e for e in self.streams.get(originator_id, []) if e.originator_version > (gt or 0)]
        return found if limit is None else found[:limit]


class InMemoryStudentEvents:
    """``StudentEvents`` over the events of real aggregates, kept in memory."""

    def __init__(self) -> None:
        self.events = Streams()
        self.notifications: list[tuple[int, Any]] = []  # (position, domain event)
        self._students: dict[StudentKey, StudentMastery] = {}

    def record(self, key: StudentKey, *events: Learning) -> list[tuple[int, Any]]:
        """Record ``events`` on the student's aggregate (enrolling a new student first);
        returns the new notifications."""
        student = self._students.get(key) or StudentMastery(key.tenant_id, key.student_id)
        self._students[key] = student
        for event in events:
            student.record(event)
        fresh = [
            (len(self.notifications) + n, e) for n, e in enumerate(student.collect_events(), 1)
        ]
        for _, domain_event in fresh:
            self.events.streams.setdefault(domain_event.originator_id, []).append(domain_event)
        self.notifications.extend(fresh)
        return fresh

    def erase(self, key: StudentKey) -> None:
        self.events.erased.add(student_aggregate_id(key.tenant_id, key.student_id))

    def learning_events(
        self, tenant_id: str, student_id: str
    ) -> Iterator[StudentMastery.LearningEventRecorded]:
        stream = self.events.get(student_aggregate_id(tenant_id, student_id))
        if not stream:
            raise UnknownStudentError(tenant_id, student_id)
        return (e for e in stream if isinstance(e, StudentMastery.LearningEventRecorded))

    def replay(self, tenant_id: str, student_id: str, as_of: date) -> Replay:
        return Replay.of(tenant_id, student_id, as_of, self.learning_events(tenant_id, student_id))
