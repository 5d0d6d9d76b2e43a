from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from api.cli.common import container
from api.http.app import create_app
from infrastructure.logging import configure_logging


def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (MASTERY_HTTP_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (MASTERY_HTTP_PORT).")] = None,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Serve the query API (SPEC §7) until interrupted; embedded servers where no URL is set."""
    with container(redis=True) as built:
        configure_logging(log_level.upper())
        settings = built.settings
        uvicorn.run(
            create_app(settings, built),
            host=host or settings.http_host,
            port=port or settings.http_port,
            log_config=None,
            access_log=False,
            ws="none",
            server_header=False,
        )
