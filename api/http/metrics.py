"""Prometheus metrics of the API, in a registry of the app's own (one per app instance)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.request_seconds = Histogram(
            "mastery_http_request_duration_seconds",
            "HTTP request latency by route template, method and status.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.ingest_events = Counter(
            "mastery_ingest_events",
            "Events received over HTTP, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.access_log_entries = Counter(
            "mastery_access_log_entries",
            "Access-log entries queued, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.event_store_head = Gauge(
            "mastery_event_store_head",
            "Highest notification id in the event store.",
            registry=self.registry,
        )
        self.projection_position = Gauge(
            "mastery_projection_position",
            "Notification id the projection has processed.",
            ["projection"],
            registry=self.registry,
        )
        self.projection_lag = Gauge(
            "mastery_projection_lag",
            "Notifications recorded in the event store and not yet projected.",
            ["projection"],
            registry=self.registry,
        )
