"""A student's history replayed (``mastery replay``, ``/timeline``, ``/events``): their events in
learning-time order, the steps they replay to, kept between requests and brought up to date,
and the cursors both routes page by."""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, ClassVar

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
from domain.mastery.formulas import DEFAULT_FORMULA, Formula
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
    formula: Formula = field(default=DEFAULT_FORMULA, compare=False)
    _keys: list[StepKey] | None = field(default=None, compare=False, repr=False)
    _steps: KeptSteps | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(
        cls,
        tenant_id: str,
        student_id: str,
        as_of: date,
        recorded: Iterable[StudentMastery.LearningEventRecorded],
        formula: Formula = DEFAULT_FORMULA,
    ) -> Replay:
        """The replay of ``recorded`` (any order, repeats dropped) up to ``as_of``."""
        by_id = {e.event_id: e for e in recorded if e.occurred_at.date() <= as_of}
        events = sorted(by_id.values(), key=lambda e: step_key(e.fact))
        return cls(tenant_id, student_id, as_of, events, formula)

    def under(self, formula: Formula) -> Replay:
        """The same events replayed under ``formula`` (this replay if it is already its)."""
        if formula == self.formula:
            return self
        return Replay(self.tenant_id, self.student_id, self.as_of, self.events, formula)

    def extended(self, recorded: Iterable[StudentMastery.LearningEventRecorded]) -> Replay:
        """This replay with ``recorded`` (events recorded since it was made) added in their
        learning-time places. Kept steps before the first new event stay; the others are
        replayed from the checkpoint before it: nothing, for today's activity."""
        fresh = sorted(
            (e for e in recorded if e.occurred_at.date() <= self.as_of),
            key=lambda e: step_key(e.fact),
        )
        if not fresh:
            return self
        keys = self._all_keys()
        start = bisect.bisect_left(keys, step_key(fresh[0].fact))
        later = list(heapq.merge(self.events[start:], fresh, key=lambda e: step_key(e.fact)))
        twin = Replay(
            self.tenant_id,
            self.student_id,
            self.as_of,
            [*self.events[:start], *later],
            self.formula,
        )
        twin._keys = [*keys[:start], *(step_key(e.fact) for e in later)]
        if self._steps is not None:
            twin._steps = self._steps.resumed(twin.events, start)
        return twin

    def steps(self, *, after: StepKey | None = None, full: bool = False) -> Iterator[Row]:
        """Each event after ``after`` with what it changed (and the whole mastery if ``full``)."""
        by_id = {e.event_id: e for e in self.events}
        facts = (e.fact for e in self.events)
        for step in replay_steps(facts, after=after, full=full, formula=self.formula):
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
        return mastery_as_of(facts, self.as_of, self.formula) if facts else None

    def _start(self, after: StepKey | None) -> int:
        """The index of the first event after the cursor ``after``."""
        if after is None:
            return 0
        return bisect.bisect_right(self._all_keys(), after)

    def _remembered_steps(self) -> list[Row]:
        if self._steps is None:
            self._steps = KeptSteps.of(self.events, self.formula)
        return self._steps.rows

    def _all_keys(self) -> list[StepKey]:
        keys = self._keys
        if keys is None:
            keys = self._keys = [step_key(e.fact) for e in self.events]
        return keys


@dataclass(frozen=True, slots=True)
class KeptSteps:
    """Every step of a replay, the replayer after the last one, and a copy of it every
    ``EVERY`` steps: a replay brought up to date resumes from the last one before its first
    new event instead of from the first step."""

    EVERY: ClassVar[int] = 1000

    rows: list[Row]
    replayer: Replayer
    checkpoints: list[Replayer]  # checkpoints[i]: the replayer after i * EVERY steps

    @classmethod
    def of(
        cls,
        events: list[StudentMastery.LearningEventRecorded],
        formula: Formula = DEFAULT_FORMULA,
    ) -> KeptSteps:
        return cls([], Replayer(formula), [Replayer(formula)]).resumed(events, 0)

    def resumed(self, events: list[StudentMastery.LearningEventRecorded], start: int) -> KeptSteps:
        """The steps of ``events``, whose first ``start`` are this one's first ``start``."""
        if start >= len(self.rows):
            replayer, done = self.replayer.copy(), len(self.rows)
        else:
            replayer, done = (
                self.checkpoints[start // self.EVERY].copy(),
                start // self.EVERY * self.EVERY,
            )
        rows = self.rows[:done]
        checkpoints = self.checkpoints[: done // self.EVERY + 1]
        for event in events[done:]:
            rows.append((event, replayer.step(event.fact)))
            if len(rows) % self.EVERY == 0:
                checkpoints.append(replayer.copy())
        return KeptSteps(rows, replayer, checkpoints)


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
