"""Redis read models against the pure formula, on real PostgreSQL and Redis (issue 3)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from infrastructure.bootstrap import Container, build
from infrastructure.redis_views.keys import Keys
from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events
from projections.mastery_projection import StudentHistory, student_update
from projections.view import StudentKey
from tests.support import Connect, facts_by_student

SHAPE = CohortShape(students=60, events=6_000, days=40, tenant_id="proj", seed=21)


@pytest.fixture
def built(full_settings: Settings) -> Iterator[Container]:
    with build(full_settings) as container:
        yield container


def expected_update(facts: list[Any], tenant: str, student: str) -> Any:
    history = StudentHistory(StudentKey(tenant, student))
    for fact in facts:
        history.add(fact, None, 0)
    return student_update(history)


def without(document: dict[str, Any] | None, *fields: str) -> dict[str, Any]:
    assert document is not None
    return {k: v for k, v in document.items() if k not in fields}


def stored_documents(container: Container, key: StudentKey) -> dict[str, Any]:
    dates = container.view.activity_dates(key)
    return {
        "current": container.view.current(key),
        "snapshots": {
            d.isoformat(): doc for d, doc in container.view.snapshots(key, dates).items()
        },
    }


def assert_matches_formula(container: Container, events: list[dict[str, Any]]) -> None:
    for (tenant, student), facts in facts_by_student(events).items():
        key = StudentKey(tenant, student)
        expected = expected_update(facts, tenant, student)
        assert without(container.view.current(key), "position") == without(
            expected.current, "position"
        )
        stored = container.view.snapshots(key, list(expected.snapshots))
        assert set(stored) == set(expected.snapshots)
        for day, document in expected.snapshots.items():
            assert without(stored[day], "position") == without(document, "position")


def test_after_a_backfill_every_document_equals_the_formula(built: Container) -> None:
    events = list(cohort_events(SHAPE))
    built.ingest.ingest(events)
    assert built.projector.catch_up() == built.application.head()
    assert_matches_formula(built, events)
    roster = built.view.tenant_roster("proj").members
    assert len(roster) == SHAPE.students
    current = {s: built.view.current(StudentKey("proj", s)) or {} for s, _ in roster}
    assert all(score == current[s]["mastery_score"] for s, score in roster)


def test_shuffled_arrival_gives_identical_documents(built: Container) -> None:
    events = list(cohort_events(SHAPE))
    shuffled = [dict(e, tenant_id="proj-shuffled") for e in events]
    random.Random(9).shuffle(shuffled)
    for start in range(0, len(events), 500):  # projected while arriving, batch by batch
        built.ingest.ingest(events[start : start + 500])
        built.ingest.ingest(shuffled[start : start + 500])
        built.projector.process_next_batch()
    built.projector.catch_up()
    for student in sorted({str(e["student_id"]) for e in events}):
        ordered = stored_documents(built, StudentKey("proj", student))
        disordered = stored_documents(built, StudentKey("proj-shuffled", student))
        strip = ("position", "tenant_id")
        assert without(ordered["current"], *strip) == without(disordered["current"], *strip)
        assert ordered["snapshots"].keys() == disordered["snapshots"].keys()
        for day, document in ordered["snapshots"].items():
            assert without(document, *strip) == without(disordered["snapshots"][day], *strip)


def test_flush_then_rebuild_gives_identical_documents(
    built: Container, full_settings: Settings, redis_connect: Connect
) -> None:
    events = list(cohort_events(SHAPE))
    for start in range(0, len(events), 700):
        built.ingest.ingest(events[start : start + 700])
        built.projector.process_next_batch()
    built.projector.catch_up()
    students = sorted({str(e["student_id"]) for e in events})
    before = {s: stored_documents(built, StudentKey("proj", s)) for s in students}
    rosters = built.view.tenant_roster("proj")

    client = redis_connect(full_settings)
    for name in client.scan_iter(match=f"{full_settings.redis_prefix}*"):
        client.unlink(name)
    assert built.view.current(StudentKey("proj", students[0])) is None
    built.projector.rebuild()

    assert {s: stored_documents(built, StudentKey("proj", s)) for s in students} == before
    assert built.view.tenant_roster("proj") == rosters
    assert built.projector.position() == built.application.head()


def test_a_rebuild_dealt_out_to_worker_processes_writes_the_same_documents(
    built: Container,
) -> None:
    events = list(cohort_events(replace(SHAPE, events=1_500)))
    built.ingest.ingest(events)
    built.projector.catch_up()
    students = sorted({str(e["student_id"]) for e in events})
    before = {s: stored_documents(built, StudentKey("proj", s)) for s in students}
    rosters = built.view.tenant_roster("proj")
    # Chunks of 10 students over two processes, each with clients of its own.
    built.projector.rebuilder.chunk, built.projector.rebuilder.workers = 10, 2

    assert built.projector.rebuild() == len(students)

    assert {s: stored_documents(built, StudentKey("proj", s)) for s in students} == before
    assert built.view.tenant_roster("proj") == rosters
    assert built.projector.position() == built.application.head()


def test_rebuilding_one_student_leaves_the_others_alone(
    built: Container, full_settings: Settings, redis_connect: Connect
) -> None:
    events = list(cohort_events(SHAPE))
    built.ingest.ingest(events)
    built.projector.catch_up()
    alice, bob = StudentKey("proj", "s00001"), StudentKey("proj", "s00002")
    client = redis_connect(full_settings)
    keys = Keys(full_settings.redis_prefix)
    client.set(keys.current("proj", "s00002"), b'{"tampered": true}')
    before = stored_documents(built, alice)
    rebuilt = built.projector.rebuild(tenant_id="proj", student_id="s00002")
    assert rebuilt == 1
    assert stored_documents(built, alice) == before
    assert built.view.current(bob) != {"tampered": True}
    assert_matches_formula(built, [e for e in events if e["student_id"] == "s00002"])


def test_a_late_event_corrects_every_snapshot_from_its_date_on(built: Container) -> None:
    start = date(2026, 3, 1)

    def quiz(n: int, day: date, correct: int) -> dict[str, Any]:
        return {
            "event_id": f"late-{n}",
            "timestamp": f"{day.isoformat()}T12:00:00Z",
            "tenant_id": "late",
            "student_id": "lena",
            "component": "quiz",
            "data": {"total_questions": 10, "correct_answers": correct},
        }

    on_time = [quiz(n, start + timedelta(days=n), 9) for n in range(10)]
    built.ingest.ingest(on_time)
    built.projector.catch_up()
    key = StudentKey("late", "lena")
    early = built.view.snapshots(key, [start + timedelta(days=1)])
    assert built.view.current(key)["components"]["quiz"] == 0.9  # type: ignore[index]

    late = quiz(99, start + timedelta(days=3), 0)
    built.ingest.ingest([late])
    built.projector.catch_up()

    assert_matches_formula(built, [*on_time, late])
    assert built.view.snapshots(key, [start + timedelta(days=1)]) == early  # before it: untouched
    assert built.view.current(key)["components"]["quiz"] == 0.818  # type: ignore[index]


def test_snapshots_expire_their_ttl_after_their_date(
    full_settings: Settings, redis_connect: Connect
) -> None:
    settings = replace(full_settings, snapshot_ttl_days=30)
    today = datetime.now(UTC).date()
    events = [
        {
            "event_id": f"ttl-{n}",
            "timestamp": f"{(today - timedelta(days=age)).isoformat()}T08:00:00Z",
            "tenant_id": "ttl",
            "student_id": "tom",
            "component": "consistency",
            "data": {},
        }
        for n, age in enumerate((45, 10, 2))
    ]
    with build(settings) as built:
        built.ingest.ingest(events)
        built.projector.catch_up()
        client = redis_connect(settings)
        keys = Keys(settings.redis_prefix)
        old = keys.snapshot("ttl", "tom", today - timedelta(days=45))
        recent = keys.snapshot("ttl", "tom", today - timedelta(days=10))
        assert client.exists(old) == 0  # already past its TTL: never written
        expires_at = datetime.combine(
            today - timedelta(days=10) + timedelta(days=30), datetime.min.time(), tzinfo=UTC
        )
        remaining = client.ttl(recent)  # seconds; TTL, not EXPIRETIME, so Redis 6.2 works too
        expected = (expires_at - datetime.now(UTC)).total_seconds()
        assert abs(remaining - expected) < 60
        assert client.ttl(keys.current("ttl", "tom")) == -1


def test_status_reports_lag_in_events_and_seconds(built: Container) -> None:
    built.ingest.ingest(list(cohort_events(replace(SHAPE, events=300))))
    status = built.projector.status()
    assert status.lag_events == status.head > 0
    assert status.lag_seconds >= 0.0
    built.projector.catch_up()
    caught_up = built.projector.status()
    assert (caught_up.lag_events, caught_up.lag_seconds) == (0, 0.0)
