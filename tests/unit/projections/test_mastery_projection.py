"""The projection's handlers: recorded events in, read-model documents out, against the
in-memory view."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import Tracking

from domain.facts import Component, LearningFact
from domain.mastery import mastery_as_of
from domain.student_mastery import StudentMastery, student_aggregate_id
from projections.mastery_projection import (
    MasteryProjection,
    StudentHistory,
    histories_from,
    student_update,
)
from projections.memory_view import InMemoryMasteryView
from projections.view import PROJECTION_NAME, StudentKey, StudentUpdate
from tests.unit.projections.recorded import InMemoryStudentEvents, learning

ALICE = StudentKey("t-one", "alice")
BOB = StudentKey("t-one", "bob")
D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)

EVENT_CLASSES: dict[Component, type[StudentMastery.LearningEventRecorded]] = {
    Component.COMPLETION: StudentMastery.ExerciseProgressReported,
    Component.QUIZ: StudentMastery.QuizGraded,
    Component.QUALITY: StudentMastery.CodeQualityAssessed,
    Component.CONSISTENCY: StudentMastery.PracticeRecorded,
}


def project(
    view: InMemoryMasteryView,
    histories: dict[UUID, StudentHistory],
    notifications: list[tuple[int, Any]],
) -> list[StudentUpdate]:
    """What the runner does with a page of notifications."""
    updates = MasteryProjection().process(histories, notifications)
    view.apply(updates, Tracking(PROJECTION_NAME, notifications[-1][0]))
    return updates


def facts_of(notifications: list[tuple[int, Any]]) -> list[LearningFact]:
    return [e.fact for _, e in notifications if isinstance(e, StudentMastery.LearningEventRecorded)]


def document(
    key: StudentKey, facts: list[LearningFact], day: date, position: int, *, topics: bool
) -> dict[str, Any]:
    """A read-model document as SPEC §5 defines it, from the formula directly."""
    mastery = mastery_as_of(facts, day).to_document(with_topics=topics, exact=True)
    return {
        "tenant_id": key.tenant_id,
        "student_id": key.student_id,
        **mastery,
        "position": position,
    }


def test_an_enrolment_alone_writes_no_document_but_moves_the_student_position() -> None:
    store, view = InMemoryStudentEvents(), InMemoryMasteryView()
    histories: dict[UUID, StudentHistory] = {}
    enrolment = store.record(ALICE)

    assert project(view, histories, enrolment) == []
    assert histories == {student_aggregate_id("t-one", "alice"): StudentHistory(ALICE, position=1)}
    assert view.current(ALICE) is None
    assert view.max_tracking_id(PROJECTION_NAME) == 1


@pytest.mark.parametrize("component", list(Component))
def test_each_kind_of_learning_event_writes_the_student_documents(component: Component) -> None:
    store, view = InMemoryStudentEvents(), InMemoryMasteryView()
    recorded = store.record(ALICE, learning("e1", D1, component))
    assert type(recorded[1][1]) is EVENT_CLASSES[component]

    (update,) = project(view, {}, recorded)

    facts = facts_of(recorded)
    current = document(ALICE, facts, D1, 2, topics=True)
    assert view.current(ALICE) == current
    assert current["evidence"][component.value] == 1
    assert view.snapshots(ALICE, [D1]) == {D1: document(ALICE, facts, D1, 2, topics=False)}
    assert view.activity_dates(ALICE) == [D1]
    assert view.projected_positions([ALICE]) == {ALICE: 2}
    assert view.class_roster("t-one", "c1").members == [("alice", current["mastery_score"])]
    assert view.tenant_roster("t-one").members == [("alice", current["mastery_score"])]
    assert update.classes == ("c1",)


def test_processing_the_same_events_again_changes_nothing() -> None:
    store, view = InMemoryStudentEvents(), InMemoryMasteryView()
    histories: dict[UUID, StudentHistory] = {}
    recorded = store.record(
        ALICE, learning("e1", D1, Component.QUIZ), learning("e2", D2, Component.COMPLETION)
    )
    first = project(view, histories, recorded)
    before = (
        view.current(ALICE),
        view.snapshots(ALICE, [D1, D2]),
        view.class_roster("t-one", "c1"),
    )

    again = project(view, histories, recorded)

    assert again == first
    assert histories[student_aggregate_id("t-one", "alice")].position == 3
    assert len(histories[student_aggregate_id("t-one", "alice")].facts) == 2
    after = (view.current(ALICE), view.snapshots(ALICE, [D1, D2]), view.class_roster("t-one", "c1"))
    assert after == before
    assert view.current(ALICE) == document(ALICE, facts_of(recorded), D2, 3, topics=True)


def test_a_late_event_rewrites_the_snapshots_from_its_date_on() -> None:
    store, view = InMemoryStudentEvents(), InMemoryMasteryView()
    histories: dict[UUID, StudentHistory] = {}
    early = store.record(
        ALICE, learning("e1", D1, Component.QUIZ), learning("e3", D3, Component.COMPLETION)
    )
    project(view, histories, early)

    late = store.record(ALICE, learning("e2", D2, Component.QUALITY))
    (update,) = project(view, histories, late)

    assert sorted(update.snapshots) == [D2, D3]
    facts = facts_of(store.notifications)
    assert view.activity_dates(ALICE) == [D1, D2, D3]
    # A snapshot reflects the highest position among the facts dated on or before it.
    assert view.snapshots(ALICE, [D1, D2, D3]) == {
        D1: document(ALICE, facts, D1, 2, topics=False),
        D2: document(ALICE, facts, D2, 4, topics=False),
        D3: document(ALICE, facts, D3, 4, topics=False),
    }
    assert view.current(ALICE) == document(ALICE, facts, D3, 4, topics=True)


def test_incremental_processing_writes_what_a_rebuild_writes() -> None:
    store, view = InMemoryStudentEvents(), InMemoryMasteryView()
    histories: dict[UUID, StudentHistory] = {}
    for batch in (
        [learning("e1", D2, Component.QUIZ)],
        [learning("e2", D1, Component.COMPLETION), learning("e3", D3, Component.CONSISTENCY)],
        [learning("e4", D2, Component.QUALITY)],
    ):
        project(view, histories, store.record(ALICE, *batch))

    (rebuilt,) = [student_update(h) for h in histories_from(store.notifications).values()]

    assert view.current(ALICE) == rebuilt.current
    assert view.snapshots(ALICE, [D1, D2, D3]) == rebuilt.snapshots
    assert view.activity_dates(ALICE) == list(rebuilt.activity_dates)


def test_one_update_per_student_changed_in_store_order_of_their_ids() -> None:
    store, view = InMemoryStudentEvents(), InMemoryMasteryView()
    histories: dict[UUID, StudentHistory] = {}
    notifications = [
        *store.record(BOB, learning("b1", D1, Component.QUIZ, class_id="c2")),
        *store.record(
            ALICE, learning("a1", D2, Component.QUIZ), learning("a2", D1, Component.QUIZ)
        ),
    ]

    updates = project(view, histories, notifications)

    ids = {ALICE: student_aggregate_id("t-one", "alice"), BOB: student_aggregate_id("t-one", "bob")}
    assert [u.key for u in updates] == sorted(ids, key=lambda k: str(ids[k]))
    by_key = {u.key: u for u in updates}
    assert by_key[ALICE].activity_dates == (D1, D2)
    assert by_key[ALICE].position == 5
    assert by_key[BOB].classes == ("c2",)
    assert view.class_roster("t-one", "c2").members == [("bob", by_key[BOB].score)]


def test_an_event_that_is_not_a_student_event_is_passed_over() -> None:
    histories: dict[UUID, StudentHistory] = {}

    assert MasteryProjection().process(histories, [(1, object())]) == []
    assert histories == {}
