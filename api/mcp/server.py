"""The MCP server of one transport: its tools and resource, its guard, and where its
``Services`` come from (the server's lifespan yields them; every call finds them on its
request context)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from importlib.metadata import PackageNotFoundError, version

from mcp.server.mcpserver import MCPServer

from api.http.services import Services
from api.mcp.calls import CallGuard, PrincipalOf
from api.mcp.tools import TOOL_NAMES, register

NAME = "mastery-engine"
INSTRUCTIONS = (
    "Mastery Engine tracks how well each student masters what they learn. Read mastery with "
    "these tools instead of computing it: get_mastery and explain_mastery for one student, "
    "recommend_next for what to do next, predict for the trend, class_overview and "
    "at_risk_students for a class. record_learning_event records an event (service tokens "
    "only). Your token decides whom you may read, as on the HTTP API."
)

Lifespan = Callable[[MCPServer[Services]], AbstractAsyncContextManager[Services]]


def mastery_server(lifespan: Lifespan, principal_of: PrincipalOf) -> MCPServer[Services]:
    # The SDK's constructor configures the root logger (``logging.basicConfig``) when it has no
    # handler yet; logging is configured once, at the edge (``configure_logging``), so that
    # change is undone rather than left to whoever logs next in the process.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        server = MCPServer(
            NAME,
            title="Mastery Engine",
            instructions=INSTRUCTIONS,
            version=_version(),
            lifespan=lifespan,
            middleware=[CallGuard(principal_of, TOOL_NAMES)],
            log_level="WARNING",
        )
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    register(server)
    return server


def _version() -> str:
    try:
        return version("mastery-engine")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"
