"""The StudentMastery aggregate: one per (tenant, student).

It records each accepted learning event as a domain event carrying every field of the input
contract (SPEC §3), and keeps a bounded ``MasteryLedger`` as its state so that current mastery
is available without replaying history (and snapshots stay small). Time always comes in as an
argument: ``occurred_at`` is the learning event's own timestamp.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, ClassVar, Protocol
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

        component: ClassVar[Component]
        class_version: ClassVar[int] = 2

        event_id: str
        occurred_at: datetime
        class_id: str | None
        topic: str
        data: dict[str, Any]
        metadata_json: str | None  # the producer's metadata, verbatim, as JSON text
        content_hash: str

        @property
        def metadata(self) -> dict[str, Any] | None:
            """The producer's metadata. Stored as text: free-form JSON must never be mistaken
            for an encoded value when the event is read back."""
            return None if self.metadata_json is None else json.loads(self.metadata_json)

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Version 1 kept metadata as an object; version 2 keeps it as JSON text."""
            state["metadata_json"] = _json_text(state.pop("metadata", None))

        def apply(self, aggregate: Any) -> None:
            assert isinstance(aggregate, StudentMastery)
            aggregate.take_in(self)

        @property
        def fact(self) -> LearningFact:
            evidence = evidence_from_data(self.component, self.data)
            return LearningFact(self.event_id, self.occurred_at, self.topic, evidence)

    class ExerciseProgressReported(LearningEventRecorded):
        component = Component.COMPLETION

    class QuizGraded(LearningEventRecorded):
        component = Component.QUIZ

    class CodeQualityAssessed(LearningEventRecorded):
        component = Component.QUALITY

    class PracticeRecorded(LearningEventRecorded):
        component = Component.CONSISTENCY

    def report_exercise_progress(self, learning_event: LearningEventFields) -> None:
        self._trigger(self.ExerciseProgressReported, learning_event)

    def grade_quiz(self, learning_event: LearningEventFields) -> None:
        self._trigger(self.QuizGraded, learning_event)

    def assess_code_quality(self, learning_event: LearningEventFields) -> None:
        self._trigger(self.CodeQualityAssessed, learning_event)

    def record_practice(self, learning_event: LearningEventFields) -> None:
        self._trigger(self.PracticeRecorded, learning_event)

    def record(self, learning_event: LearningEventFields) -> None:
        """Record one validated learning event with the command of its component."""
        match learning_event.component:
            case Component.COMPLETION:
                self.report_exercise_progress(learning_event)
            case Component.QUIZ:
                self.grade_quiz(learning_event)
            case Component.QUALITY:
                self.assess_code_quality(learning_event)
            case Component.CONSISTENCY:
                self.record_practice(learning_event)
            case other:
                raise UnknownComponentError(other)

    def take_in(self, recorded: LearningEventRecorded) -> None:
        self.ledger.add(recorded.fact)
        self.event_count += 1
        if recorded.class_id is not None and recorded.class_id not in self.class_ids:
            self.class_ids.append(recorded.class_id)

    def _trigger(
        self, event_class: type[LearningEventRecorded], learning_event: LearningEventFields
    ) -> None:
        self.trigger_event(
            event_class,
            event_id=learning_event.event_id,
            occurred_at=learning_event.occurred_at,
            class_id=learning_event.class_id,
            topic=learning_event.topic,
            data=learning_event.data,
            metadata_json=_json_text(learning_event.metadata),
            content_hash=learning_event.content_hash,
        )

    def mastery(self, as_of: date | None = None) -> Mastery:
        """Mastery as of ``as_of`` (default: the last activity date); not before that date."""
        day = as_of or self.ledger.last_activity_date
        if day is None:
            raise NoLearningEvidenceError(self.tenant_id, self.student_id)
        return self.ledger.mastery(day)


class LearningEventFields(Protocol):
    """What the aggregate needs of a validated learning event (a structural contract)."""

    @property
    def event_id(self) -> str: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def class_id(self) -> str | None: ...
    @property
    def topic(self) -> str: ...
    @property
    def component(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def metadata(self) -> dict[str, Any] | None: ...
    @property
    def content_hash(self) -> str: ...


def _json_text(value: dict[str, Any] | None) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def student_aggregate_id(tenant_id: str, student_id: str) -> UUID:
    """Stable identity of a student's aggregate: uuid5 of tenant and student."""
    return uuid5(NAMESPACE_URL, f"mastery-engine:student:{tenant_id}/{student_id}")


def fact_of(domain_event: StudentMastery.LearningEventRecorded) -> LearningFact:
    """The learning fact a recorded domain event stands for (used by replay and projections)."""
    return domain_event.fact


class UnknownComponentError(ValueError):
    def __init__(self, component: str) -> None:
        super().__init__(f"unknown learning component {component!r}")


class NoLearningEvidenceError(LookupError):
    def __init__(self, tenant_id: str, student_id: str) -> None:
        super().__init__(f"student {tenant_id}/{student_id} has no learning events")
