"""``mastery mcp``: the MCP server on stdio, for an agent that starts it as a subprocess.

The process is one principal: the token it was given, verified as the API verifies a bearer
token, at start (a bad token stops the command) and again at every call (an expired token is
refused from then on, as it would be over HTTP). Standard output carries the protocol alone;
logs go to standard error. The session ends when the agent closes standard input, or on
SIGTERM / Ctrl-C; either way the access log is flushed before the process exits.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
from mcp.server.mcpserver import MCPServer

from api.http.metrics import Metrics
from api.http.services import Services
from api.http.startup import started_services
from api.mcp.calls import token_principal
from api.mcp.server import mastery_server
from infrastructure.auth.tokens import TokenVerifier
from infrastructure.bootstrap import Container


def serve_stdio(built: Container, verifier: TokenVerifier, token: str) -> None:
    """Answer MCP on stdin/stdout until the agent closes stdin or a signal stops it."""
    anyio.run(_serve, built, verifier, token)


async def _serve(built: Container, verifier: TokenVerifier, token: str) -> None:
    @asynccontextmanager
    async def lifespan(_: MCPServer[Services]) -> AsyncIterator[Services]:
        async with AsyncExitStack() as stack:
            yield started_services(built, verifier, Metrics(), stack)

    server = mastery_server(lifespan, token_principal(token))
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_stop_on_signal, tasks.cancel_scope)
        await server.run_stdio_async()
        tasks.cancel_scope.cancel()


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            scope.cancel()
            return
