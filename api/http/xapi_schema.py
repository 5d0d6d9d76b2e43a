"""``/xapi`` in the OpenAPI document: the statement body (from the validating models of
``infrastructure.xapi.statement``), the version header, and the LRS answers beside the outcome
document."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel

from api.http import models as m
from api.http.problems import TITLES
from api.http.xapi import MAX_STATEMENTS, VERSION_HEADER
from api.http.xapi_models import OUTCOMES_MEDIA_TYPE, AboutOut, StatementsOut
from infrastructure.xapi.statement import STATEMENT, UUID_PATTERN

STATEMENT_SCHEMA = "Statement"


class Schemas(Protocol):
    """The OpenAPI document's schemas being collected (``openapi._Schemas``)."""

    components: dict[str, Any]

    def ref(self, model: type[BaseModel], mode: str = ...) -> dict[str, Any]: ...


REF = "#/components/schemas/{model}"
ERRORS = (400, 401, 403, 409, 413, 415, 503)

VERSION_PARAMETER = {
    "name": VERSION_HEADER,
    "in": "header",
    "required": True,
    "description": "The xAPI version the client follows: 1.0.x or 2.0.x (others are 400).",
    "schema": {"type": "string", "pattern": r"^[12]\.0(\.[0-9]+)?$", "examples": ["1.0.3"]},
}
STATEMENT_ID = {
    "name": "statementId",
    "in": "query",
    "required": True,
    "description": "The statement's id; the body's `id` must be it or absent.",
    "schema": {"type": "string", "pattern": UUID_PATTERN.replace("\\d", "[0-9]")},
}


def post_statements(schemas: Schemas) -> dict[str, Any]:
    ref = schemas.ref
    return {
        "parameters": [VERSION_PARAMETER],
        "requestBody": _body(schemas, batch=True),
        "responses": {
            "200": {
                "description": "The statements' ids in order (null for an invalid statement "
                "without a usable id); with the outcomes media type asked for in Accept, the "
                "outcome of each statement.",
                "content": {
                    "application/json": {
                        "schema": {"type": "array", "items": {"type": ["string", "null"]}}
                    },
                    OUTCOMES_MEDIA_TYPE: {"schema": ref(StatementsOut)},
                },
            },
            **_problems(ref),
        },
    }


def put_statement(schemas: Schemas) -> dict[str, Any]:
    ref = schemas.ref
    return {
        "parameters": [STATEMENT_ID, VERSION_PARAMETER],
        "requestBody": _body(schemas, batch=False),
        "responses": {
            "204": {"description": "Stored (or a duplicate, or ignored by the mapping)"},
            "200": {
                "description": "The statement's outcome, when asked for in Accept.",
                "content": {OUTCOMES_MEDIA_TYPE: {"schema": ref(StatementsOut)}},
            },
            **_problems(ref),
        },
    }


def about(schemas: Schemas) -> dict[str, Any]:
    ref = schemas.ref
    return {
        "parameters": [],
        "responses": {
            "200": {
                "description": "The xAPI versions accepted",
                "content": {"application/json": {"schema": ref(AboutOut)}},
            }
        },
    }


def _body(schemas: Schemas, *, batch: bool) -> dict[str, Any]:
    """The statement's schema from the very ``TypeAdapter`` that validates it."""
    schema = STATEMENT.json_schema(ref_template=REF, mode="validation")
    schemas.components.update(schema.pop("$defs", {}))
    schemas.components[STATEMENT_SCHEMA] = schema
    one = {"$ref": REF.format(model=STATEMENT_SCHEMA)}
    schema = (
        {"oneOf": [one, {"type": "array", "items": one, "maxItems": MAX_STATEMENTS}]}
        if batch
        else one
    )
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _problems(ref: Any) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": ref(m.Problem)}}
    return {str(s): {"description": TITLES[s], "content": problem} for s in ERRORS}
