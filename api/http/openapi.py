"""The OpenAPI 3.1 document, generated from the pydantic models and one table of operations.

OpenAPI 3.1 schemas are JSON Schema 2020-12, which is what pydantic emits, so the models'
schemas go into ``components.schemas`` as they are. The ingest body and its problems are
``api.http.event_schema``'s, made from the input contract's own classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from api.http import directory_models as d
from api.http import event_pages as pages
from api.http import event_schema, xapi_schema
from api.http import models as m
from api.http import status_models as sm
from api.http.problems import TITLES
from domain.identifiers import IDENTIFIER_PATTERN
from infrastructure.generations.registry import NAME_PATTERN

REF = "#/components/schemas/{model}"
READ_ERRORS = (401, 403, 404, 410, 422, 503)


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    response: type[BaseModel] | None
    query: type[BaseModel] = m.NoQuery
    errors: tuple[int, ...] = READ_ERRORS
    success: tuple[int, ...] = (200,)
    secured: bool = True
    body: bool = False
    media_type: str = "application/json"
    # An operation described by its own module (parameters, body, responses): /xapi.
    described: Callable[[xapi_schema.Schemas], dict[str, Any]] | None = None


STUDENT = "/v1/students/{id}"
OPERATIONS = (
    Operation(
        "post",
        "/v1/events",
        "Ingest one event or a batch of events",
        m.IngestOut,
        errors=(401, 403, 409, 413, 415, 422, 503),
        success=(200, 201),
        body=True,
    ),
    Operation("get", f"{STUDENT}/mastery", "Mastery as of a date", m.MasteryOut, m.MasteryQuery),
    Operation(
        "delete",
        STUDENT,
        "Erase a student (admin): their data key is destroyed, read models removed",
        m.ErasureOut,
        errors=(401, 403, 404, 422, 503),
    ),
    Operation(
        "get",
        f"{STUDENT}/export",
        "Everything held about a student (the student or an admin)",
        m.SubjectExportOut,
        errors=READ_ERRORS,
    ),
    Operation(
        "get",
        f"{STUDENT}/mastery/history",
        "Daily snapshots in a date range",
        m.HistoryOut,
        m.HistoryQuery,
    ),
    Operation("get", f"{STUDENT}/topics", "Per-topic mastery", m.TopicsOut),
    Operation(
        "get",
        f"{STUDENT}/prediction",
        "Predicted mastery",
        m.StudentPredictionOut,
        m.PredictionQuery,
    ),
    Operation(
        "get",
        f"{STUDENT}/recommendations",
        "Recommendations and learning path",
        m.RecommendationsOut,
    ),
    Operation(
        "get",
        f"{STUDENT}/events",
        "The student's raw events in learning-time order, paged",
        pages.EventsOut,
        pages.EventsQuery,
    ),
    Operation(
        "get",
        f"{STUDENT}/timeline",
        "What each event changed, replayed in learning-time order, paged",
        pages.TimelineOut,
        pages.TimelineQuery,
    ),
    Operation(
        "get",
        "/v1/students",
        "The students the caller may read, filtered and paged by id",
        d.StudentsOut,
        d.StudentsQuery,
        errors=(401, 403, 422, 503),
    ),
    Operation(
        "get",
        "/v1/classes",
        "The classes the caller may read, with counts, mean mastery and at-risk students",
        d.ClassesOut,
        errors=(401, 403, 422, 503),
    ),
    Operation(
        "get",
        "/v1/classes/{id}/mastery",
        "A class roster with mastery and predictions",
        m.ClassMasteryOut,
    ),
    Operation(
        "get",
        "/v1/status",
        "The pipeline's health: projection lag, workers, ingest backlog, dead letters (admin)",
        sm.StatusOut,
        errors=(401, 403, 422, 503),
    ),
    Operation(
        "post",
        "/xapi/statements",
        "xAPI: store one statement or an array (LRS answer: the ids)",
        None,
        described=xapi_schema.post_statements,
    ),
    Operation(
        "put",
        "/xapi/statements",
        "xAPI: store one statement under the statementId given",
        None,
        described=xapi_schema.put_statement,
    ),
    Operation(
        "get",
        "/xapi/about",
        "xAPI: the versions accepted",
        None,
        secured=False,
        described=xapi_schema.about,
    ),
    Operation("get", "/healthz", "Liveness", m.HealthOut, errors=(), secured=False),
    Operation(
        "get",
        "/readyz",
        "Readiness of PostgreSQL, Redis and the broker",
        m.ReadyOut,
        errors=(),
        success=(200, 503),
        secured=False,
    ),
    Operation(
        "get",
        "/metrics",
        "Prometheus metrics",
        None,
        errors=(),
        secured=False,
        media_type="text/plain",
    ),
    Operation("get", "/openapi.json", "This document", None, errors=(), secured=False),
    Operation(
        "get",
        "/docs",
        "Interactive documentation of this document (Swagger UI, served by the product)",
        None,
        errors=(),
        secured=False,
        media_type="text/html",
    ),
)
INGEST_PROBLEMS = (409, 422)  # a single event's refusal carries its outcome


class _Schemas:
    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def ref(self, model: type[BaseModel], mode: str = "serialization") -> dict[str, Any]:
        schema = model.model_json_schema(by_alias=True, ref_template=REF, mode=mode)  # type: ignore[arg-type]
        self.components.update(schema.pop("$defs", {}))
        self.components[model.__name__] = schema
        return {"$ref": REF.format(model=model.__name__)}

    def parameters(self, query: type[BaseModel]) -> list[dict[str, Any]]:
        schema = query.model_json_schema(by_alias=True, mode="validation")
        required = set(schema.get("required", []))
        return [
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "description": prop.pop("description", ""),
                "schema": _without_null(prop),
            }
            for name, prop in schema.get("properties", {}).items()
        ]


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a value; it is never JSON null."""
    if schema.get("default", 0) is None:
        schema = {k: v for k, v in schema.items() if k != "default"}
    options = schema.get("anyOf")
    if options:
        kept = [o for o in options if o.get("type") != "null"]
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        return {**rest, **kept[0]} if len(kept) == 1 else {**rest, "anyOf": kept}
    return schema


# Every student route (api.http.guard.student_route) reads ``generation`` (SPEC §4b).
GENERATION_PARAMETERS = [
    {
        "name": "generation",
        "in": "query",
        "required": False,
        "description": "Admins only (403 for other roles): read this generation of read "
        "models instead of the live one (`mastery generations list`); an unknown name is 422. "
        "The answer's `generation` and `formula` say which one answered.",
        "schema": {"type": "string", "pattern": NAME_PATTERN},
    }
]


def openapi_document(version: str = "0.1.0") -> dict[str, Any]:
    schemas = _Schemas()
    problem = {"application/problem+json": {"schema": schemas.ref(m.Problem)}}
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        operation: dict[str, Any] = {
            "summary": op.summary,
            "operationId": _operation_id(op),
            "parameters": _path_parameters(op.path)
            + schemas.parameters(op.query)
            + (GENERATION_PARAMETERS if op.path.startswith(STUDENT) else []),
            "responses": {
                **{str(s): _success(schemas, op, s) for s in op.success},
                **{str(s): {"description": TITLES[s], "content": problem} for s in op.errors},
            },
        }
        if op.described is not None:
            operation.update(op.described(schemas))
        if op.secured:
            operation["security"] = [{"bearer": []}]
        if op.body:
            operation["requestBody"] = event_schema.request_body(schemas.components)
            _describe_ingest_problems(schemas, operation["responses"])
        paths.setdefault(op.path, {})[op.method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Mastery Engine query API",
            "version": version,
            "description": "Student mastery for dashboards (SPEC §7). Errors are RFC 9457 "
            "problem details.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _operation_id(op: Operation) -> str:
    parts = [p.strip("{}") for p in op.path.split("/") if p and p != "v1"]
    return "_".join([op.method, *parts]).replace(".", "_")


def _path_parameters(path: str) -> list[dict[str, Any]]:
    if "{id}" not in path:
        return []
    return [
        {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": IDENTIFIER_PATTERN},
        }
    ]


def _success(schemas: _Schemas, op: Operation, status: int) -> dict[str, Any]:
    if op.response is None:
        schema: dict[str, Any] = (
            {"type": "object"} if op.media_type == "application/json" else {"type": "string"}
        )
    else:
        schema = schemas.ref(op.response)
    return {
        "description": "OK" if status != 201 else "Created",
        "content": {op.media_type: {"schema": schema}},
    }


def _describe_ingest_problems(schemas: _Schemas, responses: dict[str, Any]) -> None:
    schemas.ref(m.OutcomeOut)
    content = event_schema.ingest_problem(schemas.components, m.Problem, m.OutcomeOut)
    for status in INGEST_PROBLEMS:
        responses[str(status)]["content"] = content
