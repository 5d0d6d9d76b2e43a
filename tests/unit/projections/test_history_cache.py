from __future__ import annotations

from uuid import uuid4

from projections.history_cache import HistoryCache
from projections.mastery_projection import StudentHistory
from projections.view import StudentKey


def history(student: str) -> StudentHistory:
    return StudentHistory(StudentKey("t", student))


def test_a_new_cache_continues_no_position() -> None:
    cache = HistoryCache(size=10)
    assert not cache.continues_from(0)
    assert cache.cached([uuid4()]) == {}


def test_remembered_histories_continue_the_batch_they_came_from() -> None:
    cache = HistoryCache(size=10)
    a, b = uuid4(), uuid4()
    cache.remember({a: history("a")}, up_to=7)
    assert cache.continues_from(7)
    assert not cache.continues_from(8)
    assert set(cache.cached([a, b])) == {a}


def test_the_least_recently_remembered_history_is_dropped_first() -> None:
    cache = HistoryCache(size=2)
    a, b, c = uuid4(), uuid4(), uuid4()
    cache.remember({a: history("a"), b: history("b")}, up_to=1)
    cache.remember({a: history("a")}, up_to=2)  # a is used again: b is now the oldest
    cache.remember({c: history("c")}, up_to=3)
    assert set(cache.cached([a, b, c])) == {a, c}
    assert len(cache) == 2


def test_forgetting_drops_every_history_and_continues_the_given_position() -> None:
    cache = HistoryCache(size=10)
    a = uuid4()
    cache.remember({a: history("a")}, up_to=5)
    cache.forget(9)
    assert cache.cached([a]) == {}
    assert cache.continues_from(9)


def test_after_a_failure_no_position_is_trusted() -> None:
    cache = HistoryCache(size=10)
    a = uuid4()
    cache.remember({a: history("a")}, up_to=5)
    cache.distrust()
    assert cache.cached([a]) == {}
    assert not cache.continues_from(5)
