"""The query service against the in-memory view, fed by the real projection, and an in-memory
event store: which source answers each read, and that every answer is what the formula says."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import Tracking

from domain.errors import StudentErasedError, UnknownStudentError
from domain.facts import Component, LearningFact
from domain.mastery import Mastery, Prediction, daily_masteries, mastery_as_of, predict
from domain.student_mastery import StudentMastery, student_aggregate_id
from projections.mastery_projection import MasteryProjection, StudentHistory
from projections.memory_view import InMemoryMasteryView
from projections.queries import READ_MODEL, REPLAY, MasteryRead, RosterEntry, StudentQueries
from projections.view import PROJECTION_NAME, StudentKey, StudentUpdate
from tests.unit.projections.recorded import InMemoryStudentEvents, Learning, learning

ALICE = StudentKey("t-one", "alice")
BOB = StudentKey("t-one", "bob")
NOBODY = StudentKey("t-one", "nobody")
TODAY = date(2026, 3, 10)


def day(n: int) -> date:
    return date(2026, 3, n)


ALICE_EVENTS = (  # positions 2..5: her enrolment is 1
    learning("a1", day(2), Component.QUIZ),
    learning("a2", day(3), Component.COMPLETION),
    learning("a3", day(5), Component.QUALITY),
    learning("a4", day(6), Component.CONSISTENCY),
)
BOB_EVENTS = (  # weak: at risk
    learning("b1", day(2), Component.QUIZ, correct_answers=2),
    learning("b2", day(4), Component.QUIZ, correct_answers=3),
    learning("b3", day(6), Component.COMPLETION, completed_exercises=2),
)


@dataclasses.dataclass(slots=True)
class Clock:
    today: date = TODAY

    def __call__(self) -> date:
        return self.today


class Cohort:
    """Students recorded in the in-memory store and projected as the runner would."""

    def __init__(self, *, snapshot_ttl_days: int = 0) -> None:
        self.clock = Clock()
        self.store = InMemoryStudentEvents()
        self.view = InMemoryMasteryView()
        self.queries = StudentQueries(
            self.view, self.store, snapshot_ttl_days=snapshot_ttl_days, today=self.clock
        )
        self._histories: dict[UUID, StudentHistory] = {}
        self._projected = 0

    def record(self, key: StudentKey, *events: Learning) -> None:
        self.store.record(key, *events)

    def project(self, edit: Callable[[StudentUpdate], StudentUpdate] = lambda u: u) -> None:
        pending = self.store.notifications[self._projected :]
        updates = MasteryProjection().process(self._histories, pending)
        self.view.apply([edit(u) for u in updates], Tracking(PROJECTION_NAME, pending[-1][0]))
        self._projected = len(self.store.notifications)

    def facts(self, key: StudentKey) -> list[LearningFact]:
        events = self.store.events.streams[student_aggregate_id(key.tenant_id, key.student_id)]
        return [e.fact for e in events if isinstance(e, StudentMastery.LearningEventRecorded)]

    def expected(self, key: StudentKey, as_of: date) -> dict[str, Any]:
        return mastery_as_of(self.facts(key), as_of).to_document()

    def expected_prediction(self, key: StudentKey, as_of: date) -> Prediction:
        history = daily_masteries(self.facts(key))
        scores = [(d, score(m)) for d, m in history.items() if d <= as_of]
        return predict(scores, score(mastery_as_of(self.facts(key), as_of)), as_of, 7)


def score(mastery: Mastery) -> float:
    """The score as exposed and as the read models store it: rounded."""
    return float(mastery.to_document(with_topics=False)["mastery_score"])


def cohort(*, snapshot_ttl_days: int = 0, projected: bool = True) -> Cohort:
    built = Cohort(snapshot_ttl_days=snapshot_ttl_days)
    built.record(ALICE, *ALICE_EVENTS)
    built.record(BOB, *BOB_EVENTS)
    if projected:
        built.project()
    return built


def test_a_date_on_or_after_the_last_activity_comes_from_the_current_document() -> None:
    students = cohort()

    for as_of in (day(6), TODAY):
        read = students.queries.mastery(ALICE, as_of)
        assert (read.source, read.position) == (READ_MODEL, 5)
        assert read.mastery.to_document() == students.expected(ALICE, as_of)
    assert students.store.events.reads == 0


def test_a_past_date_is_the_latest_snapshot_before_it_carried_forward() -> None:
    students = cohort()

    read = students.queries.mastery(ALICE, day(4))

    assert (read.source, read.position) == (READ_MODEL, None)
    assert read.mastery.as_of == day(4)
    assert read.mastery.to_document() == students.expected(ALICE, day(4))
    assert students.store.events.reads == 0


def test_a_date_before_the_first_activity_is_mastery_without_evidence() -> None:
    students = cohort()

    read = students.queries.mastery(ALICE, day(1))

    assert read == MasteryRead(mastery_as_of([], day(1)), 5, READ_MODEL)
    assert read.mastery.event_count == 0


def _without_snapshots(update: StudentUpdate) -> StudentUpdate:
    return dataclasses.replace(update, snapshots={})


def _outdated(update: StudentUpdate) -> StudentUpdate:
    documents = [update.current, *update.snapshots.values()]
    for document in documents:
        document["exact"]["version"] = 1
    return update


@pytest.mark.parametrize(
    ("ttl", "edit"),
    [(5, lambda u: u), (0, _without_snapshots), (0, _outdated)],
    ids=["expired", "missing", "outdated"],
)
def test_a_snapshot_that_cannot_answer_falls_back_to_replay(
    ttl: int, edit: Callable[[StudentUpdate], StudentUpdate]
) -> None:
    students = cohort(snapshot_ttl_days=ttl, projected=False)
    students.project(edit)

    read = students.queries.mastery(ALICE, day(4))

    assert (read.source, read.position) == (REPLAY, None)
    assert read.mastery.to_document() == students.expected(ALICE, day(4))
    assert students.store.events.reads > 0
    history = students.queries.history(ALICE, day(1), TODAY)
    assert [m.to_document() for m in history] == [
        m.to_document() for m in daily_masteries(students.facts(ALICE)).values()
    ]


def test_an_outdated_current_document_is_answered_by_replay() -> None:
    students = cohort(projected=False)
    students.project(_outdated)

    assert students.queries.mastery(ALICE, TODAY).source == REPLAY
    latest = students.queries.latest(ALICE)
    assert (latest.source, latest.position) == (REPLAY, None)
    assert latest.mastery.to_document() == students.expected(ALICE, TODAY)


def test_a_student_the_projector_has_not_reached_is_answered_by_replay() -> None:
    students = cohort(projected=False)

    read = students.queries.mastery(ALICE, day(4))
    latest = students.queries.latest(ALICE)

    assert (read.source, read.position) == (REPLAY, None)
    assert read.mastery.to_document() == students.expected(ALICE, day(4))
    assert latest.source == REPLAY
    assert latest.mastery.to_document() == students.expected(ALICE, TODAY)


READS: dict[str, Callable[[StudentQueries], object]] = {
    "mastery": lambda q: q.mastery(NOBODY, TODAY),
    "latest": lambda q: q.latest(NOBODY),
    "history": lambda q: q.history(NOBODY, day(1), TODAY),
    "prediction": lambda q: q.prediction(NOBODY, TODAY, 7),
    "timeline": lambda q: q.timeline(NOBODY),
}


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
def test_an_unknown_student_is_refused(read: Callable[[StudentQueries], object]) -> None:
    students = cohort()

    with pytest.raises(UnknownStudentError) as refused:
        read(students.queries)

    assert str(refused.value) == "no events recorded for student 'nobody' in tenant 't-one'"


def test_an_erased_student_is_refused_whatever_is_left() -> None:
    students = cohort()
    students.view.erase_student(ALICE, ["c1"])
    students.store.erase(ALICE)

    with pytest.raises(StudentErasedError) as refused:
        students.queries.refuse_erased(ALICE)
    with pytest.raises(StudentErasedError):
        students.queries.mastery(ALICE, TODAY)

    assert str(refused.value) == f"student {student_aggregate_id('t-one', 'alice')} has been erased"
    students.queries.refuse_erased(BOB)
    roster = students.queries.class_roster("t-one", "c1")
    assert roster is not None
    assert [entry.student_id for entry in roster] == ["bob"]


def test_the_class_roster_scores_each_student_as_of_today_and_flags_the_ones_at_risk() -> None:
    students = cohort()

    roster = students.queries.class_roster("t-one", "c1")

    assert roster is not None
    assert [(e.student_id, e.at_risk) for e in roster] == [("alice", False), ("bob", True)]
    for entry, key in zip(roster, (ALICE, BOB), strict=True):
        assert entry.mastery.to_document() == students.expected(key, TODAY)
        assert entry.prediction == students.expected_prediction(key, TODAY)
    assert students.queries.class_roster("t-one", "c9") is None
    assert students.queries.is_rostered(ALICE, "c1")
    assert not students.queries.is_rostered(ALICE, "c9")


def test_at_risk_is_a_score_below_half_now_or_predicted_in_a_week() -> None:
    strong = mastery_as_of([event.fact for event in _recorded(ALICE_EVENTS)], TODAY)
    improving = Prediction(0.9, 0.4, "improving", intervention_needed=False, days=7)
    falling = Prediction(0.4, 0.4, "declining", intervention_needed=True, days=7)
    unknown = Prediction(None, 0.0, "insufficient_data", intervention_needed=False, days=7)
    weak = dataclasses.replace(strong, score=0.49)

    assert not RosterEntry("alice", strong, improving).at_risk
    assert not RosterEntry("alice", strong, unknown).at_risk
    assert RosterEntry("alice", strong, falling).at_risk
    assert RosterEntry("alice", weak, unknown).at_risk


def _recorded(events: tuple[Learning, ...]) -> list[StudentMastery.LearningEventRecorded]:
    store = InMemoryStudentEvents()
    store.record(ALICE, *events)
    return list(store.learning_events("t-one", "alice"))


@pytest.mark.parametrize("projected", [True, False], ids=["read_model", "replay"])
def test_history_is_the_daily_snapshots_within_the_range(projected: bool) -> None:
    students = cohort(projected=projected)

    history = students.queries.history(ALICE, day(3), day(5))

    daily = daily_masteries(students.facts(ALICE))
    assert [m.to_document() for m in history] == [
        daily[day(3)].to_document(),
        daily[day(5)].to_document(),
    ]
    assert students.queries.history(ALICE, day(7), TODAY) == []


@pytest.mark.parametrize("projected", [True, False], ids=["read_model", "replay"])
def test_prediction_is_fitted_on_the_snapshots_up_to_the_date(projected: bool) -> None:
    students = cohort(projected=projected)

    for as_of in (day(5), TODAY):
        now, prediction = students.queries.prediction(BOB, as_of, 7)
        assert now.to_document() == students.expected(BOB, as_of)
        assert prediction == students.expected_prediction(BOB, as_of)
    assert students.queries.prediction(BOB, day(3), 7)[1].trend == "insufficient_data"


def test_today_comes_from_the_injected_clock() -> None:
    students = cohort(snapshot_ttl_days=5)
    students.clock.today = date(2031, 1, 1)

    latest = students.queries.latest(ALICE)
    roster = students.queries.class_roster("t-one", "c1")

    assert latest.mastery.as_of == date(2031, 1, 1)
    assert latest.mastery.to_document() == students.expected(ALICE, date(2031, 1, 1))
    assert roster is not None
    assert {entry.mastery.as_of for entry in roster} == {date(2031, 1, 1)}


def test_a_snapshot_expires_by_the_injected_clock() -> None:
    students = cohort(snapshot_ttl_days=5)

    students.clock.today = day(7)  # the snapshot of the 3rd is within its five days
    assert students.queries.mastery(ALICE, day(4)).source == READ_MODEL
    students.clock.today = day(8)  # and no longer
    assert students.queries.mastery(ALICE, day(4)).source == REPLAY


def test_from_current_answers_only_from_the_document_date_on() -> None:
    students = cohort()
    current = students.view.current(ALICE)
    assert current is not None

    assert students.queries.from_current(ALICE, current, day(5)) is None
    read = students.queries.from_current(ALICE, current, TODAY)
    assert read is not None
    assert (read.source, read.position) == (READ_MODEL, 5)
    assert read.mastery.to_document() == students.expected(ALICE, TODAY)


def test_the_timeline_is_the_store_replay_of_every_date() -> None:
    students = cohort()

    timeline = students.queries.timeline(ALICE)

    assert timeline == students.store.replay("t-one", "alice", date.max)
    assert [event.event_id for event, _ in timeline.steps()] == ["a1", "a2", "a3", "a4"]


def test_waiting_for_a_position_reports_whether_the_view_reached_it() -> None:
    students = cohort()
    head = students.store.notifications[-1][0]

    assert students.queries.wait_for(head, timeout=0)
    assert not students.queries.wait_for(head + 1, timeout=0)
