"""The pipeline every MCP tool call and resource read goes through, as every ``/v1`` read goes
through ``api/http/guard.py``: who is calling (the bearer token, verified like the API's), what
the caller may read (``infrastructure.auth.policy``, the API's rules) and one access-log row per
call, whatever its outcome.

``CallGuard`` is the server's middleware: it wraps each ``tools/call`` and ``resources/read``,
resolves the principal, keeps the call's ``McpCall`` in a context variable for the tool to use
(it travels to the worker thread a synchronous tool runs on) and writes the access-log entry
once the call has an answer. A call the SDK refuses before the tool runs (arguments that fail
the input schema, an unknown tool) is logged too, as ``invalid``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS

from api.http.guard import access_entry, as_problem, scope_of
from api.http.problems import TITLES, ProblemError, unauthorized
from api.http.services import Services
from domain.identifiers import check_identifier
from infrastructure.auth.policy import Principal, may_ingest, may_read_class, may_read_student
from infrastructure.auth.tokens import InvalidTokenError
from infrastructure.compliance.access_log import AccessEntry
from projections.directory import Scope
from projections.view import StudentKey

HTTP_ROUTE = "/mcp"
STDIO_ROUTE = "stdio"
PRINCIPAL_STATE = "mcp_principal"  # where the HTTP gate leaves the verified principal
RESOURCE_ACTION = "mcp:read_mastery_resource"
UNKNOWN_TOOL_ACTION = "mcp:unknown_tool"
RESOURCE_NOT_FOUND = -32002  # the MCP specification's code for an unknown resource


@dataclass
class McpCall:
    """One tool call or resource read: what it needs and what the access log says about it."""

    services: Services
    action: str
    route: str
    request_id: str
    principal: Principal | None = None
    student_id: str | None = None
    class_id: str | None = None
    status: int | None = None

    def caller(self) -> Principal:
        if self.principal is None:  # the guard sets it before any tool runs
            raise ProblemError(401, "no verified token")
        return self.principal

    def student(self, student_id: str) -> StudentKey:
        """The key of a student the caller may read (403 otherwise; 410 once erased), decided
        before the student is looked up, as on ``/v1``."""
        self.student_id = student_id
        principal = self.caller()
        key = StudentKey(principal.tenant_id, student_id)

        def rostered(class_id: str) -> bool:
            return self.services.queries.is_rostered(key, class_id)

        if not may_read_student(principal, student_id, rostered):
            raise ProblemError(403, "this token may not read this student")
        self.services.queries.refuse_erased(key)
        return key

    def school_class(self, class_id: str) -> str:
        """The id of a class the caller may read (403 otherwise)."""
        self.class_id = class_id
        if not may_read_class(self.caller(), class_id):
            raise ProblemError(403, "this token may not read this class")
        return class_id

    def scope(self, class_id: str | None = None) -> Scope:
        """What the caller may list (403 for a service token), as ``/v1/students`` lists it."""
        self.class_id = class_id
        return scope_of(self.caller())

    def ingester(self) -> Principal:
        principal = self.caller()
        if not may_ingest(principal):
            raise ProblemError(403, "only a service token may record learning events")
        return principal

    def entry(self) -> AccessEntry:
        return access_entry(
            self.principal,
            self.request_id,
            self.status or 500,
            student_id=self.student_id,
            class_id=self.class_id,
            route=self.route,
            action=self.action,
        )


_CALL: ContextVar[McpCall] = ContextVar("mcp_call")
P = ParamSpec("P")
R = TypeVar("R")


def current_call() -> McpCall:
    """The call being answered (set by ``CallGuard`` around every tool call and read)."""
    return _CALL.get()


def message_of(problem: ProblemError) -> str:
    """A tool error's text: what kind of refusal, and why (field errors listed)."""
    title = TITLES.get(problem.status, "Error").lower()
    fields = "; ".join(f"{e['loc']}: {e['msg']}" for e in problem.errors)
    return f"{title}: {problem.detail}" + (f" ({fields})" if fields else "")


def answered(work: Callable[P, R]) -> Callable[P, R]:
    """A tool's body, with its failures as tool errors the agent can read (never a crash of the
    session) and its status kept for the access log. The signature is the tool's own, so the
    SDK still derives the input schema from it."""

    def tool(*args: P.args, **kwargs: P.kwargs) -> R:
        call = current_call()
        try:
            result = work(*args, **kwargs)
        except Exception as exc:
            problem = as_problem(exc)
            call.status = problem.status
            raise ToolError(message_of(problem)) from None
        call.status = 200
        return result

    tool.__name__ = work.__name__
    tool.__qualname__ = work.__qualname__
    tool.__doc__ = work.__doc__
    tool.__wrapped__ = work  # type: ignore[attr-defined]
    return tool


def resource_error(exc: Exception) -> MCPError:
    """A failed resource read as the JSON-RPC error the client gets, its status kept."""
    problem = as_problem(exc)
    current_call().status = problem.status
    code = {404: RESOURCE_NOT_FOUND, 500: INTERNAL_ERROR}.get(problem.status, INVALID_PARAMS)
    return MCPError(code=code, message=message_of(problem), data={"status": problem.status})


# --- the guard ---------------------------------------------------------------------------------

PrincipalOf = Callable[[ServerRequestContext[Any, Any], Services], Principal]


def request_principal(ctx: ServerRequestContext[Any, Any], _: Services) -> Principal:
    """Over HTTP: the principal the ``/mcp`` gate verified from the request's bearer token."""
    principal = getattr(getattr(ctx.request, "state", None), PRINCIPAL_STATE, None)
    if not isinstance(principal, Principal):
        raise unauthorized("an Authorization: Bearer token is required")
    return principal


def token_principal(token: str) -> PrincipalOf:
    """Over stdio: the principal of the process's token, verified at every call (so an expired
    token stops working mid-session, as it would over HTTP)."""

    def principal(_: ServerRequestContext[Any, Any], services: Services) -> Principal:
        try:
            return services.verifier.verify(token)
        except InvalidTokenError as exc:
            raise unauthorized(str(exc)) from None

    return principal


class CallGuard:
    """The server middleware: every ``tools/call`` and ``resources/read`` is authenticated,
    answered and written to the access log."""

    def __init__(self, principal_of: PrincipalOf, tools: frozenset[str]) -> None:
        self.principal_of = principal_of
        self.tools = tools

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if ctx.method not in ("tools/call", "resources/read"):
            return await call_next(ctx)
        services: Services = ctx.lifespan_context
        if services.generations is not None:  # the live generation, read once per call
            services = (await services.generations.pick(None, None)).services
        call = self._call_of(ctx, services)
        reset = _CALL.set(call)
        try:
            try:
                call.principal = self.principal_of(ctx, services)
            except ProblemError as exc:
                call.status = exc.status
                if ctx.method == "tools/call":
                    return {"content": [_text(message_of(exc))], "isError": True}
                raise MCPError(code=INVALID_PARAMS, message=message_of(exc)) from None
            result = await call_next(ctx)
            if call.status is None:  # refused by the SDK before the tool ran
                call.status = 422 if _is_error(result) else 200
            return result
        except MCPError:
            call.status = call.status or 422
            raise
        finally:
            _CALL.reset(reset)
            entry = call.entry()
            services.access_log.record(entry)
            services.metrics.access_log_entries.labels(entry.outcome).inc()

    def _call_of(self, ctx: ServerRequestContext[Any, Any], services: Services) -> McpCall:
        params: Mapping[str, Any] = ctx.params or {}
        state = getattr(ctx.request, "state", None)
        request_id = getattr(state, "request_id", None) or uuid.uuid4().hex
        call = McpCall(
            services,
            action=self._action(ctx.method, params),
            route=HTTP_ROUTE if ctx.request is not None else STDIO_ROUTE,
            request_id=request_id,
        )
        # Named before any check, so a refused or invalid call still says whom it concerned.
        arguments = params.get("arguments")
        if isinstance(arguments, Mapping):
            event = arguments.get("event")
            call.student_id = _identifier(arguments.get("student_id")) or _identifier(
                event.get("student_id") if isinstance(event, Mapping) else None
            )
            call.class_id = _identifier(arguments.get("class_id"))
        return call

    def _action(self, method: str, params: Mapping[str, Any]) -> str:
        if method == "resources/read":
            return RESOURCE_ACTION
        name = params.get("name")
        return f"mcp:{name}" if name in self.tools else UNKNOWN_TOOL_ACTION


def _identifier(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return check_identifier("any", value)
    except ValueError:
        return None


def _is_error(result: HandlerResult) -> bool:
    if isinstance(result, Mapping):
        return bool(result.get("isError"))
    return bool(getattr(result, "is_error", False))


def _text(text: str) -> dict[str, str]:
    return {"type": "text", "text": text}
