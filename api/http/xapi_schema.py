"""``/xapi`` in the OpenAPI document: the statement body (from the validating models of
``infrastructure.xapi.statement``), the version header, and the LRS answers beside the outcome
document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.http import models as m
from api.http.problems import TITLES
from api.http.xapi import MAX_STATEMENTS, VERSION_HEADER
from api.http.xapi_models import OUTCOMES_MEDIA_TYPE, AboutOut, StatementsOut
from infrastructure.xapi.statement import UUID_PATTERN, Statement

Ref = Callable[..., dict[str, Any]]  # _Schemas.ref: (model, mode) -> a $ref
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


def post_statements(ref: Ref) -> dict[str, Any]:
    return {
        "parameters": [VERSION_PARAMETER],
        "requestBody": _body(ref, batch=True),
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


def put_statement(ref: Ref) -> dict[str, Any]:
    return {
        "parameters": [STATEMENT_ID, VERSION_PARAMETER],
        "requestBody": _body(ref, batch=False),
        "responses": {
            "204": {"description": "Stored (or a duplicate, or ignored by the mapping)"},
            "200": {
                "description": "The statement's outcome, when asked for in Accept.",
                "content": {OUTCOMES_MEDIA_TYPE: {"schema": ref(StatementsOut)}},
            },
            **_problems(ref),
        },
    }


def about(ref: Ref) -> dict[str, Any]:
    return {
        "parameters": [],
        "responses": {
            "200": {
                "description": "The xAPI versions accepted",
                "content": {"application/json": {"schema": ref(AboutOut)}},
            }
        },
    }


def _body(ref: Ref, *, batch: bool) -> dict[str, Any]:
    one = ref(Statement, "validation")
    schema = (
        {"oneOf": [one, {"type": "array", "items": one, "maxItems": MAX_STATEMENTS}]}
        if batch
        else one
    )
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _problems(ref: Ref) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": ref(m.Problem)}}
    return {str(s): {"description": TITLES[s], "content": problem} for s in ERRORS}
