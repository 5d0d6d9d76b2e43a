"""Stopping a worker process cleanly: SIGTERM (and Ctrl-C) set a stop event."""

from __future__ import annotations

import signal
import threading
from types import FrameType


def stop_on_signals(*, interrupt: bool = True) -> threading.Event:
    """An event set by SIGTERM, and by SIGINT when ``interrupt`` (else SIGINT is ignored: a
    child whose parent relays Ctrl-C as SIGTERM). Install from the main thread."""
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal if interrupt else signal.SIG_IGN)
    return stop
