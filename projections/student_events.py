"""The event store as the read side sees it: a port, so the queries can fall back to a
student's recorded events without depending on the store's adapter.

``MasteryApplication`` satisfies ``StudentEvents`` structurally; the unit tests give the queries
an in-memory fake instead.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol
from uuid import UUID

from domain.identifiers import check_identifier
from domain.mastery import (
    Mastery,
    Replayer,
    Step,
    StepKey,
    mastery_as_of,
    replay_steps,
    step_key,
)
from domain.mastery.rules import rounded
from domain.student_mastery import StudentMastery
from domain.timestamps import format_timestamp

MAX_CURSOR_LENGTH = 200


Row = tuple[StudentMastery.LearningEventRecorded, Step]


@dataclass(slots=True)
class Replay:
    """A student's recorded learning events in learning-time order (UTC time, then event id),
    and the history they replay to (``mastery replay``, ``/timeline``, ``/events``).

    ``steps`` computes them lazily: a caller streaming them holds one step, not the history's
    documents. ``timeline_page`` computes every step once and keeps them (a few hundred bytes
    each), so that a replay kept between requests answers any page by slicing, and
    ``extended`` takes later events without replaying the earlier ones.

    The kept parts are replaced whole, never mutated: threads sharing a replay may compute
    them twice, but each sees a complete list.
    """

    tenant_id: str
    student_id: str
    as_of: date
    events: list[StudentMastery.LearningEventRecorded]  # dated on or before ``as_of``
    _keys: list[StepKey] | None = field(default=None, compare=False, repr=False)
    _steps: tuple[list[Row], Replayer] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(
        cls,
        tenant_id: str,
        student_id: str,
        as_of: date,
        recorded: Iterable[StudentMastery.LearningEventRecorded],
    ) -> Replay:
        """The replay of ``recorded`` (any order, repeats dropped) up to ``as_of``."""
        by_id = {e.event_id: e for e in recorded if e.occurred_at.date() <= as_of}
        events = sorted(by_id.values(), key=lambda e: step_key(e.fact))
        return cls(tenant_id, student_id, as_of, events)

    def extended(self, recorded: Iterable[StudentMastery.LearningEventRecorded]) -> Replay | None:
        """This replay with ``recorded`` (events recorded since it was made) added, when every
        one dated by the replay date comes after its last event in learning time: the usual
        case, today's activity. None otherwise: an event dated earlier changes every later
        step, so the history must be replayed again."""
        fresh = sorted(
            (e for e in recorded if e.occurred_at.date() <= self.as_of),
            key=lambda e: step_key(e.fact),
        )
        if fresh and self.events and step_key(fresh[0].fact) <= step_key(self.events[-1].fact):
            return None
        twin = Replay(self.tenant_id, self.student_id, self.as_of, [*self.events, *fresh])
        if self._keys is not None:
            twin._keys = [*self._keys, *(step_key(e.fact) for e in fresh)]
        if self._steps is not None:
            rows, replayer = self._steps
            replayer = replayer.copy()
            twin._steps = ([*rows, *((e, replayer.step(e.fact)) for e in fresh)], replayer)
        return twin

    def steps(self, *, after: StepKey | None = None, full: bool = False) -> Iterator[Row]:
        """Each event after ``after`` with what it changed (and the whole mastery if ``full``)."""
        by_id = {e.event_id: e for e in self.events}
        for step in replay_steps((e.fact for e in self.events), after=after, full=full):
            yield by_id[step.fact.event_id], step

    def events_after(
        self, after: StepKey | None, limit: int
    ) -> tuple[list[StudentMastery.LearningEventRecorded], str | None]:
        """At most ``limit`` events after the cursor ``after``, in learning-time order, and the
        cursor of the next page (None at the end)."""
        start = self._start(after)
        return self.events[start : start + limit], self.cursor_after(start + limit)

    def timeline_page(
        self, after: StepKey | None, limit: int, *, full: bool = False
    ) -> tuple[list[dict[str, Any]], str | None]:
        """At most ``limit`` step documents after the cursor ``after``, and the next cursor."""
        if full:
            steps = list(itertools.islice(self.steps(after=after, full=True), limit))
        else:
            start = self._start(after)
            steps = self._remembered_steps()[start : start + limit]
        documents = [step_document(event, step) for event, step in steps]
        return documents, self.cursor_after(documents[-1]["step"]) if documents else None

    def cursor_after(self, count: int) -> str | None:
        """The cursor past the first ``count`` events; None when no event follows them."""
        if count >= len(self.events):
            return None
        return format_cursor(step_key(self.events[count - 1].fact))

    def key_before(self, count: int) -> StepKey | None:
        """The cursor that leaves the last ``count`` events to come (None: from the start)."""
        index = len(self.events) - count - 1
        return step_key(self.events[index].fact) if index >= 0 else None

    def mastery(self) -> Mastery | None:
        """Mastery as of the replay date; None when no event is that old."""
        facts = [e.fact for e in self.events]
        return mastery_as_of(facts, self.as_of) if facts else None

    def _start(self, after: StepKey | None) -> int:
        """The index of the first event after the cursor ``after``."""
        if after is None:
            return 0
        keys = self._keys
        if keys is None:
            keys = self._keys = [step_key(e.fact) for e in self.events]
        return bisect.bisect_right(keys, after)

    def _remembered_steps(self) -> list[Row]:
        if self._steps is None:
            replayer = Replayer()
            rows = [(event, replayer.step(event.fact)) for event in self.events]
            self._steps = (rows, replayer)
        return self._steps[0]


def format_cursor(key: StepKey) -> str:
    """A paging cursor as text: the step's UTC time, ``~``, its event id (URL-safe as it is)."""
    return f"{format_timestamp(key[0])}~{key[1]}"


def parse_cursor(text: str) -> StepKey:
    """The key a cursor of ``format_cursor`` names; ValueError for anything else."""
    moment, separator, event_id = text.partition("~")
    if len(text) > MAX_CURSOR_LENGTH or not separator:
        raise ValueError("must be a cursor as returned in `next`")
    try:
        check_identifier("event", event_id)
        at = datetime.fromisoformat(moment)
    except ValueError:
        raise ValueError("must be a cursor as returned in `next`") from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("must be a cursor as returned in `next`")
    return at.astimezone(UTC), event_id


class RecordedEvents(Protocol):
    """The part of the library's ``EventStore`` the queries page a student's events with."""

    def get(
        self, originator_id: UUID, *, gt: int | None = None, limit: int | None = None
    ) -> Iterable[object]:
        """The aggregate's events in version order, after version ``gt``, at most ``limit``."""
        ...


class StudentEvents(Protocol):
    """What the queries read from the event store. ``learning_events`` and ``replay`` raise
    ``UnknownStudentError`` for a student with no recorded event."""

    @property
    def events(self) -> RecordedEvents: ...

    def learning_events(
        self, tenant_id: str, student_id: str
    ) -> Iterable[StudentMastery.LearningEventRecorded]:
        """The student's recorded learning events, in recorded order."""
        ...

    def replay(self, tenant_id: str, student_id: str, as_of: date) -> Replay:
        """The student's history rebuilt from the event store, up to ``as_of``."""
        ...


def step_document(event: StudentMastery.LearningEventRecorded, step: Step) -> dict[str, Any]:
    """A replay step as JSON (``mastery replay`` and ``/timeline`` alike): the event, the scores
    after it, the level if it changed, and the whole mastery (no topics) only if computed."""
    document: dict[str, Any] = {
        "step": step.number,
        "event_id": event.event_id,
        "timestamp": format_timestamp(event.occurred_at),
        "component": event.component.value,
        "topic": event.topic,
        "mastery_score": rounded(step.score),
        "level": step.level,
        "topic_score": rounded(step.topic.score),
        "level_change": (
            {"from": step.previous_level, "to": step.level} if step.level_changed else None
        ),
    }
    if step.mastery is not None:
        document["mastery"] = step.mastery.to_document(with_topics=False)
    return document
