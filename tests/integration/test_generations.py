"""Generations of read models (SPEC §4b) on real PostgreSQL and Redis: build beside the live
one, follow new events, promote, drop, and erasure reaching every generation (SPEC §10)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from domain.mastery.formulas import DEFAULT_FORMULA
from infrastructure.bootstrap import Container, build
from infrastructure.event_store.keys import MasterKey
from infrastructure.generations import lifecycle
from infrastructure.generations.compare import compare
from infrastructure.generations.registry import MAIN, Generation, GenerationError
from infrastructure.redis_views.keys import Keys
from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events
from projections.view import PROJECTION_NAME, StudentKey
from tests.support import erase

SHAPE = CohortShape(students=30, events=2_000, days=20, tenant_id="gens", seed=5)
MASTER = MasterKey.generate()


@pytest.fixture
def built(full_settings: Settings) -> Iterator[Container]:
    with build(replace(full_settings, master_key=MASTER, projection_workers=1)) as container:
        yield container


def position_of(built: Container) -> Callable[[Generation], int]:
    return lambda g: built.view_of(g).max_tracking_id(PROJECTION_NAME) or 0


def documents(built: Container, generation: Generation) -> dict[StudentKey, Any]:
    view = built.view_of(generation)
    students = [StudentKey("gens", s) for s, _ in view.tenant_roster("gens").members]
    return {key: view.current(key) for key in students}


def wait_until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_built_generation_equals_the_live_one_and_is_listed(built: Container) -> None:
    built.ingest.ingest(list(cohort_events(SHAPE)))
    built.projector.catch_up()
    second = lifecycle.build(built.generations, "second", DEFAULT_FORMULA, built.projector_of)

    assert second.ready and second.prefix.endswith("gen:second:")
    live = built.generations.live()
    assert live.name == MAIN
    assert documents(built, second) == documents(built, live)
    assert len(documents(built, second)) == SHAPE.students
    states = lifecycle.states(built.generations, position_of(built), built.application.head())
    assert [(s.generation.name, s.live, s.lag_events) for s in states] == [
        (MAIN, True, 0),
        ("second", False, 0),
    ]
    with pytest.raises(GenerationError, match="exists already"):
        lifecycle.build(built.generations, "second", DEFAULT_FORMULA, built.projector_of)


def test_the_projector_follows_every_generation_and_promote_switches(built: Container) -> None:
    events = list(cohort_events(SHAPE))
    built.ingest.ingest(events[:1000])
    built.projector.catch_up()
    second = lifecycle.build(built.generations, "second", DEFAULT_FORMULA, built.projector_of)
    stop = threading.Event()
    follower = threading.Thread(target=built.projector.run, args=(stop,))
    follower.start()
    try:
        built.ingest.ingest(events[1000:])
        head = built.application.head()
        wait_until(lambda: position_of(built)(second) == head)
        wait_until(lambda: built.projector.position() == head)
    finally:
        stop.set()
        follower.join(timeout=30)
    assert documents(built, second) == documents(built, built.generations.main())

    lifecycle.promote(built.generations, "second", position_of(built))
    assert built.generations.live_name() == "second"
    with pytest.raises(GenerationError, match="is live"):
        lifecycle.drop(built.generations, "second", grace_seconds=0)
    with pytest.raises(GenerationError, match="MASTERY_REDIS_PREFIX"):
        lifecycle.drop(built.generations, MAIN, grace_seconds=0)
    lifecycle.promote(built.generations, MAIN, position_of(built))

    deleted = lifecycle.drop(built.generations, "second", grace_seconds=0)
    assert deleted > SHAPE.students
    assert [g.name for g in built.generations.all()] == [MAIN]
    assert not list(built.redis.scan_iter(match=f"{second.prefix}*"))
    assert documents(built, built.generations.main())  # main untouched


def test_promote_refuses_a_generation_behind_the_live_one_unless_forced(
    built: Container,
) -> None:
    events = list(cohort_events(SHAPE))
    built.ingest.ingest(events[:500])
    built.projector.catch_up()
    lifecycle.build(built.generations, "second", DEFAULT_FORMULA, built.projector_of)
    built.ingest.ingest(events[500:600])
    built.projector.catch_up()  # main only: nothing follows "second" here
    with pytest.raises(GenerationError, match="100 events behind"):
        lifecycle.promote(built.generations, "second", position_of(built))
    lifecycle.promote(built.generations, "second", position_of(built), force=True)
    assert built.generations.live_name() == "second"


def test_erasure_reaches_every_generation_and_later_builds(built: Container) -> None:
    built.ingest.ingest(list(cohort_events(SHAPE)))
    built.projector.catch_up()
    second = lifecycle.build(built.generations, "second", DEFAULT_FORMULA, built.projector_of)
    gone = StudentKey("gens", "s00003")
    assert built.view_of(second).current(gone) is not None

    erase(built, gone.tenant_id, gone.student_id, requested_by="test", reason="request")

    third = lifecycle.build(built.generations, "third", DEFAULT_FORMULA, built.projector_of)
    for generation in (built.generations.main(), second, third):
        view = built.view_of(generation)
        assert view.is_erased(gone), generation.name
        assert view.current(gone) is None, generation.name
        assert gone.student_id not in dict(view.tenant_roster("gens").members), generation.name
        tag = Keys(generation.prefix).student_tag(gone.tenant_id, gone.student_id)
        assert not list(built.redis.scan_iter(match=tag.replace("{", "\\{") + "*"))
    # a rebuild of the generation after the erasure does not bring them back either
    rebuilder = built.projector_of(third)
    try:
        rebuilder.rebuild()
    finally:
        rebuilder.close()
    assert built.view_of(third).current(gone) is None


def test_compare_same_formula_changes_nothing_and_counts_everyone(built: Container) -> None:
    built.ingest.ingest(list(cohort_events(SHAPE)))
    built.projector.catch_up()
    second = lifecycle.build(built.generations, "second", DEFAULT_FORMULA, built.projector_of)
    document = compare(
        built.redis, built.generations.main(), second, built.queries_of, date.today()
    ).to_document()
    assert document["students"] == SHAPE.students
    off_diagonal = [n for a, row in document["levels"].items() for b, n in row.items() if a != b]
    assert sum(off_diagonal) == 0
    assert document["score_delta"]["count"] == SHAPE.students
    assert document["score_delta"]["max_abs"] == 0.0
    assert document["at_risk"]["became_at_risk"] == document["at_risk"]["no_longer_at_risk"] == 0
    assert len(document["largest_changes"]) == 20
