"""The mastery.results publisher: every level change, every changed student, stable ids."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import replace
from typing import Any

import psycopg

from domain.mastery import LOWEST_LEVEL, MasteryLedger
from infrastructure.bootstrap import build
from infrastructure.event_store.keys import MasterKey
from infrastructure.kafka.publisher import ResultsPublisher
from infrastructure.kafka.workers import run_publisher, run_workers
from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events
from tests.integration.kafka.conftest import kafka_settings
from tests.integration.kafka.support import (
    encoded,
    fully_committed,
    produce,
    read_topic,
    running,
    wait_for,
)
from tests.support import erase

Student = tuple[str, str]


def _expected_level_changes(settings: Settings, students: set[Student]) -> dict[Student, list[Any]]:
    """Each student's level after each event in store order, folded independently."""
    changes: dict[Student, list[Any]] = {}
    with build(settings) as built:
        for tenant, student in students:
            ledger, level, seen = MasteryLedger.empty(), LOWEST_LEVEL, []
            for event in built.application.learning_events(tenant, student):
                ledger.add(event.fact)
                after = ledger.mastery(ledger.last_activity_date).level  # type: ignore[arg-type]
                if after != level:
                    seen.append((level, after, event.event_id))
                    level = after
            changes[(tenant, student)] = seen
    return changes


def _published_until_head(settings: Settings) -> None:
    with build(settings) as built:
        head = built.application.head()
        publisher = ResultsPublisher(built.application, settings)
        with running(run_publisher, settings):
            wait_for(
                lambda: publisher.tracking.max_tracking_id("mastery.results") == head,
                120,
                "publisher",
            )


def _by_student(
    results: list[dict[str, Any]], event_type: str
) -> dict[Student, list[dict[str, Any]]]:
    grouped: dict[Student, list[dict[str, Any]]] = defaultdict(list)
    for message in results:
        if message["event_type"] == event_type:
            grouped[(message["tenant_id"], message["student_id"])].append(message)
    for messages in grouped.values():
        messages.sort(key=lambda m: m["position"])
    return grouped


def test_threshold_events_for_every_level_change_and_updates_for_every_student(
    kafka: Settings,
) -> None:
    settings = replace(kafka, publish_batch_size=250)
    events = list(cohort_events(CohortShape(students=40, events=3_000, days=20, tenant_id="kpub")))
    students = {(e["tenant_id"], e["student_id"]) for e in events}
    with build(settings) as built:
        built.ingest.ingest(events[:1_500])
    _published_until_head(settings)  # a first publisher, stopped ...
    with build(settings) as built:
        built.ingest.ingest(events[1_500:])
    _published_until_head(settings)  # ... and a second one resuming from the tracked position

    results = read_topic(settings, settings.kafka_results_topic)
    assert len({m["event_id"] for m in results}) == len(results), "a result was published twice"
    thresholds = _by_student(results, "mastery.threshold.reached")
    expected = _expected_level_changes(settings, students)
    assert sum(map(len, expected.values())) > 0
    for student, changes in expected.items():
        got = [
            (m["from_level"], m["to_level"], m["learning_event_id"]) for m in thresholds[student]
        ]
        assert got == changes, student
        for message in thresholds[student]:
            assert message["direction"] in ("up", "down")
            assert message["_key"] == f"{student[0]}/{student[1]}".encode()

    updated = _by_student(results, "mastery.updated")
    assert set(updated) == students
    with build(settings) as built:
        for (tenant, student_id), messages in updated.items():
            final = built.application.student(tenant, student_id).mastery()
            assert messages[-1]["mastery_score"] == final.to_document()["mastery_score"]
            assert messages[-1]["level"] == final.level
            assert {"components", "recommendations", "timestamp", "position"} <= set(messages[-1])


def test_republishing_after_a_lost_position_repeats_the_same_event_ids(kafka: Settings) -> None:
    settings = replace(kafka, publish_batch_size=300)
    events = list(cohort_events(CohortShape(students=20, events=1_000, days=10, tenant_id="krep")))
    with build(settings) as built:
        built.ingest.ingest(events)
    _published_until_head(settings)
    first = read_topic(settings, settings.kafka_results_topic)
    with psycopg.connect(settings.require_database_url(), autocommit=True) as conn:
        conn.execute("DELETE FROM mastery_tracking WHERE application_name = 'mastery.results'")
    _published_until_head(settings)  # as after a crash before the position was saved
    both = read_topic(settings, settings.kafka_results_topic)
    assert len(both) == 2 * len(first)
    assert sorted(m["event_id"] for m in both) == sorted(2 * [m["event_id"] for m in first])


def test_consumer_and_publisher_side_by_side(kafka: Settings) -> None:
    events = list(cohort_events(CohortShape(students=30, events=1_000, days=10, tenant_id="krun")))
    produce(kafka, encoded(events))
    stop = threading.Event()
    runner = threading.Thread(target=run_workers, args=(kafka, stop))
    runner.start()
    try:
        wait_for(lambda: fully_committed(kafka), 60, "offsets committed")

        def every_student_updated() -> bool:
            results = read_topic(kafka, kafka.kafka_results_topic, idle=0.5)
            return len(_by_student(results, "mastery.updated")) == 30

        wait_for(every_student_updated, 60, "mastery.updated for every student")
    finally:
        stop.set()
        runner.join(60)
    assert not runner.is_alive()


def test_an_erased_students_unpublished_events_are_passed_over(
    full_settings: Settings, kafka_bootstrap: str
) -> None:
    settings = kafka_settings(
        replace(full_settings, master_key=MasterKey.generate()), kafka_bootstrap
    )
    events = [
        {
            "event_id": f"{student}-{n}",
            "timestamp": f"2026-05-{1 + n:02d}T10:00:00Z",
            "tenant_id": "kerase",
            "student_id": student,
            "component": "quiz",
            "data": {"total_questions": 10, "correct_answers": 9},
        }
        for n in range(3)
        for student in ("vera", "will")
    ]
    with build(settings) as built:
        built.ingest.ingest(events)
        erase(
            built,
            "kerase",
            "vera",
            requested_by="test",
            reason="erasure",
        )
    _published_until_head(settings)  # stuck for good on vera's events before the fix

    published = {m["student_id"] for m in read_topic(settings, settings.kafka_results_topic)}
    assert published == {"will"}
