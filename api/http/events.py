"""``POST /v1/events``: HTTP ingest through the shared ingest path (SPEC §3, §7).

The body is one event or ``{"events": [...]}`` (at most 1,000 events, 1 MiB). Each event gets
its own outcome; the response carries the event store position after the write, to be passed
as ``min_position`` to a read. When nothing new was written but an event was a duplicate, the
position is the store's head: the original was recorded at or before it, so a read waiting for
it reflects the event (looking up each original's own position would cost a query per
duplicate for no better read). A single event answers 201 (recorded), 200 (duplicate),
409 (conflict) or 422 (rejected); a batch answers 200 with every outcome. An event's tenant
must be the token's: an event without ``tenant_id`` is taken as the token's tenant, one naming
another tenant is rejected.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.http.auth import authenticate
from api.http.guard import json_response, problem_for
from api.http.models import IngestOut, OutcomeOut
from api.http.problems import ProblemError, invalid
from api.http.services import Services, services_of
from infrastructure.auth.policy import Principal, may_ingest
from infrastructure.ingest.contract import FieldError, InvalidEvent, parse_json
from infrastructure.ingest.service import IngestReport, RefusedInput

MAX_BODY_BYTES = 1024 * 1024
MAX_EVENTS = 1000
SINGLE_STATUS = {"recorded": 201, "duplicate": 200, "conflict": 409, "rejected": 422}


async def post_events(request: Request) -> Response:
    try:
        services = services_of(request)
        principal = authenticate(request, services.verifier)
        if not may_ingest(principal):
            raise ProblemError(403, "only a service token may ingest events")
        body = await read_body(request)
        single, items = _events_of(body)
        scoped = [in_tenant(item, principal) for item in items]
        report = await run_in_threadpool(ingested, services, scoped)
        return _answer(report, single)
    except Exception as exc:
        return problem_for(request, exc)


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ProblemError(413, f"the body may be at most {MAX_BODY_BYTES} bytes")
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if content_type not in ("application/json", ""):
        raise ProblemError(415, "the body must be application/json")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ProblemError(413, f"the body may be at most {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _events_of(body: bytes) -> tuple[bool, list[Any]]:
    """Whether the body is a single event, and its events."""
    try:
        parsed = parse_json(body, max_bytes=MAX_BODY_BYTES)  # the body limit was checked on read
    except InvalidEvent as exc:
        raise invalid([e.as_dict() for e in exc.errors], "the body is not valid JSON") from None
    if isinstance(parsed, dict) and set(parsed) == {"events"}:
        events = parsed["events"]
        if not isinstance(events, list):
            raise invalid([{"loc": "body.events", "msg": "must be a list", "type": "list_type"}])
        if len(events) > MAX_EVENTS:
            raise ProblemError(413, f"a batch may hold at most {MAX_EVENTS} events")
        return False, events
    if not isinstance(parsed, dict):
        raise invalid(
            [{"loc": "body", "msg": 'must be an event object or {"events": [...]}', "type": "type"}]
        )
    return True, [parsed]


def in_tenant(item: Any, principal: Principal) -> Any:
    """The event taken in the token's tenant, or refused when it names another."""
    if not isinstance(item, dict):
        return item
    tenant = item.get("tenant_id", principal.tenant_id)
    if tenant != principal.tenant_id:
        return RefusedInput(
            item,
            InvalidEvent(
                "forbidden_tenant",
                [FieldError("tenant_id", "must be the token's tenant", "forbidden_tenant")],
            ),
        )
    return {**item, "tenant_id": tenant}


def ingested(services: Services, items: list[Any]) -> IngestReport:
    """The items through the ingest path, counted; shared with the MCP server's
    ``record_learning_event``."""
    report = services.ingest.ingest(items)
    if report.position is None and report.has_duplicates:
        report.position = services.application.head()
    for outcome in report.outcomes:
        services.metrics.ingest_events.labels(outcome.status.value).inc()
    return report


def ingest_out(report: IngestReport) -> IngestOut:
    return IngestOut(
        outcomes=[OutcomeOut.model_validate(o.as_dict()) for o in report.outcomes],
        counts=dict(report.counts),
        position=report.position,
    )


def _answer(report: IngestReport, single: bool) -> Response:
    body = ingest_out(report)
    if not single:
        return json_response(body)
    outcome = report.outcomes[0]
    status = SINGLE_STATUS[outcome.status.value]
    if status >= 400:
        detail = (
            "event_id already recorded with different content"
            if status == 409
            else "the event was not accepted: " + "; ".join(e.msg for e in outcome.errors)
        )
        raise ProblemError(
            status,
            detail,
            errors=[e.as_dict() for e in outcome.errors],
            extra={"outcome": outcome.as_dict(), "position": report.position},
        )
    return json_response(body, status)


routes: list[Route] = [Route("/v1/events", post_events, methods=["POST"], name="ingest")]
