from __future__ import annotations

import signal
import threading
from types import FrameType

from api.cli.common import console, container


def project() -> None:
    """Run the projectors: keep the Redis read models up to date until SIGTERM or Ctrl-C."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with container(redis=True) as built:
        console.print(f"projecting from position {built.projector.position()}")
        built.projector.run(stop)
        console.print(f"stopped at position {built.projector.position()}")
