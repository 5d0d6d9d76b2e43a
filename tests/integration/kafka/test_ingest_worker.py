"""The ingest worker against a real broker and PostgreSQL: every event once, bad input kept."""

from __future__ import annotations

import base64
import random
from collections import Counter
from dataclasses import replace
from typing import Any

import orjson
import psycopg

from infrastructure.bootstrap import build
from infrastructure.kafka.workers import run_consumer
from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events
from tests.integration.kafka.support import (
    Message,
    encoded,
    fully_committed,
    produce,
    read_topic,
    running,
    wait_for,
)
from tests.support import count_rows, learning_event_rows


def _mixed_stream(
    valid: int, duplicates: int, conflicts: int, malformed: int, invalid: int
) -> tuple[list[Message], Counter[str]]:
    """Originals and bad messages shuffled, then repeats and conflicting versions of originals
    (after them in their partitions: same key), so each outcome is known in advance."""
    rng = random.Random(4)
    events = list(cohort_events(CohortShape(students=400, events=valid, days=30, tenant_id="kw")))
    messages = encoded(events)
    expected: Counter[str] = Counter()
    for index in range(malformed):
        messages.append((b"kw/garbage", b'{"event_id": "broken-%d", ' % index))
    expected["invalid_json"] = malformed
    for index in range(invalid):
        bad = {**events[index], "event_id": f"invalid-{index}", "component": "telepathy"}
        messages.append(encoded([bad])[0])
    expected["validation_error"] = invalid
    rng.shuffle(messages)
    repeated = rng.sample(events, duplicates + conflicts)
    later = encoded(repeated[:duplicates])
    later += encoded({**event, "class_id": "another-class"} for event in repeated[duplicates:])
    expected["conflict"] = conflicts
    rng.shuffle(later)
    return messages + later, expected


def test_every_valid_event_once_and_every_bad_message_once_in_the_dlq(kafka: Settings) -> None:
    messages, expected_dlq = _mixed_stream(
        valid=18_000, duplicates=1_000, conflicts=400, malformed=300, invalid=300
    )
    assert len(messages) == 20_000
    produce(kafka, messages)
    database = kafka.require_database_url()

    with running(run_consumer, kafka):
        wait_for(lambda: fully_committed(kafka), 180, "offsets committed to the end")

    assert learning_event_rows(database) == 18_000
    assert count_rows(database, "SELECT count(*) FROM mastery_event_ids") == 18_000
    dead = read_topic(kafka, kafka.kafka_dlq_topic)
    origins = Counter((d["origin"]["partition"], d["origin"]["offset"]) for d in dead)
    assert max(origins.values()) == 1, "a message was dead-lettered twice"
    assert Counter(d["error"]["code"] for d in dead) == expected_dlq
    sent = {value for _, value in messages}
    for record in dead:
        assert base64.b64decode(record["value"]) in sent
        assert record["error"]["detail"]
        assert record["_headers"]["mastery-error-code"] == record["error"]["code"].encode()
        assert record["origin"]["topic"] == kafka.kafka_requests_topic


def test_a_restarted_worker_turns_redelivery_into_duplicates(kafka: Settings) -> None:
    events = list(cohort_events(CohortShape(students=50, events=2_000, days=10, tenant_id="kr")))
    produce(kafka, encoded(events))
    with running(run_consumer, kafka):
        wait_for(lambda: fully_committed(kafka), 60, "offsets committed")
    # the same events again, as if a producer retried them all
    produce(kafka, encoded(events))
    with running(run_consumer, kafka):
        wait_for(lambda: fully_committed(kafka), 60, "offsets committed")
    assert learning_event_rows(kafka.require_database_url()) == 2_000
    assert read_topic(kafka, kafka.kafka_dlq_topic) == []
    with build(kafka) as built:
        student = built.application.student("kr", events[0]["student_id"])
        assert student.event_count == sum(
            e["student_id"] == events[0]["student_id"] for e in events
        )


def _event(index: int) -> dict[str, Any]:
    return {
        "event_id": f"e{index}",
        "timestamp": "2026-01-14T10:30:00Z",
        "tenant_id": "kt",
        "student_id": "s1",
        "component": "quiz",
        "data": {"total_questions": 10, "correct_answers": 7},
    }


def test_tombstones_and_non_objects_are_dead_lettered(kafka: Settings) -> None:
    produce(kafka, [(b"k", None), (None, b"[1, 2]"), (None, orjson.dumps(_event(1)))])
    with running(run_consumer, kafka):
        wait_for(lambda: fully_committed(kafka), 60, "offsets committed")
    dead = read_topic(kafka, kafka.kafka_dlq_topic)
    assert sorted(d["error"]["code"] for d in dead) == ["invalid_json", "validation_error"]
    tombstone = next(d for d in dead if d["error"]["code"] == "invalid_json")
    assert tombstone["value"] is None
    assert tombstone["key"] == base64.b64encode(b"k").decode()
    assert learning_event_rows(kafka.require_database_url()) == 1


# A real server-side failure that is not about connectivity, for chosen event ids only.
POISON_TRIGGER = """
CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.event_id LIKE 'poison%' THEN
    RAISE EXCEPTION 'refusing %', NEW.event_id;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refuse_poison BEFORE INSERT ON mastery_event_ids
  FOR EACH ROW EXECUTE FUNCTION refuse_poison();
"""


def test_a_message_that_keeps_failing_is_dead_lettered_and_the_rest_recorded(
    kafka: Settings,
) -> None:
    database = kafka.require_database_url()
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(POISON_TRIGGER)
    events = [_event(index) for index in range(40)]
    poison = [{**_event(index), "event_id": f"poison-{index}"} for index in (3, 17)]
    produce(kafka, encoded([*events[:20], poison[0], *events[20:], poison[1]]))

    with running(run_consumer, replace(kafka, kafka_max_attempts=2)):
        wait_for(lambda: fully_committed(kafka), 90, "offsets committed past the poison")

    dead = read_topic(kafka, kafka.kafka_dlq_topic)
    assert sorted(orjson.loads(base64.b64decode(d["value"]))["event_id"] for d in dead) == [
        "poison-17",
        "poison-3",
    ]
    assert {d["error"]["code"] for d in dead} == {"processing_failed"}
    assert all("refusing poison" in d["error"]["detail"] for d in dead)
    assert learning_event_rows(database) == 40
