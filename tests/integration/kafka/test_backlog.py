"""The broker's side of the pipeline's health (``infrastructure.kafka.backlog``) against the
real broker: requests the ingest group has not committed, and the dead letters it kept.

Each message is produced, and each bad one dead-lettered, in a batch of its own: tansu answers
a topic's end with its last batch's base offset + 1 (see ``support``), exact for such batches.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import pytest

from infrastructure.kafka.backlog import Backlog, BacklogUnavailableError, read_backlog
from infrastructure.kafka.topics import ensure_topics
from infrastructure.kafka.workers import run_consumer
from infrastructure.settings import Settings
from tests.integration.kafka.support import (
    Message,
    fully_committed,
    produce,
    read_topic,
    running,
    wait_for,
)


def _valid(index: int) -> Message:
    event: dict[str, Any] = {
        "event_id": f"b{index}",
        "timestamp": "2026-01-14T10:30:00Z",
        "tenant_id": "kb",
        "student_id": f"s{index % 4}",
        "component": "quiz",
        "data": {"total_questions": 10, "correct_answers": 7},
    }
    return f"kb/{event['student_id']}".encode(), orjson.dumps(event)


def _malformed(index: int) -> Message:
    return f"kb/bad{index}".encode(), b'{"event_id": "broken-%d", ' % index


def _one_by_one(settings: Settings, messages: list[Message]) -> None:
    for message in messages:
        produce(settings, [message])


def test_topics_that_do_not_exist_yet_hold_nothing(kafka: Settings) -> None:
    assert read_backlog(kafka) == Backlog(requests_waiting=0, dead_letters=0)


def test_the_backlog_counts_uncommitted_requests_and_the_dead_letters(kafka: Settings) -> None:
    ensure_topics(kafka)
    assert read_backlog(kafka) == Backlog(requests_waiting=0, dead_letters=0)

    # the group has committed nothing yet: everything from the start of each partition waits
    _one_by_one(kafka, [_valid(i) for i in range(5)])
    assert read_backlog(kafka) == Backlog(requests_waiting=5, dead_letters=0)

    with running(run_consumer, kafka):
        wait_for(lambda: fully_committed(kafka), 60, "the first requests committed")
        for index in range(3):  # one dead letter per worker batch, each its own DLQ batch
            _one_by_one(kafka, [_malformed(index)])
            wait_for(lambda: fully_committed(kafka), 60, f"bad message {index} committed")
    assert read_backlog(kafka) == Backlog(requests_waiting=0, dead_letters=3)
    assert len(read_topic(kafka, kafka.kafka_dlq_topic)) == 3

    # the worker is stopped: what arrives now waits after the committed offsets
    _one_by_one(kafka, [_valid(i) for i in range(5, 9)] + [_malformed(9)])
    assert read_backlog(kafka) == Backlog(requests_waiting=5, dead_letters=3)


def test_a_broker_that_refuses_connections_is_reported_after_the_timeout(
    kafka: Settings,
) -> None:
    unreachable = replace(kafka, kafka_bootstrap_servers="127.0.0.1:1")
    with pytest.raises(BacklogUnavailableError, match="the broker did not answer"):
        read_backlog(unreachable, timeout=0.5)
