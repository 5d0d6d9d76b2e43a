from __future__ import annotations

import os
from typing import Annotated, Any

import typer
import uvicorn

from api.cli.common import check_api, command_settings, container, logging_level, reported_errors
from api.http.app import create_app
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
            # Each worker process builds its own objects from the environment, so it is
            # given what was resolved here (embedded servers, the demo's secrets).
            os.environ.update(_resolved_urls(settings))
            uvicorn.run(
                "api.http.app:app_from_env",
                factory=True,
                workers=count,
                **server_options(settings, host, port),
            )
            return
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


def _resolved_urls(settings: Settings) -> dict[str, str]:
    urls = {
        "MASTERY_DATABASE_URL": settings.database_url,
        "MASTERY_REDIS_URL": settings.redis_url,
        "MASTERY_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "MASTERY_JWT_SECRET": settings.jwt_secret,
        "MASTERY_MASTER_KEY": settings.master_key,
    }
    return {name: value for name, value in urls.items() if value}
