"""Producing to and reading from the broker in tests, without joining consumer groups."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from infrastructure.kafka.topics import ensure_topics
from infrastructure.settings import Settings, database_parts
from tests.e2e.http.support import CuttableProxy

Message = tuple[bytes | None, bytes | None]  # key, value


def event_key(event: dict[str, Any]) -> bytes:
    return f"{event.get('tenant_id', 'default')}/{event['student_id']}".encode()


def encoded(events: Iterable[dict[str, Any]]) -> list[Message]:
    return [(event_key(e), orjson.dumps(e)) for e in events]


# Topic ends as seen by our producers' delivery reports. (tansu answers ListOffsets "latest"
# with the last batch's base offset + 1, so a broker query understates the end.)
_ENDS: dict[str, dict[int, int]] = defaultdict(dict)


def produce(
    settings: Settings,
    messages: Iterable[Message],
    headers: list[tuple[str, bytes]] | None = None,
) -> int:
    """Every message, with ``headers`` (the same for each) when given."""
    ensure_topics(settings)
    ends = _ENDS[settings.kafka_requests_topic]

    def delivered(error: object, message: Any) -> None:
        assert error is None, error
        partition = message.partition()
        ends[partition] = max(ends.get(partition, 0), message.offset() + 1)

    assert settings.kafka_bootstrap_servers is not None
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "linger.ms": 20, "acks": "all"}
    )
    count = 0
    for key, value in messages:
        while True:
            try:
                producer.produce(
                    settings.kafka_requests_topic,
                    key=key,
                    value=value,
                    headers=headers,
                    on_delivery=delivered,
                )
                break
            except BufferError:
                producer.poll(0.1)
        count += 1
        if count % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0
    return count


def _partitions(consumer: Consumer, topic: str) -> list[TopicPartition]:
    metadata = consumer.list_topics(topic, timeout=10)
    return [TopicPartition(topic, p) for p in metadata.topics[topic].partitions]


def committed(settings: Settings) -> dict[int, int]:
    assert settings.kafka_bootstrap_servers is not None
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": settings.kafka_group_id}
    )
    try:
        partitions = _partitions(consumer, settings.kafka_requests_topic)
        return {tp.partition: tp.offset for tp in consumer.committed(partitions, timeout=10)}
    finally:
        consumer.close()


def read_topic(settings: Settings, topic: str, idle: float = 2.0) -> list[dict[str, Any]]:
    """Every message of ``topic`` (read until ``idle`` seconds pass without one), decoded."""
    consumer = _reader(settings)
    try:
        partitions = _partitions(consumer, topic)
        for tp in partitions:
            tp.offset = 0
        consumer.assign(partitions)
        out: list[dict[str, Any]] = []
        last = time.monotonic()
        while time.monotonic() - last < idle:
            for message in consumer.consume(1000, 0.2):
                if message.error():
                    continue
                last = time.monotonic()
                body = orjson.loads(message.value() or b"{}")
                body["_key"] = message.key()
                body["_headers"] = dict(message.headers() or [])
                out.append(body)
        return out
    finally:
        consumer.close()


def _reader(settings: Settings) -> Consumer:
    assert settings.kafka_bootstrap_servers is not None
    return Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": "test-reader",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def fully_committed(settings: Settings) -> bool:
    ends = _ENDS[settings.kafka_requests_topic]
    done = committed(settings)
    return all(done.get(partition, -1) == end for partition, end in ends.items())


@contextmanager
def running(
    target: Callable[[Settings, threading.Event], None], settings: Settings
) -> Iterator[threading.Event]:
    """Run a worker in a thread for the block; stop it and re-raise its failure afterwards."""
    stop = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            target(settings, stop)
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive(), "worker did not stop"
    if failure:
        raise failure[0]


def through(settings: Settings, proxy: CuttableProxy) -> Settings:
    """``settings`` with the database reached through ``proxy``."""
    parts = database_parts(settings.require_database_url())
    password = f":{parts.password}" if parts.password else ""
    url = f"postgresql://{parts.user}{password}@127.0.0.1:{proxy.port}/{parts.dbname}"
    return replace(settings, database_url=url)
