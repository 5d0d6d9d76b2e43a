"""The mastery projection: recorded events in, read-model updates out (SPEC §5).

Each student's documents are a pure function of the student's facts (``domain.mastery``), so an
update recomputes what an event can change: the daily snapshots from the event's date on (a
late event corrects every later day), the current document and the roster score. Positions are
derived from the store too — a snapshot reflects the highest notification id among the facts
dated on or before it — so an incremental run and a rebuild write identical documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from domain.facts import LearningFact
from domain.mastery import DailySnapshots, Mastery
from domain.mastery.formulas import DEFAULT_FORMULA, Formula
from domain.student_mastery import StudentMastery
from projections.view import StudentKey, StudentUpdate


@dataclass(slots=True)
class StudentHistory:
    """What the projection knows of one student: every fact, with the position it came from.

    ``daily`` keeps the formula's state before the student's latest activity date, so a cached
    history with new facts from that date on is not replayed from its first fact.
    """

    key: StudentKey
    formula: Formula = field(default=DEFAULT_FORMULA, compare=False)
    facts: dict[str, tuple[LearningFact, int]] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)
    position: int = 0  # highest notification id seen for this student
    daily: DailySnapshots = field(default_factory=DailySnapshots, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.daily.formula != self.formula:
            self.daily = DailySnapshots(self.formula)

    def add(self, fact: LearningFact, class_id: str | None, position: int) -> None:
        self.facts.setdefault(fact.event_id, (fact, position))
        if class_id is not None and class_id not in self.classes:
            self.classes.append(class_id)
        self.position = max(self.position, position)


@dataclass(slots=True)
class _Batch:
    histories: dict[UUID, StudentHistory]
    changed_since: dict[UUID, date] = field(default_factory=dict)


class MasteryProjection:
    """Folds recorded events into student histories and turns the changes into updates, under
    one formula (histories it creates compute their documents with it)."""

    def __init__(self, formula: Formula = DEFAULT_FORMULA) -> None:
        self.formula = formula

    def process(
        self,
        histories: dict[UUID, StudentHistory],
        events: Iterable[tuple[int, Any]],
    ) -> list[StudentUpdate]:
        """Apply ``(notification_id, domain_event)`` pairs, in store order, to ``histories``
        (mutated in place) and return one update per student they changed."""
        changed = self.fold(histories, events)
        return [
            student_update(histories[originator], since)
            for originator, since in sorted(changed.items(), key=lambda item: str(item[0]))
        ]

    def fold(
        self, histories: dict[UUID, StudentHistory], events: Iterable[tuple[int, Any]]
    ) -> dict[UUID, date]:
        """Add the events to ``histories``; returns, per student changed, the earliest date
        whose documents the events change."""
        batch = _Batch(histories)
        # The handlers registered on process_event, looked up through its dispatcher's cache:
        # going through the bound singledispatchmethod would build a wrapper for every event.
        handler_for = _PROCESS_EVENT.dispatcher.dispatch
        for position, domain_event in events:
            handler_for(type(domain_event))(self, domain_event, position, batch)
        return batch.changed_since

    @singledispatchmethod
    def process_event(self, domain_event: Any, position: int, batch: _Batch) -> None:
        """Events that do not touch the read models."""

    @process_event.register
    def _(self, domain_event: StudentMastery.Enrolled, position: int, batch: _Batch) -> None:
        key = StudentKey(domain_event.tenant_id, domain_event.student_id)
        history = batch.histories.setdefault(
            domain_event.originator_id, StudentHistory(key, self.formula)
        )
        history.position = max(history.position, position)

    @process_event.register
    def _(
        self, domain_event: StudentMastery.LearningEventRecorded, position: int, batch: _Batch
    ) -> None:
        history = batch.histories[domain_event.originator_id]
        fact = domain_event.fact
        history.add(fact, domain_event.class_id, position)
        since = batch.changed_since.get(domain_event.originator_id)
        batch.changed_since[domain_event.originator_id] = min(since or fact.day, fact.day)


_PROCESS_EVENT: singledispatchmethod[Any] = vars(MasteryProjection)["process_event"]


def student_update(history: StudentHistory, since: date | None = None) -> StudentUpdate:
    """The student's documents from ``since`` on (all of them without ``since``), under the
    history's formula; every fact added to ``history`` since its last update must be dated on
    or after ``since``."""
    facts = [fact for fact, _ in history.facts.values()]
    masteries = history.daily.update(facts, since)
    positions = _positions_by_date(history)
    dates = tuple(sorted(positions))
    last = dates[-1]
    current = _document(history.key, masteries[last], positions[last], topics=True)
    snapshots = {
        day: _document(history.key, mastery, positions[day], topics=False)
        for day, mastery in masteries.items()
    }
    return StudentUpdate(
        key=history.key,
        position=history.position,
        current=current,
        snapshots=snapshots,
        activity_dates=dates,
        classes=tuple(history.classes),
        score=current["mastery_score"],
    )


def _positions_by_date(history: StudentHistory) -> dict[date, int]:
    """For each activity date, the highest notification id among facts dated on or before it."""
    latest: dict[date, int] = {}
    for fact, position in history.facts.values():
        latest[fact.day] = max(latest.get(fact.day, 0), position)
    running = 0
    cumulative = {}
    for day in sorted(latest):
        running = max(running, latest[day])
        cumulative[day] = running
    return cumulative


def _document(key: StudentKey, mastery: Mastery, position: int, *, topics: bool) -> dict[str, Any]:
    return {
        "tenant_id": key.tenant_id,
        "student_id": key.student_id,
        **mastery.to_document(with_topics=topics, exact=True),
        "position": position,
    }


def histories_from(
    events: Sequence[tuple[int, Any]], formula: Formula = DEFAULT_FORMULA
) -> dict[UUID, StudentHistory]:
    """Histories built from scratch out of complete event streams (used by rebuilds)."""
    histories: dict[UUID, StudentHistory] = {}
    MasteryProjection(formula).fold(histories, events)
    return histories
