"""A ``Replay``: pages of events and steps by a learning-time cursor, and a kept replay
extended with later events equal to replaying everything again."""

from __future__ import annotations

from datetime import date

from domain.facts import Component
from projections.student_events import Replay, parse_cursor
from projections.view import StudentKey
from tests.unit.projections.recorded import InMemoryStudentEvents, Learning, learning

KEY = StudentKey("t", "s")
DAY = date(2026, 3, 1)


def recorded(store: InMemoryStudentEvents, *events: Learning) -> Replay:
    store.record(KEY, *events)
    return store.replay("t", "s", date.max)


def quiz(event_id: str, day: int, hour: int = 9) -> Learning:
    return learning(
        event_id, date(2026, 3, day), Component.QUIZ, hour=hour, correct_answers=day % 10
    )


def test_pages_follow_learning_time_not_recording_order() -> None:
    replay = recorded(InMemoryStudentEvents(), quiz("c", 3), quiz("a", 1), quiz("b", 2, hour=8))

    first, following = replay.events_after(None, 2)
    rest, end = replay.events_after(parse_cursor(following or ""), 2)
    steps, step_next = replay.timeline_page(None, 2)

    assert [e.event_id for e in first + rest] == ["a", "b", "c"]
    assert end is None
    assert [s["event_id"] for s in steps] == ["a", "b"] and step_next == following


def test_an_extended_replay_equals_a_fresh_one() -> None:
    store = InMemoryStudentEvents()
    kept = recorded(store, quiz("a", 1), quiz("b", 2))
    kept.timeline_page(None, 10)  # steps computed and kept
    later = [quiz("c", 3), quiz("d", 3, hour=10)]

    store.record(KEY, *later)
    new = [e for e in store.learning_events("t", "s") if e.event_id in {"c", "d"}]
    extended = kept.extended(reversed(new))
    fresh = store.replay("t", "s", date.max)

    assert extended is not None and extended == fresh
    assert extended.timeline_page(None, 10) == fresh.timeline_page(None, 10)
    cursor = parse_cursor(fresh.timeline_page(None, 1)[1] or "")
    assert extended.timeline_page(cursor, 10) == fresh.timeline_page(cursor, 10)
    assert [e.event_id for e, _ in kept.steps()] == ["a", "b"]  # the kept one is unchanged


def test_an_event_dated_before_the_last_cannot_extend() -> None:
    store = InMemoryStudentEvents()
    kept = recorded(store, quiz("a", 1), quiz("c", 3))
    store.record(KEY, quiz("b", 2))

    late = [e for e in store.learning_events("t", "s") if e.event_id == "b"]

    assert kept.extended(late) is None
    assert kept.extended([]) == kept
