"""Counters of the Kafka workers, exported to Prometheus and logged as structured JSON.

The Prometheus collectors live in the default registry, so the HTTP API's ``/metrics`` shows
them when the workers run in the same process (``mastery run``).
"""

from __future__ import annotations

import threading
from collections import Counter

from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge

CONSUMER_EVENTS = (
    "consumed",
    "recorded",
    "duplicate",
    "conflict",
    "rejected",
    "dead_lettered",
    "retried",
    "processing_failed",
)
PUBLISHER_EVENTS = ("published_updated", "published_threshold", "published_batches", "retried")

_consumer_total = PromCounter(
    "mastery_kafka_consumer_events",
    "Ingest worker counts by kind (consumed, recorded, duplicate, conflict, dead_lettered, ...)",
    ["kind"],
)
_consumer_lag = Gauge(
    "mastery_kafka_consumer_lag", "Messages behind the partitions' high watermarks", ["partition"]
)
_publisher_total = PromCounter(
    "mastery_kafka_publisher_events", "Results publisher counts by kind", ["kind"]
)
_publisher_lag = Gauge("mastery_kafka_publisher_lag", "Event store notifications not yet published")


class WorkerMetrics:
    """Thread-safe counts for one worker; mirrored into the process-wide Prometheus metrics."""

    def __init__(self, role: str) -> None:
        self.role = role
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._prometheus = _consumer_total if role == "consumer" else _publisher_total
        self.lag: dict[str, int] = {}

    def add(self, kind: str, amount: int = 1) -> None:
        if amount <= 0:
            return
        with self._lock:
            self._counts[kind] += amount
        self._prometheus.labels(kind=kind).inc(amount)

    def set_lag(self, lag: dict[str, int]) -> None:
        self.lag = dict(lag)
        if self.role == "consumer":
            for partition, behind in lag.items():
                _consumer_lag.labels(partition=partition).set(behind)
        else:
            _publisher_lag.set(sum(lag.values()))

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
