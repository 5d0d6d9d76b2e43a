from __future__ import annotations

from api.cli.common import console, container
from infrastructure.projection.runner import Projector
from infrastructure.runtime.signals import stop_on_signals


def project() -> None:
    """Run the projectors: keep the Redis read models up to date until SIGTERM or Ctrl-C."""
    stop = stop_on_signals()
    with container(redis=True) as built:
        console.print(f"projecting from position {_position(built.projector)}")
        built.projector.run(stop)  # supervised: Redis or PostgreSQL down is waited out
        console.print(f"stopped at position {_position(built.projector)}")


def _position(projector: Projector) -> str:
    """The tracked position, or why it cannot be read now (the projector waits it out)."""
    try:
        return str(projector.position())
    except Exception as error:  # a report line must not end the worker it reports on
        return f"unknown ({type(error).__name__}: {error})"
