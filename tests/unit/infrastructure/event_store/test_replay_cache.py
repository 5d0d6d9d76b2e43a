"""The replay cache answers only for the version a replay was made at, and keeps at most its
budget of events, least recently used out first."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

from domain.facts import Component
from infrastructure.event_store.replay_cache import ReplayCache
from projections.replay import Replay
from projections.view import StudentKey
from tests.unit.projections.recorded import InMemoryStudentEvents, learning

DAY = date(2026, 1, 31)


def replay_of(events: int) -> Replay:
    store = InMemoryStudentEvents()
    store.record(
        StudentKey("t", "s"),
        *(learning(f"e{n}", DAY, Component.QUIZ, hour=n % 24) for n in range(events)),
    )
    return store.replay("t", "s", DAY)


def test_a_replay_is_kept_with_its_version() -> None:
    cache = ReplayCache(max_events=10)
    key = (uuid4(), DAY)
    replay = replay_of(3)
    cache.put(key, 4, replay)

    assert cache.get(key) == (4, replay)
    assert cache.get((uuid4(), DAY)) is None
    newer = replay_of(5)
    cache.put(key, 5, newer)
    assert cache.get(key) == (5, newer)


def test_the_least_recently_used_replays_leave_to_keep_the_event_budget() -> None:
    cache = ReplayCache(max_events=10)
    a, b, c = ((uuid4(), DAY) for _ in range(3))
    cache.put(a, 1, replay_of(4))
    cache.put(b, 1, replay_of(4))
    assert cache.get(a) is not None  # a is now the most recently used

    cache.put(c, 1, replay_of(4))

    assert cache.get(b) is None
    assert cache.get(a) is not None and cache.get(c) is not None
    cache.put(uuid4(), 1, replay_of(11))  # larger than the whole budget: not kept
    assert cache.get(a) is not None
