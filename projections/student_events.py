"""The event store as the read side sees it: a port, so the queries can fall back to a
student's recorded events without depending on the store's adapter.

``MasteryApplication`` satisfies ``StudentEvents`` structurally; the unit tests give the queries
an in-memory fake instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Protocol
from uuid import UUID

from domain.student_mastery import StudentMastery
from projections.replay import Replay

__all__ = ["RecordedEvents", "Replay", "StudentEvents"]  # Replay: the queries' name for it


class RecordedEvents(Protocol):
    """The part of the library's ``EventStore`` the queries page a student's events with."""

    def get(
        self, originator_id: UUID, *, gt: int | None = None, limit: int | None = None
    ) -> Iterable[object]:
        """The aggregate's events in version order, after version ``gt``, at most ``limit``."""
        ...


class StudentEvents(Protocol):
    """What the queries read from the event store. ``learning_events`` and ``replay`` raise
    ``UnknownStudentError`` for a student with no recorded event."""

    @property
    def events(self) -> RecordedEvents: ...

    def learning_events(
        self, tenant_id: str, student_id: str
    ) -> Iterable[StudentMastery.LearningEventRecorded]:
        """The student's recorded learning events, in recorded order."""
        ...

    def replay(self, tenant_id: str, student_id: str, as_of: date) -> Replay:
        """The student's history rebuilt from the event store, up to ``as_of``."""
        ...
