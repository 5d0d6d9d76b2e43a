"""How far the read models are behind the event store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

from infrastructure.event_store.application import MasteryApplication


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    head: int
    position: int
    lag_events: int
    lag_seconds: float


def projection_status(
    application: MasteryApplication,
    position: int,
    decode: Callable[[StoredEvent], Any | None],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ProjectionStatus:
    """Head, ``position`` and the lag between them, in events and in seconds since the oldest
    unprojected event was recorded."""
    head = application.head()
    lag_seconds = 0.0
    if head > position:
        oldest = application.recorder.select_notifications(
            start=position, limit=1, inclusive_of_start=False
        )
        recorded = decode(oldest[0]) if oldest else None
        if isinstance(recorded, Aggregate.Event):
            lag_seconds = max(0.0, (now() - recorded.timestamp).total_seconds())
    return ProjectionStatus(head, position, head - position, lag_seconds)
