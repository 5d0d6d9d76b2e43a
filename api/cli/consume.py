"""``mastery consume``: the Kafka ingest worker (SPEC §6, §8)."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import command_settings, logging_level, reported_errors, require_master_key
from infrastructure.bootstrap import with_servers
from infrastructure.runtime.logging import configure_logging
from infrastructure.runtime.signals import stop_on_signals


def consume(
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Consumer processes (default MASTERY_KAFKA_CONSUMER_WORKERS, 1)."),
    ] = None,
    publish: Annotated[
        bool, typer.Option(help="Also run the mastery.results publisher in this process.")
    ] = False,
    log_level: Annotated[
        str, typer.Option(parser=logging_level, help="Log level of the JSON logs.")
    ] = "INFO",
) -> None:
    """Consume learning events from Kafka into the event store; bad messages go to the DLQ.

    Stops cleanly on SIGTERM or Ctrl-C: the batch in progress is finished and committed.
    """
    from infrastructure.kafka.workers import run_workers  # noqa: PLC0415 - keep --help fast

    configure_logging(log_level)
    with reported_errors():
        settings = command_settings()
        with with_servers(settings, kafka=True) as resolved:
            require_master_key(resolved)
            run_workers(
                resolved,
                stop_on_signals(),
                consumer=True,
                publisher=publish,
                consumer_processes=workers,
                heartbeats=True,
            )


if __name__ == "__main__":
    typer.run(consume)
