"""``/xapi``: xAPI 1.0.3 and 2.0 statements through the shared ingest path (SPEC §13,
docs/xapi.md).

``POST /xapi/statements`` takes one statement or an array and answers, as an LRS does, 200
with the statements' ids in order; ``PUT /xapi/statements?statementId=`` takes one and answers
204. A single statement that is not valid is 400, one whose id was stored with different
content 409. In a batch every statement has its own outcome (SPEC §3): the batch is answered
200 whatever its statements' fates, the ``X-Mastery-Outcomes`` header counts them, and a
client that sends ``Accept: application/vnd.mastery.xapi-outcomes+json`` gets the outcome of
each statement (status, rule, reasons) as the body. Every response carries
``X-Experience-API-Version``.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.http.auth import authenticate
from api.http.events import read_body
from api.http.guard import json_response, problem_for
from api.http.models import FieldErrorOut
from api.http.problems import ProblemError
from api.http.services import Services, services_of
from api.http.xapi_models import (
    OUTCOMES_EXTENSION,
    OUTCOMES_MEDIA_TYPE,
    AboutOut,
    StatementOutcomeOut,
    StatementsOut,
)
from infrastructure.auth.policy import may_ingest
from infrastructure.ingest.contract import InvalidEvent, parse_json
from infrastructure.ingest.service import IngestReport, Outcome
from infrastructure.xapi.statement import UUID_PATTERN
from infrastructure.xapi.translate import Translation, stored_times

MAX_BODY_BYTES = 1024 * 1024
MAX_STATEMENTS = 1000
VERSION_HEADER = "X-Experience-API-Version"
OUTCOMES_HEADER = "X-Mastery-Outcomes"
VERSIONS = ("1.0.3", "2.0.0")
LATEST = VERSIONS[-1]
_VERSION = re.compile(r"^(?P<major>[12])\.0(\.\d+)?$")
_UUID = re.compile(UUID_PATTERN)
SINGLE_REFUSALS = {"conflict": 409, "rejected": 400}


def answered_version(request: Request) -> str:
    """The version to answer with (the latest patch of the request's), or a 400: xAPI
    requires the header and refuses versions it does not implement."""
    header = request.headers.get(VERSION_HEADER)
    if header is None:
        raise ProblemError(400, f"the {VERSION_HEADER} header is required (1.0.x or 2.0.x)")
    match = _VERSION.match(header.strip())
    if match is None:
        raise ProblemError(
            400, f"xAPI version {header.strip()[:32]!r} is not supported; use 1.0.x or 2.0.x"
        )
    return VERSIONS[int(match["major"]) - 1]


async def post_statements(request: Request) -> Response:
    version = LATEST
    try:
        services, tenant = _ingesting(request)
        version = answered_version(request)
        _refuse_parameters(request, allowed=())
        single, statements = _statements_of(await read_body(request))
        translations, report = await _ingest(services, statements, tenant)
        response = _post_answer(request, translations, report, single)
    except Exception as exc:
        response = problem_for(request, exc)
    response.headers[VERSION_HEADER] = version
    return response


async def put_statement(request: Request) -> Response:
    version = LATEST
    try:
        services, tenant = _ingesting(request)
        version = answered_version(request)
        _refuse_parameters(request, allowed=("statementId",))
        statement_id = _statement_id(request)
        single, statements = _statements_of(await read_body(request))
        if not single:
            raise ProblemError(400, "PUT takes one statement, not an array")
        statement = _with_id(statements[0], statement_id)
        translations, report = await _ingest(services, [statement], tenant)
        response = _put_answer(request, translations, report)
    except Exception as exc:
        response = problem_for(request, exc)
    response.headers[VERSION_HEADER] = version
    return response


async def get_about(request: Request) -> Response:
    """No token and no version header needed (xAPI: SHOULD allow unauthenticated access)."""
    about = AboutOut(version=list(VERSIONS), extensions={OUTCOMES_EXTENSION: OUTCOMES_MEDIA_TYPE})
    response = json_response(about)
    response.headers[VERSION_HEADER] = LATEST
    return response


def _ingesting(request: Request) -> tuple[Services, str]:
    services = services_of(request)
    principal = authenticate(request, services.verifier)
    if not may_ingest(principal):
        raise ProblemError(403, "only a service token may send statements")
    return services, principal.tenant_id


def _refuse_parameters(request: Request, allowed: tuple[str, ...]) -> None:
    names = [name for name, _ in request.query_params.multi_items()]
    unknown = sorted({name for name in names if name not in allowed})
    repeated = sorted({name for name in names if names.count(name) > 1})
    if unknown or repeated:
        what = unknown and f"unknown parameters {', '.join(unknown)}"
        again = repeated and f"parameters given more than once: {', '.join(repeated)}"
        raise ProblemError(400, "; ".join(part for part in (what, again) if part))


def _statement_id(request: Request) -> str:
    value = request.query_params.get("statementId")
    if value is None:
        raise ProblemError(400, "the statementId parameter is required")
    if not _UUID.match(value):
        raise ProblemError(400, "statementId must be a UUID")
    return value.lower()


def _with_id(statement: Any, statement_id: str) -> Any:
    """The statement with the id the URL names: absent, it is set; another is a 400."""
    if not isinstance(statement, dict):
        return statement
    given = statement.get("id")
    if given is None:
        return {**statement, "id": statement_id}
    if not isinstance(given, str) or given.lower() != statement_id:
        raise ProblemError(400, "the statement's id must be the statementId parameter")
    return statement


def _statements_of(body: bytes) -> tuple[bool, list[Any]]:
    try:
        parsed = parse_json(body, max_bytes=MAX_BODY_BYTES)  # the body limit was checked on read
    except InvalidEvent as exc:
        errors = [e.as_dict() for e in exc.errors]
        raise ProblemError(400, "the body is not valid JSON", errors=errors) from None
    if isinstance(parsed, dict):
        return True, [parsed]
    if isinstance(parsed, list):
        if len(parsed) > MAX_STATEMENTS:
            raise ProblemError(413, f"a batch may hold at most {MAX_STATEMENTS} statements")
        return False, parsed
    raise ProblemError(400, "the body must be a statement object or an array of statements")


async def _ingest(
    services: Services, statements: list[Any], tenant: str
) -> tuple[list[Translation], IngestReport]:
    def work() -> tuple[list[Translation], IngestReport]:
        now = datetime.now(UTC)
        known = stored_times(services.application)
        translations = [services.xapi.translate(s, tenant, now, known) for s in statements]
        report = services.ingest.ingest([translation.item for translation in translations])
        if report.position is None and report.has_duplicates:
            report.position = services.application.head()
        for outcome in report.outcomes:
            services.metrics.ingest_events.labels(outcome.status.value).inc()
        return translations, report

    return await run_in_threadpool(work)


def _post_answer(
    request: Request, translations: list[Translation], report: IngestReport, single: bool
) -> Response:
    if _wants_outcomes(request):
        return _outcomes_response(translations, report)
    if single:
        _refuse_single(translations[0], report.outcomes[0])
    ids = [translation.statement_id for translation in translations]
    return _with_counts(_ids_response(ids), report)


def _put_answer(
    request: Request, translations: list[Translation], report: IngestReport
) -> Response:
    if _wants_outcomes(request):
        return _outcomes_response(translations, report)
    _refuse_single(translations[0], report.outcomes[0])
    return _with_counts(Response(status_code=204), report)


def _refuse_single(translation: Translation, outcome: Outcome) -> None:
    status = SINGLE_REFUSALS.get(outcome.status.value)
    if status is None:
        return
    detail = (
        "a statement with this id was already stored with different content"
        if status == 409
        else "the statement was not accepted: "
        + "; ".join(_reason(e.loc, e.msg) for e in outcome.errors)
    )
    raise ProblemError(
        status,
        detail,
        errors=[e.as_dict() for e in outcome.errors],
        extra={"outcome": _outcome_out(translation, outcome).model_dump()},
    )


def _reason(loc: str, msg: str) -> str:
    return f"{loc}: {msg}" if loc else msg


def _wants_outcomes(request: Request) -> bool:
    return OUTCOMES_MEDIA_TYPE in request.headers.get("accept", "")


def _outcomes_response(translations: list[Translation], report: IngestReport) -> Response:
    body = StatementsOut(
        statements=[translation.statement_id for translation in translations],
        outcomes=[
            _outcome_out(translation, outcome)
            for translation, outcome in zip(translations, report.outcomes, strict=True)
        ],
        counts=dict(report.counts),
        position=report.position,
    )
    response = json_response(body)
    response.headers["content-type"] = OUTCOMES_MEDIA_TYPE
    return _with_counts(response, report)


def _outcome_out(translation: Translation, outcome: Outcome) -> StatementOutcomeOut:
    return StatementOutcomeOut(
        statement_id=translation.statement_id,
        status=outcome.status.value,
        event_id=outcome.event_id,
        rule=translation.rule,
        code=outcome.code,
        errors=[FieldErrorOut(**error.as_dict()) for error in outcome.errors],
    )


def _with_counts(response: Response, report: IngestReport) -> Response:
    counts: Counter[str] = report.counts
    response.headers[OUTCOMES_HEADER] = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    return response


def _ids_response(ids: list[str | None]) -> Response:
    return Response(orjson.dumps(ids), media_type="application/json")


routes: list[Route] = [
    Route("/xapi/statements", post_statements, methods=["POST"], name="xapi_post_statements"),
    Route("/xapi/statements", put_statement, methods=["PUT"], name="xapi_put_statement"),
    Route("/xapi/about", get_about, methods=["GET"], name="xapi_about"),
]
