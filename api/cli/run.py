from __future__ import annotations

import logging
import threading
from typing import Annotated

import typer
import uvicorn

from api.cli.common import check_api, command_settings, container, logging_level, reported_errors
from api.cli.project import lead_projector
from api.cli.serve import server_options
from infrastructure.bootstrap import Container
from infrastructure.kafka.workers import run_workers
from infrastructure.runtime import heartbeat
from infrastructure.runtime.logging import configure_logging

log = logging.getLogger("mastery.run")


def run(
    host: Annotated[str | None, typer.Option(help="Listen address (MASTERY_HTTP_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (MASTERY_HTTP_PORT).")] = None,
    log_level: Annotated[str, typer.Option(parser=logging_level, help="Log level.")] = "info",
) -> None:
    """API, projector, Kafka consumer and publisher in one process, until SIGTERM or Ctrl-C."""
    with reported_errors():
        settings = command_settings()
        check_api(settings, host, port)
    with container(redis=True, kafka=True, settings=settings) as built:
        configure_logging(log_level)
        serve_everything(built, host, port)


def serve_everything(built: Container, host: str | None, port: int | None) -> None:
    """Run the projector and the Kafka workers in threads and serve the API in this one; a
    signal stops the server, then the workers finish their batch and stop. The projector and
    the publisher lead at once unless another process leads their streams (they stand by)."""
    from api.http.app import create_app  # noqa: PLC0415 - the web stack and the MCP SDK take a second to import: keep other commands fast

    settings = built.settings
    heartbeat.enable(settings.health_dir)
    stop = threading.Event()
    workers = [threading.Thread(target=lead_projector, args=(built, stop), name="projector")]
    if settings.kafka_bootstrap_servers:
        workers.append(
            threading.Thread(target=_kafka, args=(built, stop), name="kafka", daemon=True)
        )
    for worker in workers:
        worker.start()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, built), **server_options(settings, host, port))
    )
    try:
        server.run()  # returns on SIGINT / SIGTERM after a graceful shutdown
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)


def _kafka(built: Container, stop: threading.Event) -> None:
    try:
        run_workers(
            built.settings,
            stop,
            consumer=True,
            publisher=True,
            registry=built.workers,
            heartbeats=True,
        )
    except Exception:
        log.exception("the Kafka workers stopped")
