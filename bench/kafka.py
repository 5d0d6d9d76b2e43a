"""Kafka ingest throughput: `mastery consume` against the bare eventsourcing library.

Measured in one run, each into an empty database of the same server, durable commits on:
  * consume — N events pre-produced to a fresh requests topic (keyed tenant/student), then the
              ingest worker (`--workers` consumer processes of one group) started; timed until
              every event is in the event store (startup and group join included), and also
              from the first recorded event on (steady rate);
  * bare_1  — the bare library saving one event per save() call, on a prefix of the events.
Writes bench/results/kafka.json.

Usage: python bench/kafka.py [--events 200000] [--students 5000] [--baseline-events 20000]
                             [--workers 2] [--partitions 6]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
import psycopg
from confluent_kafka import Producer

from bench.common import (
    configured_or_embedded,
    fresh_database,
    machine,
    postgres_server,
    server_facts,
    write_result,
)
from bench.ingest import run_bare
from infrastructure.kafka.topics import ensure_topics
from infrastructure.kafka.workers import run_consumers
from infrastructure.migrate import upgrade
from infrastructure.settings import Settings
from infrastructure.synthetic import CohortShape, cohort_events


def pre_produce(settings: Settings, events: list[dict[str, Any]]) -> float:
    ensure_topics(settings)
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "linger.ms": 20, "acks": "all"}
    )
    started = time.perf_counter()
    for index, event in enumerate(events):
        key = f"{event['tenant_id']}/{event['student_id']}".encode()
        while True:
            try:
                producer.produce(settings.kafka_requests_topic, key=key, value=orjson.dumps(event))
                break
            except BufferError:
                producer.poll(0.1)
        if index % 1000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0
    return time.perf_counter() - started


def recorded(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM mastery_event_ids").fetchone()
    return int(row[0]) if row else 0


def run_consume(settings: Settings, count: int, workers: int) -> dict[str, Any]:
    url = settings.require_database_url()
    stop = threading.Event()
    runner = threading.Thread(target=run_consumers, args=(settings, stop, workers), daemon=True)
    started = time.perf_counter()
    runner.start()
    first: float | None = None
    done = 0
    while done < count:
        time.sleep(0.25)
        done = recorded(url)
        if done and first is None:
            first = time.perf_counter()
        if not runner.is_alive():
            raise RuntimeError("the consumer stopped early")
    finished = time.perf_counter()
    stop.set()
    runner.join(120)
    assert first is not None
    return {
        "workers": workers,
        "seconds": finished - started,
        "events_per_second": count / (finished - started),
        "seconds_to_first_recorded_event": first - started,
        "steady_events_per_second": count / (finished - first),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--students", type=int, default=5_000)
    parser.add_argument("--baseline-events", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2, help="consumer processes")
    parser.add_argument("--partitions", type=int, default=6)
    args = parser.parse_args()

    events = list(
        cohort_events(
            CohortShape(students=args.students, events=args.events, days=60, tenant_id="bench")
        )
    )
    run = uuid.uuid4().hex[:8]
    with postgres_server() as server, configured_or_embedded("kafka") as broker:
        with fresh_database(server, "kafka") as url:
            upgrade(url)
            settings = Settings(
                database_url=url,
                kafka_bootstrap_servers=broker,
                kafka_requests_topic=f"bench.requests.{run}",
                kafka_results_topic=f"bench.results.{run}",
                kafka_dlq_topic=f"bench.dlq.{run}",
                kafka_group_id=f"bench-{run}",
                kafka_partitions=args.partitions,
                kafka_session_timeout_ms=6000,
            )
            produce_seconds = pre_produce(settings, events)
            facts = server_facts(url)
            consume = run_consume(settings, len(events), args.workers)
            assert recorded(url) == len(events)
        with fresh_database(server, "kafkabare1") as url:
            bare_1 = run_bare(url, events[: args.baseline_events], per_save=1)

    result = {
        "benchmark": "kafka",
        "events": len(events),
        "students": args.students,
        "partitions": args.partitions,
        "baseline_events": args.baseline_events,
        "server": facts,
        "broker": "configured" if os.environ.get("MASTERY_KAFKA_BOOTSTRAP_SERVERS") else "tansu",
        "machine": machine(),
        "pre_produce_seconds": produce_seconds,
        "mastery_consume": consume,
        "bare_library_one_event_per_save": {"events_per_second": bare_1},
        "speedup_vs_one_per_save": consume["events_per_second"] / bare_1,
        "target": {"events_per_second": 8_000},
    }
    path = write_result("kafka", result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
