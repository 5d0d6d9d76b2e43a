"""``mastery publish``: the mastery.results publisher on its own (SPEC §6)."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import command_settings, logging_level, reported_errors, require_master_key
from infrastructure.bootstrap import with_servers
from infrastructure.runtime.logging import configure_logging
from infrastructure.runtime.signals import stop_on_signals


def publish(
    log_level: Annotated[
        str, typer.Option(parser=logging_level, help="Log level of the JSON logs.")
    ] = "INFO",
) -> None:
    """Publish mastery.updated and mastery.threshold.reached from the event store's log.

    Resumes from its tracked position; stops cleanly on SIGTERM or Ctrl-C. Any number may
    run: one leads (a PostgreSQL advisory lock), the others stand by and take over within
    seconds of its death. Health goes to MASTERY_HEALTH_DIR (`mastery ready`).
    """
    from infrastructure.kafka.workers import run_workers  # noqa: PLC0415 - keep --help fast

    configure_logging(log_level)
    with reported_errors():
        settings = command_settings()
        with with_servers(settings, kafka=True) as resolved:
            require_master_key(resolved)
            run_workers(
                resolved, stop_on_signals(), consumer=False, publisher=True, heartbeats=True
            )


if __name__ == "__main__":
    typer.run(publish)
