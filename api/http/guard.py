"""The pipeline every read of a student's data goes through.

authenticate (401) -> validate the path id (422) -> authorize (403) -> validate the query (422)
-> read (404 for an unknown student, 503 when a store is down) -> one access-log entry, whatever
the outcome. Authorization comes before any lookup of the student, so a student asking for
another student gets 403 whether or not that student exists. A path id is resolved within the
token's tenant: a token never reaches another tenant's data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
import redis.exceptions
import structlog
from eventsourcing.persistence import PersistenceError
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.http.auth import authenticate
from api.http.generations import GENERATION_PARAMETER, wanted_generation
from api.http.problems import ProblemError, field_errors, invalid, problem_response
from api.http.services import Picked, Services, services_of
from domain.errors import StudentErasedError, UnknownStudentError
from domain.identifiers import check_identifier
from infrastructure.auth.policy import Principal, Role, may_read_class, may_read_student
from infrastructure.compliance.access_log import AccessEntry
from infrastructure.event_store.write_results import WriteContentionError
from infrastructure.settings import ConfigurationError
from projections.directory import Scope
from projections.view import StudentKey

Q = TypeVar("Q", bound=BaseModel)

log = structlog.get_logger("mastery.http")

OUTCOMES = {
    401: "unauthenticated",
    403: "denied",
    404: "not_found",
    410: "erased",
    422: "invalid",
}


def path_id(request: Request, kind: str) -> str:
    value = str(request.path_params["id"])
    try:
        return check_identifier(kind, value)
    except ValueError as exc:
        raise invalid([{"loc": "path.id", "msg": str(exc), "type": "pattern"}]) from None


def parse_query(request: Request, model: type[Q], *, besides: str | None = None) -> Q:
    """The query as ``model``; ``besides`` names a parameter read elsewhere (``generation``)."""
    items = request.query_params.multi_items()
    names = [name for name, _ in items]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise invalid(
            [
                {"loc": f"query.{n}", "msg": "given more than once", "type": "repeated"}
                for n in repeated
            ]
        )
    try:
        return model.model_validate({k: v for k, v in items if k != besides})
    except ValidationError as exc:
        raise invalid(field_errors(exc, "query")) from None


def json_response(body: BaseModel, status: int = 200) -> Response:
    return Response(
        body.model_dump_json(by_alias=True), status_code=status, media_type="application/json"
    )


PLAIN_PROBLEMS: tuple[tuple[type[Exception], int, str], ...] = (
    (UnknownStudentError, 404, "unknown student"),
    (StudentErasedError, 410, "this student's data has been erased"),
)


REDIS_UNAVAILABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    # A Redis Cluster electing a master, moving slots, or with a slot uncovered:
    redis.exceptions.ClusterError,
    redis.exceptions.TryAgainError,
    redis.exceptions.AskError,
    redis.exceptions.SlotNotCoveredError,
)


def as_problem(exc: Exception) -> ProblemError:
    """The problem an exception stands for; anything unexpected is logged and becomes a 500."""
    if isinstance(exc, ProblemError):
        return exc
    for kind, status, detail in PLAIN_PROBLEMS:
        if isinstance(exc, kind):
            return ProblemError(status, detail)
    if isinstance(exc, ConfigurationError):
        log.warning("not configured", error=str(exc))
        return ProblemError(503, f"not available on this server: {exc}")
    if isinstance(exc, REDIS_UNAVAILABLE):
        log.warning("redis unavailable", error=type(exc).__name__)
        return ProblemError(
            503, "the read models are unavailable; retry shortly", headers={"Retry-After": "1"}
        )
    if isinstance(exc, PersistenceError | psycopg.Error | WriteContentionError):
        log.warning("event store unavailable", error=type(exc).__name__)
        return ProblemError(
            503, "the event store is unavailable; retry shortly", headers={"Retry-After": "1"}
        )
    log.exception("unexpected failure")
    return ProblemError(500, "unexpected failure")


def problem_for(request: Request, exc: Exception) -> Response:
    return problem_response(as_problem(exc), request.state.request_id, request.url.path)


# --- guarded reads ---------------------------------------------------------------------------


@dataclass
class _Access:
    """What the access log says about one request."""

    route: str
    action: str
    principal: Principal | None = None
    student_id: str | None = None
    class_id: str | None = None

    def entry(self, request_id: str, status: int) -> AccessEntry:
        return access_entry(
            self.principal,
            request_id,
            status,
            student_id=self.student_id,
            class_id=self.class_id,
            route=self.route,
            action=self.action,
        )


def access_entry(
    principal: Principal | None,
    request_id: str,
    status: int,
    *,
    student_id: str | None,
    class_id: str | None,
    route: str,
    action: str,
) -> AccessEntry:
    """The access-log row of one read (an HTTP request or an MCP call); ``-`` for a caller
    that could not be identified."""
    return AccessEntry(
        at=datetime.now(UTC),
        request_id=request_id,
        subject=principal.subject if principal else "-",
        role=principal.role.value if principal else "-",
        tenant_id=principal.tenant_id if principal else "-",
        student_id=student_id,
        class_id=class_id,
        route=route,
        action=action,
        outcome="ok" if status < 400 else OUTCOMES.get(status, "error"),
        status=status,
    )


async def _guarded(
    request: Request, access: _Access, work: Callable[[Services], Awaitable[Response]]
) -> Response:
    services = services_of(request)
    try:
        response = await work(services)
    except Exception as exc:
        response = problem_for(request, exc)
    entry = access.entry(request.state.request_id, response.status_code)
    services.access_log.record(entry)
    services.metrics.access_log_entries.labels(entry.outcome).inc()
    if response.status_code in (401, 403):
        log.warning(
            "access refused",
            status=response.status_code,
            action=access.action,
            subject=entry.subject,
            role=entry.role,
            tenant_id=entry.tenant_id,
        )
    return response


StudentReader = Callable[[Services, StudentKey, Q], BaseModel | Response]
# Tried first, on the event loop, with the student's current document as read with the live
# pointer; None means "not this case", and ``read`` runs in the pool.
FastReader = Callable[[Services, StudentKey, Q, dict[str, Any] | None], Awaitable[Response | None]]


def student_route(
    path: str,
    action: str,
    query: type[Q],
    read: StudentReader[Q],
    *,
    method: str = "GET",
    roles: frozenset[Role] | None = None,
    fast: FastReader[Q] | None = None,
    erased_readable: bool = False,
) -> Route:
    """A route on one student's data through the guarded pipeline; ``roles`` narrows who may
    use it beyond the usual read rights (e.g. erasure: admins only). An erased student's data
    answers 410 unless ``erased_readable`` (the erasure itself, the subject export)."""
    reader = read if erased_readable else _refusing_erased(read)

    async def endpoint(request: Request) -> Response:
        access = _Access(path, action)

        async def work(services: Services) -> Response:
            access.principal = principal = authenticate(request, services.verifier)
            access.student_id = student_id = path_id(request, "student")
            key = StudentKey(principal.tenant_id, student_id)
            if roles is not None and principal.role not in roles:
                raise ProblemError(
                    403, f"only {', '.join(sorted(r.value for r in roles))} may do this"
                )
            await _authorize_student(services, principal, key)
            wanted = wanted_generation(principal, request.query_params.multi_items())
            params = parse_query(request, query, besides=GENERATION_PARAMETER)
            picked = await _pick(services, key if fast is not None else None, wanted)
            chosen = picked.services
            if fast is not None and picked.current_read:
                answer = await fast(chosen, key, params, picked.current)
                if answer is not None:
                    return answer
            result = await run_in_threadpool(reader, chosen, key, params)
            return result if isinstance(result, Response) else json_response(result)

        return await _guarded(request, access, work)

    return Route(path, endpoint, methods=[method], name=action)


async def _pick(services: Services, key: StudentKey | None, wanted: str | None) -> Picked:
    """The generation this request reads (the live one unless an admin named one)."""
    if services.generations is None:
        return Picked(services)
    return await services.generations.pick(key, wanted)


def _refusing_erased(read: StudentReader[Q]) -> StudentReader[Q]:
    def refusing(services: Services, key: StudentKey, params: Q) -> BaseModel | Response:
        services.queries.refuse_erased(key)
        return read(services, key, params)

    return refusing


async def _authorize_student(services: Services, principal: Principal, key: StudentKey) -> None:
    def rostered(class_id: str) -> bool:
        return services.queries.is_rostered(key, class_id)

    needs_rosters = principal.role is Role.TEACHER and key.student_id not in principal.students
    if needs_rosters:
        allowed = await run_in_threadpool(may_read_student, principal, key.student_id, rostered)
    else:
        allowed = may_read_student(principal, key.student_id, rostered)
    if not allowed:
        raise ProblemError(403, "this token may not read this student")


ClassReader = Callable[[Services, str, str, Q], BaseModel]


def class_route(path: str, action: str, query: type[Q], read: ClassReader[Q]) -> Route:
    async def endpoint(request: Request) -> Response:
        access = _Access(path, action)

        async def work(services: Services) -> Response:
            access.principal = principal = authenticate(request, services.verifier)
            access.class_id = class_id = path_id(request, "class")
            if not may_read_class(principal, class_id):
                raise ProblemError(403, "this token may not read this class")
            params = parse_query(request, query)
            chosen = (await _pick(services, None, None)).services
            return json_response(
                await run_in_threadpool(read, chosen, principal.tenant_id, class_id, params)
            )

        return await _guarded(request, access, work)

    return Route(path, endpoint, methods=["GET"], name=action)


DirectoryReader = Callable[[Services, Scope, Q], BaseModel]


def scope_of(principal: Principal) -> Scope:
    """What a token may list: an admin its tenant, a teacher its ``classes`` and ``students``,
    a student themself; a service token nothing (403)."""
    match principal.role:
        case Role.ADMIN:
            return Scope(principal.tenant_id, everyone=True)
        case Role.TEACHER:
            return Scope(
                principal.tenant_id, classes=principal.classes, students=principal.students
            )
        case Role.STUDENT:
            return Scope(principal.tenant_id, students=frozenset({principal.subject}))
        case _:
            raise ProblemError(403, "this token may not read students or classes")


def directory_route(path: str, action: str, query: type[Q], read: DirectoryReader[Q]) -> Route:
    """A route listing what the caller may read in its tenant: rights become a ``Scope``."""

    async def endpoint(request: Request) -> Response:
        access = _Access(path, action)

        async def work(services: Services) -> Response:
            access.principal = principal = authenticate(request, services.verifier)
            scope = scope_of(principal)
            params = parse_query(request, query)
            chosen = (await _pick(services, None, None)).services
            return json_response(await run_in_threadpool(read, chosen, scope, params))

        return await _guarded(request, access, work)

    return Route(path, endpoint, methods=["GET"], name=action)
