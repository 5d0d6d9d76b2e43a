"""``/mcp``: the MCP server on streamable HTTP inside the query API (SPEC §13).

A request passes the API's bearer-token check first (``api.http.auth.authenticate``: the same
verifier, the same 401 problem; a refused request is written to the access log like a refused
``/v1`` read), and the verified principal rides in the request's state to the tools.

Stateless: each POST carries a whole exchange and is answered with plain JSON; no session lives
in a process between requests. ``mastery serve --workers N`` spreads requests over N processes,
and a session kept in one of them would be unknown to the others (the SDK would answer 404 to
the next request that reached another). Nothing the tools do needs a session: they are
request-response reads and one write, each authorized on its own.

The SDK's DNS-rebinding protection (a ``Host`` allow-list) is off: every request needs a bearer
token, which a page an attacker controls cannot obtain, and the API is served under whatever
host name a deployment gives it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from api.http.auth import authenticate
from api.http.events import MAX_BODY_BYTES
from api.http.problems import ProblemError, problem_response
from api.http.services import Services
from api.mcp.calls import HTTP_ROUTE, PRINCIPAL_STATE, McpCall, request_principal
from api.mcp.server import mastery_server

CONNECT_ACTION = "mcp"  # a request refused before any MCP message was read


class McpHttp:
    """The ``/mcp`` route and the session manager whose lifespan must run inside the API's."""

    def __init__(self, services: Callable[[], Services]) -> None:
        @asynccontextmanager
        async def lifespan(_: MCPServer[Services]) -> AsyncIterator[Services]:
            yield services()

        self.server = mastery_server(lifespan, request_principal)
        self.server.streamable_http_app(  # makes the session manager the route hands to
            streamable_http_path=HTTP_ROUTE,
            stateless_http=True,
            json_response=True,
            max_request_body_size=MAX_BODY_BYTES,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        handler = StreamableHTTPASGIApp(self.server.session_manager)
        # POST only: a stateless server has no stream of its own to offer on GET (the
        # specification's answer is then 405), nor a session to end on DELETE.
        self.route = Route(HTTP_ROUTE, BearerGate(handler, services), methods=["POST"], name="mcp")

    def running(self) -> AbstractAsyncContextManager[None]:
        """The session manager's task group: entered in the API's lifespan, after the
        services are built (the MCP server's lifespan hands them to every call)."""
        return self.server.session_manager.run()


class BearerGate:
    """An ASGI app letting through only requests whose bearer token verifies."""

    def __init__(self, app: ASGIApp, services: Callable[[], Services]) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = self.services()
        request = Request(scope, receive)
        request_id = getattr(request.state, "request_id", None) or "-"
        try:
            principal = authenticate(request, services.verifier)
        except ProblemError as problem:
            refused = McpCall(services, CONNECT_ACTION, HTTP_ROUTE, request_id, status=401)
            entry = refused.entry()
            services.access_log.record(entry)
            services.metrics.access_log_entries.labels(entry.outcome).inc()
            await problem_response(problem, request_id, HTTP_ROUTE)(scope, receive, send)
            return
        scope.setdefault("state", {})[PRINCIPAL_STATE] = principal
        await self.app(scope, receive, send)
