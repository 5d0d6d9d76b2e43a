"""``mastery mcp``: the Model Context Protocol server on stdio (SPEC §13)."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import (
    EXIT_USAGE,
    command_settings,
    container,
    fail,
    logging_level,
    reported_errors,
)
from infrastructure.auth.tokens import InvalidTokenError, TokenVerifier
from infrastructure.runtime.logging import configure_logging


def mcp(
    token: Annotated[
        str | None,
        typer.Option(
            metavar="TOKEN",
            help="The bearer token the agent acts with (MASTERY_MCP_TOKEN); its role and "
            "claims decide what the tools may read, as on the HTTP API.",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option(parser=logging_level, help="Log level (on standard error).")
    ] = "warning",
) -> None:
    """Serve MCP tools and resources on stdin/stdout for an AI agent (docs/mcp.md)."""
    configure_logging(log_level)  # JSON lines on stderr: stdout carries the protocol alone
    with reported_errors():
        settings = command_settings()
        verifier = TokenVerifier.from_settings(settings)
    given = token or settings.mcp_token
    if not given:
        raise fail("a token is required: --token or MASTERY_MCP_TOKEN", EXIT_USAGE)
    try:
        verifier.verify(given)
    except InvalidTokenError as exc:
        raise fail(f"the token is not valid: {exc}", EXIT_USAGE) from None
    with container(redis=True, settings=settings) as built:
        from api.mcp.stdio import serve_stdio  # noqa: PLC0415 - the MCP SDK takes a second to import

        serve_stdio(built, verifier, given)
