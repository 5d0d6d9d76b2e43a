"""The one way a moment is written in documents and messages: ISO 8601 in UTC with a ``Z``.

Pure: it formats the moment it is given and never reads the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime


def format_timestamp(moment: datetime) -> str:
    """``moment`` in UTC as ISO 8601 with ``Z`` for the offset (``2026-01-14T10:30:00Z``;
    microseconds kept when there are any). A moment already in UTC is written as it is."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
