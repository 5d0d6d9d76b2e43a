"""The StudentMastery aggregate: one per (tenant, student).

It records each accepted learning event as a domain event carrying every field of the input
contract (SPEC §3), and keeps a bounded ``MasteryLedger`` as its state so that current mastery
is available without replaying history (and snapshots stay small). Time always comes in as an
argument: ``occurred_at`` is the learning event's own timestamp.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.facts import Component, LearningFact, evidence_from_data
from domain.mastery import Mastery, MasteryLedger


class StudentMastery(Aggregate):
    @staticmethod
    def create_id(tenant_id: str, student_id: str) -> UUID:
        return student_aggregate_id(tenant_id, student_id)

    class Enrolled(Aggregate.Created):
        tenant_id: str
        student_id: str

    @event(Enrolled)
    def __init__(self, tenant_id: str, student_id: str) -> None:
        self.tenant_id = tenant_id
        self.student_id = student_id
        self.ledger = MasteryLedger.empty()
        self.event_count = 0
        self.class_ids: list[str] = []

    class LearningEventRecorded(Aggregate.Event):
        """Base of the four learning facts; every field of the input contract is kept."""

        event_id: str
        occurred_at: datetime
        class_id: str | None
        topic: str
        data: dict[str, Any]
        metadata: dict[str, Any] | None
        content_hash: str

    class ExerciseProgressReported(LearningEventRecorded):
        pass

    class QuizGraded(LearningEventRecorded):
        pass

    class CodeQualityAssessed(LearningEventRecorded):
        pass

    class PracticeRecorded(LearningEventRecorded):
        pass

    @event(ExerciseProgressReported)
    def report_exercise_progress(
        self,
        event_id: str,
        occurred_at: datetime,
        class_id: str | None,
        topic: str,
        data: dict[str, Any],
        metadata: dict[str, Any] | None,
        content_hash: str,
    ) -> None:
        self._take_in(event_id, occurred_at, class_id, topic, Component.COMPLETION, data)

    @event(QuizGraded)
    def grade_quiz(
        self,
        event_id: str,
        occurred_at: datetime,
        class_id: str | None,
        topic: str,
        data: dict[str, Any],
        metadata: dict[str, Any] | None,
        content_hash: str,
    ) -> None:
        self._take_in(event_id, occurred_at, class_id, topic, Component.QUIZ, data)

    @event(CodeQualityAssessed)
    def assess_code_quality(
        self,
        event_id: str,
        occurred_at: datetime,
        class_id: str | None,
        topic: str,
        data: dict[str, Any],
        metadata: dict[str, Any] | None,
        content_hash: str,
    ) -> None:
        self._take_in(event_id, occurred_at, class_id, topic, Component.QUALITY, data)

    @event(PracticeRecorded)
    def record_practice(
        self,
        event_id: str,
        occurred_at: datetime,
        class_id: str | None,
        topic: str,
        data: dict[str, Any],
        metadata: dict[str, Any] | None,
        content_hash: str,
    ) -> None:
        self._take_in(event_id, occurred_at, class_id, topic, Component.CONSISTENCY, data)

    def record(self, learning_event: LearningEventFields) -> None:
        """Record one validated learning event with the command of its component."""
        command = {
            Component.COMPLETION: self.report_exercise_progress,
            Component.QUIZ: self.grade_quiz,
            Component.QUALITY: self.assess_code_quality,
            Component.CONSISTENCY: self.record_practice,
        }[Component(learning_event.component)]
        command(
            learning_event.event_id,
            learning_event.occurred_at,
            learning_event.class_id,
            learning_event.topic,
            learning_event.data,
            learning_event.metadata,
            learning_event.content_hash,
        )

    def mastery(self, as_of: date | None = None) -> Mastery:
        """Mastery as of ``as_of`` (default: the last activity date); not before that date."""
        day = as_of or self.ledger.last_activity_date
        if day is None:
            raise NoLearningEvidenceError(self.tenant_id, self.student_id)
        return self.ledger.mastery(day)

    def _take_in(
        self,
        event_id: str,
        occurred_at: datetime,
        class_id: str | None,
        topic: str,
        component: Component,
        data: dict[str, Any],
    ) -> None:
        fact = LearningFact(event_id, occurred_at, topic, evidence_from_data(component, data))
        self.ledger.add(fact)
        self.event_count += 1
        if class_id is not None and class_id not in self.class_ids:
            self.class_ids.append(class_id)


class LearningEventFields(Protocol):
    """What the aggregate needs of a validated learning event (a structural contract)."""

    event_id: str
    occurred_at: datetime
    class_id: str | None
    topic: str
    component: str
    data: dict[str, Any]
    metadata: dict[str, Any] | None
    content_hash: str


def student_aggregate_id(tenant_id: str, student_id: str) -> UUID:
    """Stable identity of a student's aggregate: uuid5 of tenant and student."""
    return uuid5(NAMESPACE_URL, f"mastery-engine:student:{tenant_id}/{student_id}")


def fact_of(domain_event: StudentMastery.LearningEventRecorded) -> LearningFact:
    """The learning fact a recorded domain event stands for (used by replay and projections)."""
    component = LEARNING_EVENT_COMPONENTS[type(domain_event)]
    return LearningFact(
        domain_event.event_id,
        domain_event.occurred_at,
        domain_event.topic,
        evidence_from_data(component, domain_event.data),
    )


LEARNING_EVENT_COMPONENTS: dict[type[Any], Component] = {
    StudentMastery.ExerciseProgressReported: Component.COMPLETION,
    StudentMastery.QuizGraded: Component.QUIZ,
    StudentMastery.CodeQualityAssessed: Component.QUALITY,
    StudentMastery.PracticeRecorded: Component.CONSISTENCY,
}


class NoLearningEvidenceError(LookupError):
    def __init__(self, tenant_id: str, student_id: str) -> None:
        super().__init__(f"student {tenant_id}/{student_id} has no learning events")
