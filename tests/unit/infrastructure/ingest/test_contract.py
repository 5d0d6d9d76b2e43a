"""Input contract v1 (SPEC §3): what every ingest path accepts, how it normalizes it, and the
exact errors a producer gets back for what it refuses."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from domain.commands import ValidatedEvent
from infrastructure.ingest.contract import (
    MAX_EVENT_BYTES,
    FieldError,
    InvalidEvent,
    canonical_json,
    json_depth,
    parse_json,
    parse_timestamp,
    validate_event,
)

NOW = datetime(2026, 1, 14, 12, 0, tzinfo=UTC)
QUIZ = {
    "event_id": "e-1",
    "timestamp": "2026-01-14T10:30:00Z",
    "student_id": "s-1",
    "component": "quiz",
    "data": {"total_questions": 10, "correct_answers": 7},
}
PATTERN_ID = "String should match pattern '^[A-Za-z0-9._-]{1,128}$'"
RFC3339_MESSAGE = "must be an RFC 3339 date-time with a UTC offset, e.g. 2026-01-14T10:30:00Z"


def event(**changes: Any) -> dict[str, Any]:
    """The quiz event above with some fields changed."""
    obj: dict[str, Any] = copy.deepcopy(QUIZ)
    obj.update(changes)
    return obj


def rejection(obj: Any) -> tuple[str, list[dict[str, str]], str]:
    with pytest.raises(InvalidEvent) as refused:
        validate_event(obj, NOW)
    return refused.value.code, [e.as_dict() for e in refused.value.errors], str(refused.value)


# --- accepted events -----------------------------------------------------------------------------


def test_a_quiz_event_is_normalized_with_its_defaults() -> None:
    validated = validate_event(event(), NOW)

    assert validated == ValidatedEvent(
        tenant_id="default",
        student_id="s-1",
        event_id="e-1",
        occurred_at=datetime(2026, 1, 14, 10, 30, tzinfo=UTC),
        class_id=None,
        topic="general",
        component="quiz",
        data={"total_questions": 10, "correct_answers": 7, "attempts": 1},
        metadata=None,
        content_hash="fdc4b26fbdb7b72782f9acaaf358ad6325391368c8a4b2c80e8fd1ebf4497fb3",
    )
    assert validated.occurred_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("component", "data", "normalized"),
    [
        (
            "completion",
            {"total_exercises": 5, "completed_exercises": 5},
            {"total_exercises": 5, "completed_exercises": 5, "difficulty": "intermediate"},
        ),
        (
            "completion",
            {"total_exercises": 1_000_000, "completed_exercises": 0, "difficulty": "advanced"},
            {"total_exercises": 1_000_000, "completed_exercises": 0, "difficulty": "advanced"},
        ),
        (
            "quiz",
            {"total_questions": 3, "correct_answers": 3, "attempts": 100, "time_spent_seconds": 0},
            {
                "total_questions": 3,
                "correct_answers": 3,
                "attempts": 100,
                "time_spent_seconds": 0.0,
            },
        ),
        (
            "quality",
            {"avg_code_quality": 0.5, "correctness": 1, "efficiency": 0},
            {"avg_code_quality": 0.5, "correctness": 1.0, "efficiency": 0.0},
        ),
        ("consistency", {}, {}),
        ("consistency", {"activity": "réading ✓"}, {"activity": "réading ✓"}),
    ],
)
def test_each_component_is_accepted_with_its_data_normalized(
    component: str, data: dict[str, Any], normalized: dict[str, Any]
) -> None:
    validated = validate_event(event(component=component, data=data), NOW)

    assert validated.component == component
    assert validated.data == normalized
    assert [type(v) for v in validated.data.values()] == [type(v) for v in normalized.values()]


def test_every_field_of_the_contract_is_kept() -> None:
    validated = validate_event(
        event(
            event_type="mastery.calculation.requested",
            tenant_id="acme-2",
            class_id="c.1",
            topic="python.loops",
            metadata={"source": "quiz-agent", "nested": {"list": [1, 2.5, None, True]}},
        ),
        NOW,
    )

    assert (validated.tenant_id, validated.class_id, validated.topic) == (
        "acme-2",
        "c.1",
        "python.loops",
    )
    assert validated.metadata == {"source": "quiz-agent", "nested": {"list": [1, 2.5, None, True]}}
    assert validated.to_json_object()["timestamp"] == "2026-01-14T10:30:00Z"


@pytest.mark.parametrize(
    ("timestamp", "occurred_at"),
    [
        ("2026-01-14T10:30:00Z", datetime(2026, 1, 14, 10, 30, tzinfo=UTC)),
        ("2026-01-14t10:30:00z", datetime(2026, 1, 14, 10, 30, tzinfo=UTC)),
        ("2026-01-14 12:30:00+02:00", datetime(2026, 1, 14, 10, 30, tzinfo=UTC)),
        ("2026-01-14T05:30:00-05:00", datetime(2026, 1, 14, 10, 30, tzinfo=UTC)),
        ("2026-01-14T10:30:00.123456789Z", datetime(2026, 1, 14, 10, 30, 0, 123456, tzinfo=UTC)),
        ("1970-01-01T00:00:00Z", datetime(1970, 1, 1, tzinfo=UTC)),
        ("1970-01-01T01:00:00+01:00", datetime(1970, 1, 1, tzinfo=UTC)),
        ("2026-01-15T12:00:00Z", NOW + timedelta(hours=24)),
    ],
)
def test_a_timestamp_with_an_offset_is_read_in_utc(timestamp: str, occurred_at: datetime) -> None:
    validated = validate_event(event(timestamp=timestamp), NOW)

    assert validated.occurred_at == occurred_at
    assert validated.occurred_at.tzinfo is UTC


def test_the_content_hash_is_over_the_normalized_event() -> None:
    plain = validate_event(event(), NOW).content_hash
    spelled_out = validate_event(
        event(
            timestamp="2026-01-14T11:30:00+01:00",
            event_type="mastery.calculation.requested",
            tenant_id="default",
            topic="general",
            data={"attempts": 1, "correct_answers": 7, "total_questions": 10},
        ),
        NOW,
    ).content_hash

    assert spelled_out == plain
    assert validate_event(event(metadata={"a": 1}), NOW).content_hash != plain
    assert validate_event(event(timestamp="2026-01-14T10:30:01Z"), NOW).content_hash != plain


# --- refused events ------------------------------------------------------------------------------


@pytest.mark.parametrize("obj", [[], "event", None, 1, 1.5, True, [QUIZ]])
def test_anything_but_an_object_is_refused(obj: Any) -> None:
    assert rejection(obj) == (
        "validation_error",
        [{"loc": "", "msg": "an event must be a JSON object", "type": "type"}],
        "an event must be a JSON object",
    )


def test_every_missing_field_is_named() -> None:
    assert rejection({}) == (
        "validation_error",
        [
            {"loc": "event_id", "msg": "Field required", "type": "missing"},
            {"loc": "timestamp", "msg": "Field required", "type": "missing"},
            {"loc": "student_id", "msg": "Field required", "type": "missing"},
            {"loc": "component", "msg": "Field required", "type": "missing"},
            {"loc": "data", "msg": "Field required", "type": "missing"},
        ],
        "event_id: Field required; timestamp: Field required; student_id: Field required; "
        "component: Field required; data: Field required",
    )


TIMESTAMP_REJECTIONS = [
    ("2026-01-14T10:30:00", RFC3339_MESSAGE, "value_error"),
    ("2026-01-14", RFC3339_MESSAGE, "value_error"),
    ("2026-01-14T10:30Z", RFC3339_MESSAGE, "value_error"),
    ("14/01/2026 10:30:00Z", RFC3339_MESSAGE, "value_error"),
    ("2026-01-14T10:30:00+0200", RFC3339_MESSAGE, "value_error"),
    (  # \d matches any Unicode digit (these are fullwidth); the parser then refuses them
        "\uff12\uff10\uff12\uff16-01-14T10:30:00Z",
        "is not a valid date-time: Invalid isoformat string: "
        "'\uff12\uff10\uff12\uff16-01-14T10:30:00Z'",
        "value_error",
    ),
    ("", RFC3339_MESSAGE, "value_error"),
    (
        "2026-02-30T10:00:00Z",
        "is not a valid date-time: day is out of range for month",
        "value_error",
    ),
    ("2026-01-14T24:00:00Z", "is not a valid date-time: hour must be in 0..23", "value_error"),
    (
        "9999-12-31T23:59:59-01:00",
        "is outside the range of representable date-times",
        "value_error",
    ),
    (
        "0001-01-01T00:00:00+01:00",
        "is outside the range of representable date-times",
        "value_error",
    ),
    ("1969-12-31T23:59:59Z", "must not be before 1970-01-01T00:00:00Z", "value_error"),
    ("1970-01-01T00:30:00+01:00", "must not be before 1970-01-01T00:00:00Z", "value_error"),
    ("2026-01-15T12:00:01Z", "must not be more than 24 h after the time of ingest", "future"),
    ("9999-01-01T00:00:00Z", "must not be more than 24 h after the time of ingest", "future"),
]


@pytest.mark.parametrize(("timestamp", "msg", "error_type"), TIMESTAMP_REJECTIONS)
def test_a_timestamp_is_refused_with_its_reason(timestamp: str, msg: str, error_type: str) -> None:
    assert rejection(event(timestamp=timestamp)) == (
        "validation_error",
        [{"loc": "timestamp", "msg": msg, "type": error_type}],
        f"timestamp: {msg}",
    )


FIELD_REJECTIONS = [
    ({"timestamp": 1768386600}, "timestamp", "Input should be a valid string", "string_type"),
    ({"event_id": "has space"}, "event_id", PATTERN_ID, "string_pattern_mismatch"),
    ({"event_id": "é"}, "event_id", PATTERN_ID, "string_pattern_mismatch"),
    ({"event_id": "a" * 129}, "event_id", PATTERN_ID, "string_pattern_mismatch"),
    ({"event_id": ""}, "event_id", PATTERN_ID, "string_pattern_mismatch"),
    ({"event_id": 5}, "event_id", "Input should be a valid string", "string_type"),
    ({"student_id": "s/1"}, "student_id", PATTERN_ID, "string_pattern_mismatch"),
    ({"class_id": "c 1"}, "class_id", PATTERN_ID, "string_pattern_mismatch"),
    ({"topic": "a\x00b"}, "topic", PATTERN_ID, "string_pattern_mismatch"),
    (
        {"tenant_id": "Acme"},
        "tenant_id",
        "String should match pattern '^[a-z0-9][a-z0-9-]{0,62}$'",
        "string_pattern_mismatch",
    ),
    (
        {"component": "nope"},
        "component",
        "Input should be 'completion', 'quiz', 'quality' or 'consistency'",
        "literal_error",
    ),
    (
        {"event_type": "other"},
        "event_type",
        "Input should be 'mastery.calculation.requested'",
        "literal_error",
    ),
    ({"extra": 1}, "extra", "Extra inputs are not permitted", "extra_forbidden"),
    ({"data": [1]}, "data", "Input should be a valid dictionary", "dict_type"),
    ({"data": None}, "data", "Input should be a valid dictionary", "dict_type"),
    ({"metadata": [1]}, "metadata", "Input should be a valid dictionary", "dict_type"),
    (
        {"metadata": {"a": [[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]}},
        "metadata",
        "must be at most 16 levels deep",
        "value_error",
    ),
    (
        {"metadata": {"a": "x" * 4096}},
        "metadata",
        "must be at most 4096 bytes serialized",
        "value_error",
    ),
    (
        {"metadata": {"a": object()}},
        "metadata",
        "must hold only strings, numbers, booleans and null",
        "value_error",
    ),
    (
        {"metadata": {"a": 10**30}},
        "metadata",
        "must hold only strings, numbers, booleans and null",
        "value_error",
    ),
]


@pytest.mark.parametrize(("changes", "loc", "msg", "error_type"), FIELD_REJECTIONS)
def test_a_field_is_refused_with_its_reason(
    changes: dict[str, Any], loc: str, msg: str, error_type: str
) -> None:
    assert rejection(event(**changes)) == (
        "validation_error",
        [{"loc": loc, "msg": msg, "type": error_type}],
        f"{loc}: {msg}",
    )


DATA_REJECTIONS = [
    (
        "quiz",
        {"total_questions": 10, "correct_answers": 11},
        "data",
        "correct_answers must not exceed total_questions",
        "value_error",
    ),
    (
        "quiz",
        {"total_questions": 0, "correct_answers": 0},
        "data.total_questions",
        "Input should be greater than or equal to 1",
        "greater_than_equal",
    ),
    (
        "quiz",
        {"total_questions": 1_000_001, "correct_answers": 0},
        "data.total_questions",
        "Input should be less than or equal to 1000000",
        "less_than_equal",
    ),
    (
        "quiz",
        {"total_questions": 10**30, "correct_answers": 0},
        "data.total_questions",
        "Input should be less than or equal to 1000000",
        "less_than_equal",
    ),
    (
        "quiz",
        {"total_questions": 1.2345678901234568e29, "correct_answers": 0},
        "data.total_questions",
        "Input should be a valid integer",
        "int_type",
    ),
    (
        "quiz",
        {"total_questions": True, "correct_answers": 0},
        "data.total_questions",
        "Input should be a valid integer",
        "int_type",
    ),
    (
        "quiz",
        {"total_questions": 10.0, "correct_answers": 0},
        "data.total_questions",
        "Input should be a valid integer",
        "int_type",
    ),
    (
        "quiz",
        {"total_questions": "10", "correct_answers": 0},
        "data.total_questions",
        "Input should be a valid integer",
        "int_type",
    ),
    (
        "quiz",
        {"total_questions": 10, "correct_answers": -1},
        "data.correct_answers",
        "Input should be greater than or equal to 0",
        "greater_than_equal",
    ),
    (
        "quiz",
        {"total_questions": 10, "correct_answers": 1, "attempts": 0},
        "data.attempts",
        "Input should be greater than or equal to 1",
        "greater_than_equal",
    ),
    (
        "quiz",
        {"total_questions": 10, "correct_answers": 1, "attempts": 101},
        "data.attempts",
        "Input should be less than or equal to 100",
        "less_than_equal",
    ),
    (
        "quiz",
        {"total_questions": 10, "correct_answers": 1, "time_spent_seconds": -1.0},
        "data.time_spent_seconds",
        "Input should be greater than or equal to 0",
        "greater_than_equal",
    ),
    (
        "quiz",
        {"total_questions": 10, "correct_answers": 1, "time_spent_seconds": float("nan")},
        "data.time_spent_seconds",
        "Input should be a finite number",
        "finite_number",
    ),
    (
        "quiz",
        {"total_questions": 10, "correct_answers": 1, "time_spent_seconds": float("inf")},
        "data.time_spent_seconds",
        "Input should be a finite number",
        "finite_number",
    ),
    (
        "quiz",
        {"total_questions": 10, "correct_answers": 1, "x": 1},
        "data.x",
        "Extra inputs are not permitted",
        "extra_forbidden",
    ),
    (
        "completion",
        {"total_exercises": 5, "completed_exercises": 6},
        "data",
        "completed_exercises must not exceed total_exercises",
        "value_error",
    ),
    (
        "completion",
        {"total_exercises": 5, "completed_exercises": 1, "difficulty": "hard"},
        "data.difficulty",
        "Input should be 'beginner', 'intermediate' or 'advanced'",
        "literal_error",
    ),
    (
        "quality",
        {"avg_code_quality": 1.5, "correctness": 0.5, "efficiency": 0.5},
        "data.avg_code_quality",
        "Input should be less than or equal to 1",
        "less_than_equal",
    ),
    (
        "quality",
        {"avg_code_quality": 0.5, "correctness": -0.0001, "efficiency": 0.5},
        "data.correctness",
        "Input should be greater than or equal to 0",
        "greater_than_equal",
    ),
    (
        "quality",
        {"avg_code_quality": float("nan"), "correctness": 0.5, "efficiency": 0.5},
        "data.avg_code_quality",
        "Input should be a finite number",
        "finite_number",
    ),
    (
        "quality",
        {"avg_code_quality": "0.5", "correctness": 0.5, "efficiency": 0.5},
        "data.avg_code_quality",
        "Input should be a valid number",
        "float_type",
    ),
    (
        "consistency",
        {"activity": "x" * 65},
        "data.activity",
        "String should have at most 64 characters",
        "string_too_long",
    ),
    (
        "consistency",
        {"activity": 1},
        "data.activity",
        "Input should be a valid string",
        "string_type",
    ),
]


@pytest.mark.parametrize(("component", "data", "loc", "msg", "error_type"), DATA_REJECTIONS)
def test_data_is_refused_with_its_reason(
    component: str, data: dict[str, Any], loc: str, msg: str, error_type: str
) -> None:
    assert rejection(event(component=component, data=data)) == (
        "validation_error",
        [{"loc": loc, "msg": msg, "type": error_type}],
        f"{loc}: {msg}",
    )


def test_data_is_checked_against_its_own_component_only() -> None:
    assert rejection(event(component="quality", data={"avg_code_quality": 0.5})) == (
        "validation_error",
        [
            {"loc": "data.correctness", "msg": "Field required", "type": "missing"},
            {"loc": "data.efficiency", "msg": "Field required", "type": "missing"},
        ],
        "data.correctness: Field required; data.efficiency: Field required",
    )


def test_the_envelope_is_checked_before_the_data() -> None:
    code, errors, _ = rejection(event(event_id="bad id", data={"total_questions": 0}))

    assert (code, [e["loc"] for e in errors]) == ("validation_error", ["event_id"])


# --- parsing -------------------------------------------------------------------------------------


def test_json_is_parsed_strictly() -> None:
    assert parse_json(b'{"a": [1, 2.5, null, "\\u00e9"]}') == {"a": [1, 2.5, None, "é"]}
    assert parse_json('{"a": "é"}') == {"a": "é"}
    assert parse_json(b"123456789012345678901234567890") == 1.2345678901234568e29


@pytest.mark.parametrize(
    ("raw", "msg"),
    [
        (
            b'{"a": NaN}',
            "invalid JSON: unexpected character, expected a JSON value: line 1 column 7 (char 6)",
        ),
        (
            b'{"a": 1e999}',
            "invalid JSON: number is infinity when parsed as double: line 1 column 7 (char 6)",
        ),
        (
            b"",
            "invalid JSON: Input is a zero-length, empty document: line 1 column 1 (char 0)",
        ),
        (
            b'{"a": "\xff"}',
            "invalid JSON: str is not valid UTF-8: surrogates not allowed: line 1 column 1 "
            "(char 0)",
        ),
    ],
)
def test_what_is_not_json_is_refused_as_invalid_json(raw: bytes, msg: str) -> None:
    with pytest.raises(InvalidEvent) as refused:
        parse_json(raw)

    assert refused.value.code == "invalid_json"
    assert refused.value.errors == [FieldError("", msg, "json")]
    assert str(refused.value) == msg


def test_an_event_over_64_kib_is_refused_before_parsing() -> None:
    assert parse_json(b" " * (MAX_EVENT_BYTES - 2) + b"{}") == {}

    with pytest.raises(InvalidEvent) as refused:
        parse_json(b"{" * (MAX_EVENT_BYTES + 1))

    assert refused.value.code == "too_large"
    assert refused.value.errors == [
        FieldError("", "event is 65537 bytes; at most 65536", "too_large")
    ]
    with pytest.raises(InvalidEvent, match=r"^event is 11 bytes; at most 10$"):
        parse_json(b'{"a": "bc"}', max_bytes=10)


def test_a_timestamp_without_an_offset_does_not_parse() -> None:
    assert parse_timestamp("2026-01-14T12:30:00+02:00") == datetime(2026, 1, 14, 10, 30, tzinfo=UTC)
    assert parse_timestamp("2026-01-14T10:30:00z").tzinfo is UTC
    with pytest.raises(ValueError, match=r"^naive date-time$"):
        parse_timestamp("2026-01-14T10:30:00")


@pytest.mark.parametrize(
    ("value", "depth"),
    [(1, 0), ("text", 0), (None, 0), ({}, 1), ([], 1), ({"a": [1, {"b": 2}]}, 3), ([[[]]], 3)],
)
def test_json_depth_counts_nesting(value: object, depth: int) -> None:
    assert json_depth(value, 16) == depth


def test_json_depth_stops_just_past_the_limit_on_any_nesting() -> None:
    deep: list[Any] = []
    for _ in range(100_000):  # far deeper than the interpreter's recursion limit
        deep = [deep]

    assert json_depth(deep, 16) == 17


def test_canonical_json_is_compact_sorted_utf8() -> None:
    assert canonical_json({"b": 1, "a": {"d": "é", "c": [1.5, None, True]}}) == (
        '{"a":{"c":[1.5,null,true],"d":"é"},"b":1}'.encode()
    )


def test_a_field_error_reads_as_its_location_and_message() -> None:
    error = InvalidEvent(
        "validation_error",
        [FieldError("data.x", "is wrong", "value_error"), FieldError("", "whole event", "type")],
    )

    assert str(error) == "data.x: is wrong; whole event"
    assert error.errors[0].as_dict() == {"loc": "data.x", "msg": "is wrong", "type": "value_error"}


def test_a_non_utc_offset_is_kept_as_the_same_instant() -> None:
    validated = validate_event(event(timestamp="2026-01-14T23:30:00+13:00"), NOW)

    assert validated.occurred_at == datetime(
        2026, 1, 14, 23, 30, tzinfo=timezone(timedelta(hours=13))
    )
    assert validated.to_json_object()["timestamp"] == "2026-01-14T10:30:00Z"
