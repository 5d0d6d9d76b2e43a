"""The ingest worker when an event fails inside the domain, and with hostile input: the rest of
the batch is recorded exactly once, the bad messages are dead-lettered with a reason."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import orjson
import pytest

from domain.student_mastery import StudentMastery
from infrastructure.bootstrap import build
from infrastructure.kafka.workers import run_consumer
from infrastructure.settings import Settings
from tests.integration.kafka.support import (
    encoded,
    fully_committed,
    produce,
    read_topic,
    running,
    wait_for,
)
from tests.support import learning_event_rows, store_violations


def _event(index: int, student: str) -> dict[str, Any]:
    return {
        "event_id": f"e{index}",
        "timestamp": f"2026-01-{1 + index % 28:02d}T10:30:00Z",
        "tenant_id": "ki",
        "student_id": student,
        "component": "quiz",
        "data": {"total_questions": 10, "correct_answers": index % 11},
    }


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _dead_ids(kafka: Settings) -> dict[str, str]:
    dead = read_topic(kafka, kafka.kafka_dlq_topic)
    return {
        orjson.loads(base64.b64decode(d["value"]))["event_id"]: d["error"]["code"] for d in dead
    }


def test_an_event_the_domain_refuses_is_dead_lettered_and_no_other_is_stored_twice(
    kafka: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    take_in = StudentMastery.take_in

    def refusing(self: StudentMastery, recorded: Any) -> None:
        if recorded.event_id in ("e31", "e47"):
            raise RuntimeError("injected failure inside the domain")
        take_in(self, recorded)

    monkeypatch.setattr(StudentMastery, "take_in", refusing)
    events = [_event(index, f"s{index % 4}") for index in range(60)]
    produce(kafka, encoded(events[:20]))
    with running(run_consumer, replace(kafka, kafka_max_attempts=2)):
        wait_for(lambda: fully_committed(kafka), 90, "offsets committed")
        produce(kafka, encoded(events[20:]))  # the worker has these students cached now
        wait_for(lambda: fully_committed(kafka), 90, "offsets committed")

    assert _dead_ids(kafka) == {"e31": "processing_failed", "e47": "processing_failed"}
    database = kafka.require_database_url()
    assert learning_event_rows(database) == 58
    with build(kafka) as built:
        assert store_violations(database, built.application) == []


def test_hostile_messages_are_dead_lettered_as_invalid_and_the_rest_recorded(
    kafka: Settings,
) -> None:
    good = [_event(index, "s1") for index in range(5)]
    hostile = [
        {**_event(100, "s1"), "metadata": {"a": _nested(260)}},
        {**_event(101, "s1"), "timestamp": "0001-01-01T00:00:00+01:00"},
        {**_event(102, "s1"), "timestamp": "9999-12-31T23:59:59-01:00"},
        {**_event(103, "s1"), "timestamp": "0001-01-01T00:00:00Z"},
        {**_event(104, "s1"), "data": {"total_questions": 10**30, "correct_answers": 1}},
    ]
    deep_metadata: dict[str, Any] = {}
    cursor = deep_metadata
    for _ in range(300):
        cursor["n"] = {}
        cursor = cursor["n"]
    hostile.append({**_event(105, "s1"), "metadata": deep_metadata})
    # The standard library writes what orjson refuses to (nesting past 255, integers past 64 bits).
    messages = [(b"ki/s1", json.dumps(event).encode()) for event in hostile]
    produce(kafka, [*encoded(good[:2]), *messages, *encoded(good[2:])])
    with running(run_consumer, kafka):
        wait_for(lambda: fully_committed(kafka), 90, "offsets committed")

    assert _dead_ids(kafka) == {f"e{index}": "validation_error" for index in range(100, 106)}
    assert learning_event_rows(kafka.require_database_url()) == 5
