"""``mastery serve``: the query API in one process, or in several sharing one socket."""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Annotated, Any

import typer
import uvicorn
from uvicorn.supervisors import Multiprocess

from api.cli.common import check_api, command_settings, container, logging_level, reported_errors
from infrastructure.runtime.logging import configure_logging
from infrastructure.settings import Settings


def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (MASTERY_HTTP_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (MASTERY_HTTP_PORT).")] = None,
    log_level: Annotated[str, typer.Option(parser=logging_level, help="Log level.")] = "info",
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (MASTERY_HTTP_WORKERS, 2).")
    ] = None,
) -> None:
    """Serve the query API (SPEC §7) until interrupted; embedded servers where no URL is set."""
    with reported_errors():
        settings = command_settings()
        check_api(settings, host, port)
    with container(redis=True, settings=settings) as built:
        configure_logging(log_level)
        settings = built.settings
        count = workers or settings.http_workers
        if count > 1:
            _serve_in_processes(settings, count, server_options(settings, host, port))
            return
        from api.http.app import create_app  # noqa: PLC0415 - the web stack and the MCP SDK take a second to import: keep other commands fast

        uvicorn.run(create_app(settings, built), **server_options(settings, host, port))


def server_options(settings: Settings, host: str | None, port: int | None) -> dict[str, Any]:
    """How every entry point runs uvicorn: our own JSON logs, no access log (the middleware
    logs each request), no websockets, no server header."""
    return {
        "host": host or settings.http_host,
        "port": port or settings.http_port,
        "log_config": None,
        "access_log": False,
        "ws": "none",
        "server_header": False,
    }


def _serve_in_processes(settings: Settings, count: int, options: dict[str, Any]) -> None:
    """``count`` uvicorn worker processes on one socket, started as ``uvicorn.run`` starts
    them, each building its app from ``settings`` as resolved here (embedded servers' URLs,
    the demo's secrets).

    uvicorn pickles its ``Config``, app factory included, into every worker it spawns or
    respawns, so the settings travel with the factory and no environment variable needs to be
    set. ``uvicorn.run`` accepts only an import string for several workers, hence its two
    steps (bind, supervise) here.
    """
    from api.http.app import app_from_env  # noqa: PLC0415 - the web stack and the MCP SDK take a second to import: keep other commands fast

    config = uvicorn.Config(partial(app_from_env, settings), factory=True, workers=count, **options)
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[config.bind_socket()]).run()
