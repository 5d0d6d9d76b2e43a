"""A ``Replay``: pages of events and steps by a learning-time cursor, and a kept replay
extended with later events equal to replaying everything again."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.facts import Component
from projections.replay import KeptSteps, Replay, parse_cursor
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


def test_a_late_event_resumes_from_the_checkpoint_before_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(KeptSteps, "EVERY", 2)
    store = InMemoryStudentEvents()
    kept = recorded(store, *(quiz(f"e{day}", day) for day in range(1, 10, 2)))
    kept.timeline_page(None, 100)
    store.record(KEY, quiz("late", 4), quiz("later", 10))

    new = [e for e in store.learning_events("t", "s") if e.event_id in {"late", "later"}]
    extended = kept.extended(new)
    fresh = store.replay("t", "s", date.max)

    assert extended == fresh
    assert extended.timeline_page(None, 100) == fresh.timeline_page(None, 100)
    assert kept.extended([]) is kept


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 9), st.integers(0, 23)), min_size=1, max_size=14),
    st.integers(0, 14),
    st.integers(1, 4),
)
def test_a_kept_replay_brought_up_to_date_equals_a_fresh_one(
    moments: list[tuple[int, int]], split: int, every: int
) -> None:
    events = [quiz(f"e{n:02d}", day, hour) for n, (day, hour) in enumerate(moments)]
    store = InMemoryStudentEvents()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(KeptSteps, "EVERY", every)
        kept = recorded(store, *events[:split]) if split else None
        if kept is not None:
            kept.timeline_page(None, 100)
        store.record(KEY, *events[split:])
        recorded_ids = {e.event_id for e in events[split:]}
        new = [e for e in store.learning_events("t", "s") if e.event_id in recorded_ids]
        fresh = store.replay("t", "s", date.max)
        if kept is None:
            return
        extended = kept.extended(new)

        assert extended == fresh
        assert extended.timeline_page(None, 100) == fresh.timeline_page(None, 100)
