"""``mastery project``: the projector on its own (SPEC §8), active-standby (SPEC §12)."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from api.cli.common import console, container, logging_level
from infrastructure.bootstrap import Container
from infrastructure.projection.runner import Projector
from infrastructure.runtime import heartbeat
from infrastructure.runtime.leadership import Leadership
from infrastructure.runtime.logging import configure_logging
from infrastructure.runtime.signals import stop_on_signals
from projections.view import PROJECTION_NAME


def project(
    log_level: Annotated[
        str, typer.Option(parser=logging_level, help="Log level of the JSON logs.")
    ] = "INFO",
) -> None:
    """Run the projectors: keep the Redis read models up to date until SIGTERM or Ctrl-C.

    Any number may run: one leads (a PostgreSQL advisory lock), the others stand by and take
    over within seconds of its death. Health goes to MASTERY_HEALTH_DIR (`mastery ready`).
    """
    stop = stop_on_signals()
    with container(redis=True) as built:
        configure_logging(log_level)
        heartbeat.enable(built.settings.health_dir)
        console.print(f"projecting from position {_position(built.projector)}")
        lead_projector(built, stop)  # supervised: Redis or PostgreSQL down is waited out
        console.print(f"stopped at position {_position(built.projector)}")


def lead_projector(built: Container, stop: threading.Event) -> None:
    """The container's projector, projecting while it leads its stream (the read models' key
    prefix and projection name), standing by otherwise, until ``stop``."""
    settings = built.settings
    projector = built.projector
    leadership = Leadership(
        settings.require_database_url(),
        "projector",
        settings.redis_prefix + PROJECTION_NAME,
        projector.health,
    )
    projector.fence = leadership.confirm
    built.workers.add(projector.health)  # readiness lists it while it stands by, too
    leadership.lead(stop, projector.run)


def _position(projector: Projector) -> str:
    """The tracked position, or why it cannot be read now (the projector waits it out)."""
    try:
        return str(projector.position())
    except Exception as error:  # a report line must not end the worker it reports on
        return f"unknown ({type(error).__name__}: {error})"
