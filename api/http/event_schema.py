"""The OpenAPI part of ``POST /v1/events``: the request body and the ingest problems.

The body's schema is generated from the contract's own pydantic classes
(``infrastructure.ingest.contract.EVENT_VARIANTS``): one event, a union discriminated by
``component`` whose ``data`` is that component's exact model, or ``{"events": [...]}``. The
examples are published with it and tests send each of them to the API, so the document cannot
show an event the API refuses.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, TypeAdapter

from api.http.events import MAX_BODY_BYTES, MAX_EVENTS
from infrastructure.ingest.contract import (
    CompletionEvent,
    ConsistencyEvent,
    QualityEvent,
    QuizEvent,
)

REF = "#/components/schemas/{model}"
EVENT = "LearningEvent"
BATCH = "EventBatch"
INGEST_PROBLEM = "IngestProblem"

AnyEvent = Annotated[
    CompletionEvent | QuizEvent | QualityEvent | ConsistencyEvent,
    Field(discriminator="component"),
]

_EXAMPLE_EVENTS: dict[str, dict[str, Any]] = {
    "completion": {
        "event_id": "0b9a3f7e-4c1e-4f5e-9a57-3f0c2a9e8d11",
        "event_type": "mastery.calculation.requested",
        "timestamp": "2026-01-14T10:30:00Z",
        "student_id": "12345",
        "class_id": "cs101-a",
        "component": "completion",
        "topic": "python.loops",
        "data": {"total_exercises": 25, "completed_exercises": 20, "difficulty": "intermediate"},
        "metadata": {"source": "exercise-agent", "version": "1.0"},
    },
    "quiz": {
        "event_id": "quiz-7f3e",
        "timestamp": "2026-01-14T11:05:00+01:00",
        "student_id": "12345",
        "component": "quiz",
        "topic": "python.loops",
        "data": {
            "total_questions": 10,
            "correct_answers": 7,
            "attempts": 2,
            "time_spent_seconds": 312.5,
        },
    },
    "quality": {
        "event_id": "review-91c2",
        "timestamp": "2026-01-14T12:00:00Z",
        "student_id": "12345",
        "component": "quality",
        "topic": "python.functions",
        "data": {"avg_code_quality": 0.8, "correctness": 0.9, "efficiency": 0.65},
    },
    "consistency": {
        "event_id": "login-2026-01-14",
        "timestamp": "2026-01-14T08:00:00Z",
        "student_id": "12345",
        "component": "consistency",
        "data": {"activity": "opened the course"},
    },
}


def example_bodies() -> dict[str, dict[str, Any]]:
    """The published examples by name: each component's event alone, and all in a batch
    (its events renamed so that the batch records events of its own)."""
    batch = [{**e, "event_id": f"batch-{e['event_id']}"} for e in _EXAMPLE_EVENTS.values()]
    return {**_EXAMPLE_EVENTS, "batch": {"events": batch}}


def request_body(components: dict[str, Any]) -> dict[str, Any]:
    """The ``requestBody`` of ``POST /v1/events``; its schemas are added to ``components``."""
    union = TypeAdapter(AnyEvent).json_schema(mode="validation", ref_template=REF)
    components.update(union.pop("$defs", {}))
    components[EVENT] = {
        **union,
        "title": EVENT,
        "description": "One learning event (SPEC §3); `component` selects the shape of `data`. "
        "Integers are written as integers (`10`, not `10.0`); a count must not exceed its total.",
    }
    components[BATCH] = {
        "title": BATCH,
        "description": f"At most {MAX_EVENTS} events; each gets an outcome of its own, so one "
        "invalid event does not refuse the others.",
        "type": "object",
        "properties": {
            "events": {"type": "array", "items": _ref(EVENT), "maxItems": MAX_EVENTS},
        },
        "required": ["events"],
        "additionalProperties": False,
    }
    return {
        "required": True,
        "description": f'One event, or a batch `{{"events": [...]}}`; at most {MAX_BODY_BYTES} '
        "bytes.",
        "content": {
            "application/json": {
                "schema": {"oneOf": [_ref(EVENT), _ref(BATCH)]},
                "examples": {
                    name: {"summary": _summary(name), "value": body}
                    for name, body in example_bodies().items()
                },
            }
        },
    }


def ingest_problem(
    components: dict[str, Any], problem: type[BaseModel], outcome: type[BaseModel]
) -> dict[str, Any]:
    """The problem of a single event's 409 (conflict) or 422 (rejected): its outcome and the
    store position ride along; a body-level 422 (bad JSON, not an event) has neither."""
    components[INGEST_PROBLEM] = {
        "title": INGEST_PROBLEM,
        "allOf": [
            _ref(problem.__name__),
            {
                "type": "object",
                "properties": {
                    "outcome": _ref(outcome.__name__),
                    "position": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                },
            },
        ],
    }
    return {"application/problem+json": {"schema": _ref(INGEST_PROBLEM)}}


def _summary(name: str) -> str:
    return "A batch of events" if name == "batch" else f"A {name} event"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}
