"""Idempotency, conflicts, concurrency and snapshots on a real PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import replace
from datetime import date

import psycopg

from domain.mastery import mastery_as_of
from domain.student_mastery import student_aggregate_id
from infrastructure.bootstrap import build
from infrastructure.event_store.write_results import WriteContentionError
from infrastructure.settings import Settings
from tests.support import count_rows, facts_by_student


def quiz(
    event_id: str, student: str = "s1", tenant: str = "t-write", day: int = 1, correct: int = 7
) -> dict[str, object]:
    return {
        "event_id": event_id,
        "timestamp": f"2026-03-{day:02d}T09:00:00Z",
        "tenant_id": tenant,
        "student_id": student,
        "component": "quiz",
        "topic": "algebra",
        "data": {"total_questions": 10, "correct_answers": correct},
    }


def test_each_event_gets_its_own_outcome_in_a_batch(settings: Settings) -> None:
    with build(settings) as built:
        built.ingest.ingest([quiz("a"), quiz("b")])
        report = built.ingest.ingest(
            [quiz("a"), quiz("b", correct=1), {"event_id": "bad"}, quiz("c"), quiz("c")]
        )
    assert [o.status.value for o in report.outcomes] == [
        "duplicate",
        "conflict",
        "rejected",
        "recorded",
        "duplicate",
    ]
    assert report.outcomes[1].code == "conflict"
    assert report.outcomes[2].code == "validation_error"
    assert report.position is not None


def test_same_event_id_in_two_tenants_is_two_events(settings: Settings) -> None:
    with build(settings) as built:
        report = built.ingest.ingest([quiz("x", tenant="t-one"), quiz("x", tenant="t-two")])
    assert [o.status.value for o in report.outcomes] == ["recorded", "recorded"]


def test_eight_concurrent_writers_to_one_student_lose_nothing(settings: Settings) -> None:
    writers, per_writer, shared = 8, 120, 20
    batches: list[list[dict[str, object]]] = []
    for writer in range(writers):
        own = [quiz(f"w{writer}-{i}", student="hot", day=1 + i % 28) for i in range(per_writer)]
        common = [quiz(f"shared-{i}", student="hot", day=1 + i % 28) for i in range(shared)]
        batches.append(own + common)
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def write(events: list[dict[str, object]]) -> None:
        try:
            with build(replace(settings, ingest_batch_size=7)) as built:
                barrier.wait()
                built.ingest.ingest(events)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors

    unique = writers * per_writer + shared
    url = settings.require_database_url()
    assert (
        count_rows(url, "SELECT count(*) FROM mastery_event_ids WHERE tenant_id = 't-write'")
        == unique
    )
    with build(settings) as built:
        aggregate = built.application.student("t-write", "hot")
        assert aggregate.event_count == unique
        assert aggregate.version == unique + 1  # enrolment + one event each
        everything = [e for batch in batches for e in batch]
        facts = facts_by_student(everything)[("t-write", "hot")]
        deduped = list({f.event_id: f for f in facts}.values())
        assert aggregate.mastery(date(2026, 3, 28)) == mastery_as_of(deduped, date(2026, 3, 28))


def test_snapshots_keep_a_long_history_loading_from_the_latest(settings: Settings) -> None:
    small = replace(settings, snapshot_interval=100, ingest_batch_size=64)
    events = [quiz(f"long-{i}", student="long", day=1 + i % 28, correct=i % 11) for i in range(450)]
    with build(small) as built:
        built.ingest.ingest(events)
    with build(small) as fresh:  # a new process: nothing cached
        aggregate_id = student_aggregate_id("t-write", "long")
        assert fresh.application.snapshots is not None
        latest = list(fresh.application.snapshots.get(aggregate_id, desc=True, limit=1))
        assert latest and latest[0].originator_version >= 400
        aggregate = fresh.application.student("t-write", "long")
        facts = facts_by_student(events)[("t-write", "long")]
        assert aggregate.event_count == 450
        assert aggregate.mastery(date(2026, 3, 28)) == mastery_as_of(facts, date(2026, 3, 28))


def test_an_event_and_its_id_are_never_recorded_apart(settings: Settings) -> None:
    url = settings.require_database_url()
    with psycopg.connect(url, autocommit=True) as conn:
        # Make the id insert fail inside the events' transaction: nothing may be left behind.
        conn.execute(
            "ALTER TABLE mastery_event_ids ADD CONSTRAINT no_poison CHECK (event_id <> 'poison')"
        )
    with build(settings) as built, contextlib.suppress(WriteContentionError):
        built.ingest.ingest([quiz("fine-1", student="atomic"), quiz("poison", student="atomic")])
    assert (
        count_rows(url, "SELECT count(*) FROM mastery_event_ids WHERE event_id LIKE 'fine-%'") == 0
    )
    assert count_rows(url, "SELECT count(*) FROM mastery_events") == 0


def test_metadata_that_looks_like_an_encoded_value_reads_back_verbatim(settings: Settings) -> None:
    tricky = {
        "_type_": "uuid_hex",
        "_data_": "not-a-uuid",
        "nested": [{"_type_": "x", "_data_": 1}],
    }
    with build(settings) as built:
        built.ingest.ingest([dict(quiz("meta-1", student="meta"), metadata=tricky)])
        (event,) = built.application.learning_events("t-write", "meta")
        assert event.metadata == tricky
        assert built.application.replay("t-write", "meta", date(2026, 3, 31)).mastery is not None


def test_events_stored_by_version_1_are_upcast_on_read(settings: Settings) -> None:
    """Version 1 stored metadata as an object; such events still read back whole."""
    import json as json_module

    with build(settings) as built:
        built.ingest.ingest([dict(quiz("old-1", student="old"), metadata={"source": "v1"})])
    url = settings.require_database_url()
    with psycopg.connect(url) as conn:
        originator, version, state = conn.execute(
            "SELECT originator_id, originator_version, state FROM mastery_events "
            "WHERE topic LIKE '%QuizGraded' AND originator_version = 2"
        ).fetchone()  # type: ignore[misc]
        old = json_module.loads(bytes(state))
        old.pop("class_version")
        old["metadata"] = json_module.loads(old.pop("metadata_json"))
        conn.execute(
            "UPDATE mastery_events SET state = %s "
            "WHERE originator_id = %s AND originator_version = %s",
            (json_module.dumps(old).encode(), originator, version),
        )
    with build(settings) as fresh:
        (event,) = fresh.application.learning_events("t-write", "old")
        assert event.metadata == {"source": "v1"}
