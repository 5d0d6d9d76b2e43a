"""The models of a student's events and replay steps, paged in learning-time order (time, then
event id) by one cursor: ``GET /v1/students/{id}/events`` and ``/timeline``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from api.http.models import Level, SnapshotOut, _Model
from domain.mastery import StepKey
from domain.student_mastery import StudentMastery
from domain.timestamps import format_timestamp
from projections.replay import parse_cursor


def _cursor(value: object) -> object:
    """A paging cursor is the ``next`` of a previous page (learning time, then event id)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be a cursor as returned in `next`")
    parse_cursor(value)
    return value


Cursor = Annotated[
    str | None,
    BeforeValidator(_cursor),
    Field(description="Cursor: the `next` of the previous page; omit for the first page."),
]


class EventsQuery(_Model):
    after: Cursor = None
    limit: int = Field(100, ge=1, le=1000)

    @property
    def after_key(self) -> StepKey | None:
        return None if self.after is None else parse_cursor(self.after)


class TimelineQuery(EventsQuery):
    limit: int = Field(200, ge=1, le=1000)
    full: bool = Field(False, description="Each step carries the whole mastery (no topics).")


class EventOut(_Model):
    version: int = Field(
        description="The event's version in the student's history: recording order."
    )
    event_id: str
    timestamp: str
    tenant_id: str
    student_id: str
    class_id: str | None
    component: str
    topic: str
    data: dict[str, Any]
    metadata: dict[str, Any] | None

    @classmethod
    def of(
        cls, event: StudentMastery.LearningEventRecorded, tenant_id: str, student_id: str
    ) -> EventOut:
        return cls(
            version=event.originator_version,
            event_id=event.event_id,
            timestamp=format_timestamp(event.occurred_at),
            tenant_id=tenant_id,
            student_id=student_id,
            class_id=event.class_id,
            component=event.component.value,
            topic=event.topic,
            data=event.data,
            metadata=event.metadata,
        )


class EventsOut(_Model):
    """A page of the student's events in learning-time order (time, then event id)."""

    tenant_id: str
    student_id: str
    events: list[EventOut]
    next: str | None = Field(description="Pass as `after` for the next page; null at the end.")


class LevelChange(_Model):
    from_: Level = Field(alias="from")
    to: Level


class TimelineStep(_Model):
    """What one event changed: the scores just after it, as of the event's date."""

    step: int = Field(description="1-based place in learning-time order.")
    event_id: str
    timestamp: str
    component: str
    topic: str
    mastery_score: float
    level: Level
    topic_score: float = Field(description="The touched topic's mastery after the event.")
    level_change: LevelChange | None = Field(description="Set when the level changed.")
    mastery: SnapshotOut | None = Field(None, description="Only with `full=true`.")


class TimelineOut(_Model):
    """A page of the replay, in learning-time order (time, then event id)."""

    tenant_id: str
    student_id: str
    step_count: int = Field(description="Steps in the whole replay.")
    steps: list[TimelineStep]
    next: str | None = Field(description="Pass as `after` for the next page; null at the end.")
