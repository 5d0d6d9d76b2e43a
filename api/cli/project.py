from __future__ import annotations

import signal
import threading
from types import FrameType

from api.cli.common import console, container
from infrastructure.projection.runner import Projector


def project() -> None:
    """Run the projectors: keep the Redis read models up to date until SIGTERM or Ctrl-C."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
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
