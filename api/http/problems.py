"""Errors as ``application/problem+json`` (RFC 9457), with field errors for invalid input."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.responses import Response

PROBLEM_JSON = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid input",
    500: "Internal server error",
    503: "Service unavailable",
}
SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    410: "gone",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    500: "internal-error",
    503: "unavailable",
}


class ProblemError(Exception):
    """Ends a request with a problem response."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Sequence[dict[str, str]] = (),
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers or {}
        self.extra = extra or {}


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def invalid(
    errors: Sequence[dict[str, str]], detail: str = "the request is invalid"
) -> ProblemError:
    return ProblemError(422, detail, errors=errors)


def field_errors(exc: ValidationError, source: str) -> list[dict[str, str]]:
    """Pydantic errors as ``{loc, msg, type}``, ``loc`` a dotted path under ``source``."""
    return [
        {
            "loc": ".".join([source, *(str(part) for part in error["loc"])]),
            "msg": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors(include_url=False, include_input=False)
    ]


def problem_response(problem: ProblemError, request_id: str | None, instance: str) -> Response:
    body: dict[str, Any] = {
        "type": f"/problems/{SLUGS.get(problem.status, 'error')}",
        "title": TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.detail,
        "instance": instance,
    }
    if request_id:
        body["request_id"] = request_id
    if problem.errors:
        body["errors"] = problem.errors
    body.update(problem.extra)
    return Response(
        orjson.dumps(body),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )
