"""The per-component event models the OpenAPI document is generated from are the contract's
validating models: the envelope's fields in its order, and each component's ``data`` model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from infrastructure.ingest.contract import (
    DATA_MODELS,
    EVENT_VARIANTS,
    InvalidEvent,
    LearningEventIn,
    validate_event,
)

NOW = datetime(2026, 1, 14, 12, 0, tzinfo=UTC)


def test_there_is_one_variant_per_component_typed_by_its_data_model() -> None:
    by_component = {
        variant.model_fields["component"].annotation.__args__[0]: variant  # type: ignore[union-attr]
        for variant in EVENT_VARIANTS
    }

    assert sorted(by_component) == sorted(DATA_MODELS)
    for component, variant in by_component.items():
        assert variant.model_fields["data"].annotation is DATA_MODELS[component]
        assert list(variant.model_fields) == list(LearningEventIn.model_fields)
        for name, field in LearningEventIn.model_fields.items():
            if name not in ("component", "data"):
                assert repr(variant.model_fields[name]) == repr(field), name


def event(component: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": "e-1",
        "timestamp": "2026-01-14T10:30:00Z",
        "student_id": "s-1",
        "component": component,
        "data": data,
    }


CASES = [
    ("completion", {"total_exercises": 5, "completed_exercises": 5}),
    ("completion", {"total_exercises": 5, "completed_exercises": 6}),
    ("completion", {"total_exercises": 5, "completed_exercises": 1, "difficulty": "hard"}),
    ("quiz", {"total_questions": 3, "correct_answers": 3, "attempts": 100}),
    ("quiz", {"total_questions": 3, "correct_answers": -1}),
    ("quiz", {"total_questions": 3.0, "correct_answers": 1}),
    ("quiz", {"total_questions": 3, "correct_answers": 1, "time_spent_seconds": None}),
    ("quality", {"avg_code_quality": 1, "correctness": 0, "efficiency": 0.5}),
    ("quality", {"avg_code_quality": 1.5, "correctness": 0, "efficiency": 0.5}),
    ("consistency", {}),
    ("consistency", {"activity": "x" * 65}),
    ("consistency", {"other": 1}),
]


@pytest.mark.parametrize(("component", "data"), CASES)
def test_a_variant_judges_data_as_validation_does(component: str, data: dict[str, Any]) -> None:
    variant = next(v for v in EVENT_VARIANTS if v.__name__.lower().startswith(component))
    obj = event(component, data)
    try:
        validate_event(obj, NOW)
        refused: list[tuple[str, str]] = []
    except InvalidEvent as exc:
        refused = [(error.loc, error.msg) for error in exc.errors]

    try:
        variant.model_validate(obj)
        judged: list[tuple[str, str]] = []
    except ValidationError as exc:
        judged = [
            (".".join(str(part) for part in e["loc"]), e["msg"].removeprefix("Value error, "))
            for e in exc.errors(include_url=False)
        ]

    assert judged == refused
