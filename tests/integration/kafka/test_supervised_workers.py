"""Workers keep working (SPEC §10): the ingest consumer and the results publisher wait out a
PostgreSQL outage (a cuttable proxy in front of the test's database) and an unexpected failure
of their own loop, resume, and report what they went through in their health."""

from __future__ import annotations

from typing import Any

import pytest

from infrastructure.bootstrap import build
from infrastructure.kafka.consumer import IngestWorker
from infrastructure.kafka.publisher import ResultsPublisher
from infrastructure.kafka.workers import run_consumer, run_publisher
from infrastructure.runtime.supervision import WorkerHealth, Workers, WorkerState
from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events
from tests.e2e.http.support import CuttableProxy
from tests.integration.kafka.support import (
    encoded,
    fully_committed,
    produce,
    read_topic,
    running,
    through,
    wait_for,
)
from tests.support import learning_event_rows


def _only(registry: Workers) -> WorkerHealth:
    (health,) = list(registry)
    return health


def _events(tenant: str, count: int) -> list[dict[str, Any]]:
    return list(cohort_events(CohortShape(students=20, events=count, days=5, tenant_id=tenant)))


def test_the_consumer_survives_a_failing_loop_and_a_database_outage(
    kafka: Settings, proxy: CuttableProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = through(kafka, proxy)
    database = kafka.require_database_url()
    events = _events("ksup", 300)
    step = IngestWorker._step
    calls: list[int] = []

    def fails_once(self: IngestWorker, *args: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("an unexpected failure outside any batch")
        step(self, *args)

    monkeypatch.setattr(IngestWorker, "_step", fails_once)
    registry = Workers()
    with running(lambda s, e: run_consumer(s, e, registry), settings):
        produce(settings, encoded(events[:150]))
        wait_for(lambda: learning_event_rows(database) == 150, 60, "the first half")
        health = _only(registry)
        assert health.snapshot().failures == 1

        proxy.cut()
        produce(settings, encoded(events[150:]))
        wait_for(
            lambda: health.snapshot().state is WorkerState.BACKING_OFF, 30, "a backing-off consumer"
        )
        proxy.restore()
        wait_for(lambda: learning_event_rows(database) == 300, 60, "the second half")
        wait_for(lambda: fully_committed(settings), 30, "the offsets")
        wait_for(lambda: health.snapshot().state is WorkerState.RUNNING, 10, "a running consumer")
    assert read_topic(settings, settings.kafka_dlq_topic) == []
    assert health.snapshot().state is WorkerState.STOPPED


def _published(settings: Settings) -> int:
    with build(settings) as built:
        return ResultsPublisher(built.application, settings).position()


def test_the_publisher_survives_a_database_outage(kafka: Settings, proxy: CuttableProxy) -> None:
    """The event store's own retries hold the publisher inside a call while the database is
    away: its health shows no progress (what readiness turns into 503) until it resumes."""
    settings = through(kafka, proxy)
    events = _events("psup", 200)
    with build(kafka) as built:
        built.ingest.ingest(events[:100])
        first = built.application.head()
    registry = Workers()
    with running(lambda s, e: run_publisher(s, e, registry), settings):
        wait_for(lambda: _published(kafka) == first, 60, "the first half published")
        health = _only(registry)
        proxy.cut()
        with build(kafka) as built:
            built.ingest.ingest(events[100:])
            head = built.application.head()
        wait_for(lambda: _stuck_for(health) >= 2.0, 30, "a publisher making no progress")
        proxy.restore()
        wait_for(lambda: _published(kafka) == head, 90, "the second half published")
        wait_for(lambda: health.snapshot().position == head, 10, "the position in the health")
        assert health.snapshot().state is WorkerState.RUNNING
        assert _stuck_for(health) < 2.0
    results = read_topic(settings, settings.kafka_results_topic)
    assert head in {m["position"] for m in results if m["event_type"] == "mastery.updated"}


def _stuck_for(health: WorkerHealth) -> float:
    snapshot = health.snapshot()
    return 0.0 if snapshot.last_progress_age is None else snapshot.last_progress_age
