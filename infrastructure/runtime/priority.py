"""Lower CPU priority for background work (a generation build) so the live path keeps its share.

Processes spawned afterwards (a build's bulk workers) inherit the niceness, so one call at the
start of the work covers all of it. Raising niceness needs no privilege; it cannot be undone by
an unprivileged process, so call it only in a process that does nothing else afterwards.
"""

from __future__ import annotations

import os

MOST_NICE = 19


def lower_priority(by: int) -> int:
    """Add ``by`` (0..19) to this process's niceness; returns the niceness now."""
    if not 0 <= by <= MOST_NICE:
        raise ValueError(f"niceness increment must be within 0..{MOST_NICE}, got {by}")
    return os.nice(by)
