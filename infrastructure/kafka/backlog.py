"""The broker side of the pipeline's health (SPEC §11): how many requests wait to be ingested
(the ingest group's lag) and how many messages the dead-letter topic keeps.

Read with a consumer of the ingest group that never subscribes, so it neither joins the group
nor moves its offsets: ``committed()`` reads the group's offsets, the watermarks the topics'
ends. Every broker call shares one deadline, so an admin's status page waits a bounded time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from infrastructure.kafka.config import client_config
from infrastructure.settings import Settings

BACKLOG_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Backlog:
    requests_waiting: int
    dead_letters: int


class BacklogUnavailableError(Exception):
    """The broker did not answer in time, or answered with an error; the message says which."""


def read_backlog(settings: Settings, timeout: float = BACKLOG_TIMEOUT_SECONDS) -> Backlog:
    deadline = _Deadline(timeout)
    try:
        consumer = Consumer(_probe_config(settings, timeout))
    except KafkaException as exc:  # a configuration librdkafka refuses
        raise BacklogUnavailableError(_plain(exc)) from exc
    try:
        topics = _partition_counts(consumer, deadline)
        requests = _partitions(topics, settings.kafka_requests_topic)
        dlq = _partitions(topics, settings.kafka_dlq_topic)
        return Backlog(
            requests_waiting=_group_lag(consumer, requests, deadline),
            dead_letters=sum(high - low for low, high in _watermarks(consumer, dlq, deadline)),
        )
    except KafkaException as exc:
        raise BacklogUnavailableError(_plain(exc)) from exc
    finally:
        consumer.close()


def _probe_config(settings: Settings, timeout: float) -> dict[str, object]:
    """The ingest group's id (to read its offsets); nothing is committed or subscribed. The
    configured pass-through properties (SASL, TLS) come first: the probe's deadline wins."""
    return {
        **client_config(settings),
        "group.id": settings.kafka_group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "socket.timeout.ms": max(100, int(timeout * 1000)),
        "reconnect.backoff.max.ms": 500,
        "log_level": 2,  # a refused connection is the answer's reason, not a log line per request
    }


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise BacklogUnavailableError(f"the broker did not answer within {self.seconds:g} s")
        return remaining


def _partition_counts(consumer: Consumer, deadline: _Deadline) -> dict[str, int]:
    """Partitions per existing topic. All topics are listed: asking for one by name may make
    a broker that auto-creates topics create it."""
    metadata = consumer.list_topics(timeout=deadline.left())
    return {
        name: len(topic.partitions) for name, topic in metadata.topics.items() if not topic.error
    }


def _partitions(topics: dict[str, int], topic: str) -> list[TopicPartition]:
    """A topic that does not exist yet holds no message: no partitions."""
    return [TopicPartition(topic, partition) for partition in range(topics.get(topic, 0))]


def _group_lag(consumer: Consumer, partitions: list[TopicPartition], deadline: _Deadline) -> int:
    """High watermark minus the committed offset, or minus the low watermark where the group
    has committed nothing (the first message it would read)."""
    if not partitions:
        return 0
    committed = consumer.committed(partitions, timeout=deadline.left())
    lag = 0
    for position, (low, high) in zip(
        committed, _watermarks(consumer, partitions, deadline), strict=True
    ):
        start = position.offset if position.offset >= 0 else low
        lag += max(0, high - max(start, low))
    return lag


def _watermarks(
    consumer: Consumer, partitions: list[TopicPartition], deadline: _Deadline
) -> list[tuple[int, int]]:
    marks = []
    for partition in partitions:
        low, high = consumer.get_watermark_offsets(partition, timeout=deadline.left())
        marks.append((int(low), int(high)))
    return marks


def _plain(exc: KafkaException) -> str:
    """librdkafka's own sentence (``Local: Broker transport failure``), not its error repr."""
    error = exc.args[0] if exc.args else None
    text = error.str() if isinstance(error, KafkaError) else str(exc)
    return f"the broker did not answer: {text}"
