"""The ingest worker under crashes and outages: nothing lost, nothing recorded twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from infrastructure.bootstrap import build
from infrastructure.kafka.workers import run_consumer
from infrastructure.migrate import upgrade
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
from tests.support import count_rows, learning_event_rows

ROOT = Path(__file__).resolve().parents[3]


def _worker_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MASTERY_DATABASE_URL": settings.require_database_url(),
        "MASTERY_KAFKA_BOOTSTRAP_SERVERS": str(settings.kafka_bootstrap_servers),
        "MASTERY_KAFKA_REQUESTS_TOPIC": settings.kafka_requests_topic,
        "MASTERY_KAFKA_RESULTS_TOPIC": settings.kafka_results_topic,
        "MASTERY_KAFKA_DLQ_TOPIC": settings.kafka_dlq_topic,
        "MASTERY_KAFKA_GROUP_ID": settings.kafka_group_id,
        "MASTERY_KAFKA_PARTITIONS": str(settings.kafka_partitions),
        "MASTERY_KAFKA_SESSION_TIMEOUT_MS": str(settings.kafka_session_timeout_ms),
        "MASTERY_INGEST_BATCH_SIZE": "500",
        "MASTERY_DATA_DIR": str(log.parent / "data"),
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "api.cli.consume"], cwd=ROOT, env=env, stdout=out, stderr=out
        )


def _wait_for_progress(database: str, before: int, worker: subprocess.Popen[bytes]) -> None:
    wait_for(
        lambda: learning_event_rows(database) > before or worker.poll() is not None,
        60,
        "the worker to make progress",
    )


@pytest.mark.slow
def test_sigkill_ten_times_during_a_stream_loses_nothing_and_records_nothing_twice(
    kafka: Settings, tmp_path: Path
) -> None:
    events = list(cohort_events(CohortShape(students=1_000, events=50_000, tenant_id="kk")))
    messages = encoded(events)
    database = kafka.require_database_url()
    produce(kafka, messages[:10_000])

    def stream_the_rest() -> None:
        for start in range(10_000, len(messages), 4_000):
            produce(kafka, messages[start : start + 4_000])
            time.sleep(0.5)

    producer = threading.Thread(target=stream_the_rest)
    producer.start()
    rng = random.Random(9)
    log = tmp_path / "worker.log"
    for _ in range(10):
        before = learning_event_rows(database)
        worker = _worker_process(kafka, log)
        _wait_for_progress(database, before, worker)
        assert worker.poll() is None, log.read_text()[-3000:]
        time.sleep(rng.uniform(0.0, 0.4))
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    producer.join()

    worker = _worker_process(kafka, log)
    try:
        wait_for(lambda: fully_committed(kafka), 180, "offsets committed to the end")
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0, log.read_text()[-3000:]
    assert learning_event_rows(database) == 50_000
    assert count_rows(database, "SELECT count(*) FROM mastery_event_ids") == 50_000
    assert read_topic(kafka, kafka.kafka_dlq_topic) == []


@pytest.mark.slow
def test_postgres_down_for_15_seconds_mid_stream_is_waited_out(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    from infrastructure.embedded.servers import EmbeddedServers

    servers = EmbeddedServers(tmp_path / "servers", postgres=True, redis=False, kafka=False)
    urls = servers.start()
    try:
        assert urls.database_url is not None
        upgrade(urls.database_url)
        settings = kafka_settings(
            Settings(database_url=urls.database_url, ingest_batch_size=500), kafka_bootstrap
        )
        events = list(cohort_events(CohortShape(students=300, events=12_000, tenant_id="kp")))
        messages = encoded(events)
        produce(settings, messages[:4_000])
        with running(run_consumer, settings):
            wait_for(lambda: learning_event_rows(urls.database_url or "") > 0, 60, "progress")
            servers.stop_postgres()
            produce(settings, messages[4_000:])
            time.sleep(15)
            servers.start_postgres()
            wait_for(lambda: fully_committed(settings), 120, "offsets committed to the end")
        assert learning_event_rows(urls.database_url) == 12_000
        assert read_topic(settings, settings.kafka_dlq_topic) == []
    finally:
        servers.stop()


@pytest.mark.slow
def test_the_worker_reconnects_after_a_broker_restart(settings: Settings, tmp_path: Path) -> None:
    from infrastructure.embedded.servers import EmbeddedServers

    broker = EmbeddedServers(tmp_path / "broker", postgres=False, redis=False, kafka=True)
    urls = broker.start()
    try:
        assert urls.kafka_bootstrap_servers is not None
        kafka = kafka_settings(settings, urls.kafka_bootstrap_servers)
        events = list(cohort_events(CohortShape(students=50, events=2_000, tenant_id="kb")))
        database = kafka.require_database_url()
        produce(kafka, encoded(events[:1_000]))
        with running(run_consumer, kafka):
            wait_for(lambda: learning_event_rows(database) == 1_000, 60, "first half")
            broker.restart_kafka()  # in-memory broker: topics and offsets are gone
            produce(kafka, encoded(events[1_000:]))
            wait_for(lambda: learning_event_rows(database) == 2_000, 120, "second half")
        with build(kafka) as built:
            assert built.application.head() > 0
    finally:
        broker.stop()
