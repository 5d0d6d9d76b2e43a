"""The OpenAPI document describes ``POST /v1/events`` exactly (SPEC §3, issue 13): each
component's ``data`` with its types, ranges, enums and defaults, and the document and the API
agree — what the published schema accepts the API records, what it refuses the API refuses."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.e2e.http.support import Api

BODY = "urn:openapi#/paths/~1v1~1events/post/requestBody/content/application~1json/schema"
# What a JSON Schema cannot say, so the API may still refuse a schema-valid event for it: a count
# above its total (reported at "data" itself, not at a field of it) and metadata's size. A
# timestamp's calendar and 24 h limit, and the token's tenant, are set right before sending.
UNSAYABLE = {"data", "metadata"}
WHEN = "2026-01-14T10:30:00Z"


@pytest.fixture(scope="module")
def document(api: Api) -> dict[str, Any]:
    response = api.client.get("/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


@pytest.fixture(scope="module")
def body_schema(document: dict[str, Any]) -> Draft202012Validator:
    """The request body's schema as the document states it, its references resolved in it."""
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:openapi", resource)
    return Draft202012Validator({"$ref": BODY}, registry=registry)


def post(api: Api, body: Any) -> tuple[int, dict[str, Any]]:
    """``body`` posted by a service of a fresh tenant: the status and the response."""
    service = api.as_("service", "agent", f"t-{uuid.uuid4().hex[:10]}")
    response = service.post("/v1/events", json=body)
    return response.status_code, response.json()


def test_the_document_is_openapi_3_1_with_a_union_on_component(document: dict[str, Any]) -> None:
    validate(document)
    schemas = document["components"]["schemas"]
    union = schemas["LearningEvent"]

    assert document["openapi"] == "3.1.0"
    assert union["discriminator"]["propertyName"] == "component"
    assert sorted(union["discriminator"]["mapping"]) == [
        "completion",
        "consistency",
        "quality",
        "quiz",
    ]
    for component, ref in union["discriminator"]["mapping"].items():
        variant = schemas[ref.rsplit("/", 1)[1]]
        assert variant["properties"]["component"]["const"] == component
        assert variant["additionalProperties"] is False
        assert {"event_id", "timestamp", "student_id", "component", "data"} <= set(
            variant["required"]
        )


def test_each_component_data_is_described_exactly(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    completion = schemas["CompletionData"]
    quiz = schemas["QuizData"]
    quality = schemas["QualityData"]
    consistency = schemas["ConsistencyData"]

    assert completion["required"] == ["total_exercises", "completed_exercises"]
    assert completion["properties"]["difficulty"]["enum"] == [
        "beginner",
        "intermediate",
        "advanced",
    ]
    assert completion["properties"]["difficulty"]["default"] == "intermediate"
    total = completion["properties"]["total_exercises"]
    assert (total["type"], total["minimum"], total["maximum"]) == ("integer", 1, 1_000_000)
    assert completion["properties"]["completed_exercises"]["minimum"] == 0
    attempts = quiz["properties"]["attempts"]
    assert (attempts["minimum"], attempts["maximum"], attempts["default"]) == (1, 100, 1)
    assert quiz["required"] == ["total_questions", "correct_answers"]
    assert sorted(quality["required"]) == ["avg_code_quality", "correctness", "efficiency"]
    for score in quality["properties"].values():
        assert (score["type"], score["minimum"], score["maximum"]) == ("number", 0.0, 1.0)
    assert "required" not in consistency
    assert consistency["properties"]["activity"]["anyOf"][0]["maxLength"] == 64
    for data in (completion, quiz, quality, consistency):
        assert data["additionalProperties"] is False


def test_a_single_event_refusal_documents_its_outcome(document: dict[str, Any]) -> None:
    responses = document["paths"]["/v1/events"]["post"]["responses"]
    for status in ("409", "422"):
        schema = responses[status]["content"]["application/problem+json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/IngestProblem"}
    outcome = document["components"]["schemas"]["OutcomeOut"]["properties"]["status"]
    assert outcome["enum"] == ["recorded", "duplicate", "conflict", "rejected"]


def test_every_published_example_is_valid_and_recorded(
    api: Api, document: dict[str, Any], body_schema: Draft202012Validator
) -> None:
    media = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    examples = {name: example["value"] for name, example in media["examples"].items()}
    assert sorted(examples) == ["batch", "completion", "consistency", "quality", "quiz"]

    for name, body in examples.items():
        assert list(body_schema.iter_errors(body)) == [], name
        status, answer = post(api, body)
        if name == "batch":
            assert status == 200, answer
            assert [o["status"] for o in answer["outcomes"]] == ["recorded"] * 4
        else:
            assert status == 201, answer
            assert answer["outcomes"][0]["status"] == "recorded"


QUIZ = {
    "event_id": "q-1",
    "timestamp": "2026-01-14T10:30:00Z",
    "student_id": "s-1",
    "component": "quiz",
    "data": {"total_questions": 10, "correct_answers": 7},
}
COMPLETION = {
    **QUIZ,
    "component": "completion",
    "data": {"total_exercises": 5, "completed_exercises": 1},
}
QUALITY = {
    **QUIZ,
    "component": "quality",
    "data": {"avg_code_quality": 0.5, "correctness": 0.5, "efficiency": 0.5},
}
CONSISTENCY = {**QUIZ, "component": "consistency", "data": {}}


def changed(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``base`` with the field at dotted ``path`` set to ``value`` (``...`` removes it)."""
    result = copy.deepcopy(base)
    *parents, last = path.split(".")
    target = result
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return result


def refused(name: str, base: dict[str, Any], path: str, value: Any) -> Any:
    return pytest.param(changed(base, path, value), path, id=name)


REFUSED = [
    refused("wrong difficulty", COMPLETION, "data.difficulty", "hard"),
    refused("negative count", QUIZ, "data.correct_answers", -1),
    refused("missing data field", QUIZ, "data.total_questions", ...),
    refused("missing event_id", QUIZ, "event_id", ...),
    refused("unknown data key", QUIZ, "data.score", 0.7),
    refused("attempts out of range", QUIZ, "data.attempts", 0),
    refused("count as text", QUIZ, "data.total_questions", "10"),
    refused("unknown component", QUIZ, "component", "essay"),
    refused("quality above one", QUALITY, "data.efficiency", 1.5),
    refused("long activity", CONSISTENCY, "data.activity", "x" * 65),
    refused("naive timestamp", QUIZ, "timestamp", "2026-01-14T10:30:00"),
]


@pytest.mark.parametrize(("body", "loc"), REFUSED)
def test_what_the_schema_refuses_the_api_refuses(
    api: Api, body_schema: Draft202012Validator, body: dict[str, Any], loc: str
) -> None:
    assert list(body_schema.iter_errors(body)) != []

    status, problem = post(api, body)

    assert status == 422, problem
    assert problem["outcome"]["status"] == "rejected"
    assert loc in [error["loc"] for error in problem["errors"]]


def test_events_generated_from_the_schema_are_accepted(
    api: Api, document: dict[str, Any], body_schema: Draft202012Validator
) -> None:
    """Bodies drawn from the published schema (hypothesis, through schemathesis) are recorded,
    or refused only for what a schema cannot say. Their events are put in the token's tenant
    and at a past time first: random tenants and dates would be refused for those alone."""
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    service = api.as_("service", "agent", tenant)
    schema = schemathesis.openapi.from_dict(document)
    operation = next(
        result.ok()
        for result in schema.get_all_operations()
        if result.ok().path == "/v1/events" and result.ok().method.lower() == "post"
    )
    recorded: list[str] = []

    @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE))
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: schemathesis.Case) -> None:
        assert list(body_schema.iter_errors(case.body)) == []
        response = service.post("/v1/events", json=in_tenant(case.body, tenant))
        assert response.status_code in (200, 201, 409, 422), response.text
        answer = response.json()
        for outcome in answer.get("outcomes") or [answer.get("outcome")]:
            assert outcome is not None, answer  # a body-level refusal of a schema-valid body
            if outcome["status"] == "rejected":
                locs = {error["loc"] for error in outcome["errors"]}
                assert locs <= UNSAYABLE, outcome
            elif outcome["status"] == "recorded":
                recorded.append(outcome["event_id"])

    check()
    assert len(recorded) >= 20  # the schema's events are not all refused for its blind spots


def in_tenant(body: dict[str, Any], tenant: str) -> dict[str, Any]:
    """``body`` with each event in ``tenant`` at a fixed past time, its whole numbers written as
    integers: JSON Schema's ``integer`` admits ``10.0``, the contract wants ``10`` (said in the
    schema's description, not sayable in its keywords)."""
    if "events" in body:
        return {"events": [in_tenant(e, tenant) for e in body["events"]]}
    data = {key: _whole(value) for key, value in body["data"].items()}
    return {**body, "tenant_id": tenant, "timestamp": WHEN, "data": data}


def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value
