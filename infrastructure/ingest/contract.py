"""Input contract v1 (SPEC §3): one validation for every ingest path.

``validate_event`` turns a parsed JSON object into a ``ValidatedEvent`` — normalized (UTC
timestamp, defaults applied, ``general`` topic) and fingerprinted by a content hash — or raises
``InvalidEvent`` with field errors a producer can act on.

The models below are the contract's one statement of each field's type, range and default: they
validate, and the OpenAPI document describes ``POST /v1/events`` from the same classes
(``EVENT_VARIANTS``: the envelope with each component's ``data`` model). What a JSON Schema
cannot say (a count within its total, the 24 h future limit, metadata's size) is said in the
fields' descriptions and checked here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from domain.commands import ValidatedEvent
from domain.facts import DEFAULT_TOPIC, Component
from domain.identifiers import IDENTIFIER_PATTERN, TENANT_PATTERN
from domain.timestamps import format_timestamp

MAX_EVENT_BYTES = 64 * 1024
MAX_METADATA_BYTES = 4 * 1024
MAX_METADATA_DEPTH = 16
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(hours=24)
DEFAULT_TENANT = "default"

Identifier = Annotated[str, StringConstraints(strict=True, pattern=IDENTIFIER_PATTERN)]
TenantId = Annotated[str, StringConstraints(strict=True, pattern=TENANT_PATTERN)]
Count = Annotated[int, Field(strict=True, ge=0, le=1_000_000)]
Total = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
UnitScore = Annotated[float, Field(strict=True, ge=0.0, le=1.0, allow_inf_nan=False)]

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
# The same shape for the JSON Schema, spelled with ASCII digits as every regex engine reads them.
RFC3339_SCHEMA = RFC3339.pattern.replace("\\d", "[0-9]")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CompletionData(_Strict):
    """``data`` of a ``completion`` event: exercises completed out of those assigned."""

    total_exercises: Total
    completed_exercises: Annotated[Count, Field(description="At most total_exercises.")]
    difficulty: Literal["beginner", "intermediate", "advanced"] = "intermediate"

    @model_validator(mode="after")
    def check_completed_within_total(self) -> CompletionData:
        if self.completed_exercises > self.total_exercises:
            raise ValueError("completed_exercises must not exceed total_exercises")
        return self


class QuizData(_Strict):
    """``data`` of a ``quiz`` event: one quiz's result."""

    total_questions: Total
    correct_answers: Annotated[Count, Field(description="At most total_questions.")]
    attempts: Annotated[int, Field(strict=True, ge=1, le=100)] = 1
    time_spent_seconds: Annotated[Number, Field(ge=0.0)] | None = Field(
        None, description="Optional; null is the same as absent."
    )

    @model_validator(mode="after")
    def check_correct_within_total(self) -> QuizData:
        if self.correct_answers > self.total_questions:
            raise ValueError("correct_answers must not exceed total_questions")
        return self


class QualityData(_Strict):
    """``data`` of a ``quality`` event: scores of submitted code, each in [0, 1]."""

    avg_code_quality: UnitScore
    correctness: UnitScore
    efficiency: UnitScore


class ConsistencyData(_Strict):
    """``data`` of a ``consistency`` event: an activity marker, ``{}`` or a short label."""

    activity: Annotated[str, StringConstraints(strict=True, max_length=64)] | None = Field(
        None, description="Optional free text; null is the same as absent."
    )


DATA_MODELS: dict[str, type[_Strict]] = {
    Component.COMPLETION: CompletionData,
    Component.QUIZ: QuizData,
    Component.QUALITY: QualityData,
    Component.CONSISTENCY: ConsistencyData,
}


class LearningEventIn(_Strict):
    """A learning event (SPEC §3), its ``data`` checked by the component's model afterwards."""

    event_id: Annotated[Identifier, Field(description="Unique within the tenant.")]
    event_type: Literal["mastery.calculation.requested"] | None = None
    timestamp: Annotated[
        str,
        StringConstraints(strict=True),
        Field(
            description="RFC 3339 with a UTC offset; not before 1970-01-01T00:00:00Z and not "
            "more than 24 h after the time of ingest (any other past time is a backfill).",
            json_schema_extra={"pattern": RFC3339_SCHEMA, "examples": ["2026-01-14T10:30:00Z"]},
        ),
    ]
    tenant_id: TenantId = Field(
        DEFAULT_TENANT,
        description=f"Absent: `{DEFAULT_TENANT}` from files and Kafka; over HTTP the token's "
        "tenant, and any other tenant is rejected (forbidden_tenant).",
    )
    student_id: Identifier
    class_id: Identifier | None = None
    component: Literal["completion", "quiz", "quality", "consistency"]
    topic: Identifier | None = Field(None, description=f"Absent or null: `{DEFAULT_TOPIC}`.")
    data: dict[str, Any]
    metadata: dict[str, Any] | None = Field(
        None,
        description=f"Kept verbatim: at most {MAX_METADATA_BYTES} bytes serialized and "
        f"{MAX_METADATA_DEPTH} levels deep.",
    )

    @field_validator("timestamp")
    @classmethod
    def check_rfc3339_with_offset(cls, value: str) -> str:
        if not RFC3339.match(value):
            raise ValueError(
                "must be an RFC 3339 date-time with a UTC offset, e.g. 2026-01-14T10:30:00Z"
            )
        try:
            moment = parse_timestamp(value)
        except OverflowError:
            raise ValueError("is outside the range of representable date-times") from None
        except ValueError as exc:
            raise ValueError(f"is not a valid date-time: {exc}") from None
        if moment < EARLIEST:
            raise ValueError("must not be before 1970-01-01T00:00:00Z")
        return value

    @field_validator("metadata")
    @classmethod
    def check_metadata_shape(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return value
        if json_depth(value, MAX_METADATA_DEPTH) > MAX_METADATA_DEPTH:
            raise ValueError(f"must be at most {MAX_METADATA_DEPTH} levels deep")
        try:
            size = len(canonical_json(value))
        except (TypeError, ValueError):  # only from callers that pass Python objects, not JSON
            raise ValueError("must hold only strings, numbers, booleans and null") from None
        if size > MAX_METADATA_BYTES:
            raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes serialized")
        return value


# --- the contract per component, for its schema -------------------------------------------------
# Each is the envelope above with ``component`` fixed and ``data`` typed by the component's model,
# so the published schema is made of the validating classes. Validation keeps its two steps
# (envelope, then data) because its error locations and order are part of the contract.


class CompletionEvent(LearningEventIn):
    """A ``completion`` event."""

    component: Literal["completion"]
    data: CompletionData  # type: ignore[assignment]  # narrows the envelope's open object


class QuizEvent(LearningEventIn):
    """A ``quiz`` event."""

    component: Literal["quiz"]
    data: QuizData  # type: ignore[assignment]  # narrows the envelope's open object


class QualityEvent(LearningEventIn):
    """A ``quality`` event."""

    component: Literal["quality"]
    data: QualityData  # type: ignore[assignment]  # narrows the envelope's open object


class ConsistencyEvent(LearningEventIn):
    """A ``consistency`` event."""

    component: Literal["consistency"]
    data: ConsistencyData  # type: ignore[assignment]  # narrows the envelope's open object


EVENT_VARIANTS: tuple[type[LearningEventIn], ...] = (
    CompletionEvent,
    QuizEvent,
    QualityEvent,
    ConsistencyEvent,
)


@dataclass(frozen=True, slots=True)
class FieldError:
    loc: str
    msg: str
    type: str

    def as_dict(self) -> dict[str, str]:
        return {"loc": self.loc, "msg": self.msg, "type": self.type}


class InvalidEvent(ValueError):  # noqa: N818 - reads as a verdict: "invalid event"
    """An input that is not an acceptable learning event. ``code`` is the DLQ error code."""

    def __init__(self, code: str, errors: list[FieldError]) -> None:
        self.code = code
        self.errors = errors
        super().__init__("; ".join(f"{e.loc}: {e.msg}" if e.loc else e.msg for e in errors))


def parse_json(raw: bytes | str, max_bytes: int = MAX_EVENT_BYTES) -> Any:
    """Parse one JSON document strictly: size-capped, no NaN/Infinity, UTF-8."""
    if len(raw) > max_bytes:
        raise InvalidEvent(
            "too_large",
            [FieldError("", f"event is {len(raw)} bytes; at most {max_bytes}", "too_large")],
        )
    try:
        return orjson.loads(raw)  # strict RFC 8259: no NaN/Infinity, valid UTF-8 only
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(
            "invalid_json", [FieldError("", f"invalid JSON: {exc}", "json")]
        ) from None


def validate_event(obj: Any, now: datetime) -> ValidatedEvent:
    """Check ``obj`` against the contract as of ingest time ``now``."""
    if not isinstance(obj, dict):
        raise InvalidEvent(
            "validation_error",
            [FieldError("", "an event must be a JSON object", "type")],
        )
    try:
        event = LearningEventIn.model_validate(obj)
    except ValidationError as exc:
        raise InvalidEvent("validation_error", _field_errors(exc)) from None
    try:
        data = DATA_MODELS[event.component].model_validate(event.data).model_dump()
    except ValidationError as exc:
        raise InvalidEvent("validation_error", _field_errors(exc, under="data")) from None
    occurred_at = parse_timestamp(event.timestamp)
    if occurred_at > now + MAX_FUTURE:
        raise InvalidEvent(
            "validation_error",
            [
                FieldError(
                    "timestamp", "must not be more than 24 h after the time of ingest", "future"
                )
            ],
        )
    if event.component == "quiz" and data["time_spent_seconds"] is None:
        del data["time_spent_seconds"]
    if event.component == "consistency" and data["activity"] is None:
        del data["activity"]
    normalized = {
        "event_id": event.event_id,
        "timestamp": format_timestamp(occurred_at),
        "tenant_id": event.tenant_id,
        "student_id": event.student_id,
        "class_id": event.class_id,
        "component": event.component,
        "topic": event.topic or DEFAULT_TOPIC,
        "data": data,
        "metadata": event.metadata,
    }
    return ValidatedEvent(
        tenant_id=event.tenant_id,
        student_id=event.student_id,
        event_id=event.event_id,
        occurred_at=occurred_at,
        class_id=event.class_id,
        topic=event.topic or DEFAULT_TOPIC,
        component=event.component,
        data=data,
        metadata=event.metadata,
        content_hash=hashlib.sha256(canonical_json(normalized)).hexdigest(),
    )


def json_depth(value: object, limit: int) -> int:
    """How deeply ``value`` nests objects and arrays (a scalar is 0, ``{}`` is 1), counted
    without recursion and only up to ``limit + 1``: any depth of input is safe to measure."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict | list):
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_timestamp(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("z", "Z"))
    if parsed.tzinfo is None:
        raise ValueError("naive date-time")
    return parsed.astimezone(UTC)


def canonical_json(obj: Any) -> bytes:
    """Compact UTF-8 JSON with sorted keys: the form the content hash is taken over."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def _field_errors(exc: ValidationError, under: str = "") -> list[FieldError]:
    errors = []
    for error in exc.errors(include_url=False):
        loc = ".".join([under] * bool(under) + [str(part) for part in error["loc"]])
        msg = error["msg"].removeprefix("Value error, ")
        errors.append(FieldError(loc, msg, error["type"]))
    return errors
