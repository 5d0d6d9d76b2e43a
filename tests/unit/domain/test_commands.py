"""The validated command every ingest path builds."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.commands import EVENT_TYPE, ValidatedEvent
from domain.student_mastery import StudentMastery


def validated(**changes: object) -> ValidatedEvent:
    fields: dict[str, object] = {
        "tenant_id": "acme",
        "student_id": "s-1",
        "event_id": "e-1",
        "occurred_at": datetime(2026, 1, 14, 10, 30, tzinfo=UTC),
        "class_id": None,
        "topic": "general",
        "component": "quiz",
        "data": {"total_questions": 10, "correct_answers": 7, "attempts": 1},
        "metadata": {"source": "quiz-agent"},
        "content_hash": "ab" * 32,
    }
    fields.update(changes)
    return ValidatedEvent(**fields)  # type: ignore[arg-type]


def test_an_event_is_keyed_by_tenant_and_event_id() -> None:
    assert validated().key == ("acme", "e-1")


def test_the_json_object_is_the_input_contract_shape() -> None:
    event = validated(
        occurred_at=datetime(2026, 1, 14, 12, 30, tzinfo=timezone(timedelta(hours=2))),
        class_id="c-1",
    )

    assert event.to_json_object() == {
        "event_id": "e-1",
        "event_type": "mastery.calculation.requested",
        "timestamp": "2026-01-14T10:30:00Z",
        "tenant_id": "acme",
        "student_id": "s-1",
        "class_id": "c-1",
        "component": "quiz",
        "topic": "general",
        "data": {"total_questions": 10, "correct_answers": 7, "attempts": 1},
        "metadata": {"source": "quiz-agent"},
    }
    assert list(event.to_json_object()) == [
        "event_id",
        "event_type",
        "timestamp",
        "tenant_id",
        "student_id",
        "class_id",
        "component",
        "topic",
        "data",
        "metadata",
    ]
    assert EVENT_TYPE == "mastery.calculation.requested"


def test_an_event_is_a_frozen_value() -> None:
    event = validated()

    with pytest.raises(dataclasses.FrozenInstanceError):
        event.topic = "other"  # type: ignore[misc]
    assert event == validated()
    assert event != validated(content_hash="cd" * 32)


@pytest.mark.parametrize(
    ("component", "recorded"),
    [
        ("completion", StudentMastery.ExerciseProgressReported),
        ("quiz", StudentMastery.QuizGraded),
        ("quality", StudentMastery.CodeQualityAssessed),
        ("consistency", StudentMastery.PracticeRecorded),
    ],
)
def test_the_aggregate_records_a_validated_event_as_its_components_fact(
    component: str, recorded: type[StudentMastery.LearningEventRecorded]
) -> None:
    data = {
        "completion": {"total_exercises": 4, "completed_exercises": 3, "difficulty": "beginner"},
        "quiz": {"total_questions": 10, "correct_answers": 7, "attempts": 1},
        "quality": {"avg_code_quality": 0.5, "correctness": 0.5, "efficiency": 0.5},
        "consistency": {},
    }[component]
    event = validated(component=component, data=data)
    student = StudentMastery("acme", "s-1")

    student.record(event)

    last = student.collect_events()[-1]
    assert isinstance(last, recorded)
    assert (last.event_id, last.occurred_at, last.content_hash) == (
        "e-1",
        event.occurred_at,
        event.content_hash,
    )
    assert last.metadata == {"source": "quiz-agent"}
    assert student.event_count == 1
