"""The results publisher: follows the event store's notification log into ``mastery.results``.

Each round reads the notifications after the tracked position (``mastery_tracking``, row
``mastery.results``), builds the messages, produces them and waits for the broker's
acknowledgement of all of them, and only then advances the tracked position to the round's
last notification. A crash therefore re-publishes at most one round (the same messages, with
the same ``event_id``) and never skips one. Notification ids commit in order (the recorder
keeps the library's table lock), so reading after a position never misses a later commit of an
earlier id.

Per student and round: the state before the round's first event (from a cache, else loaded from
the repository at that version), then each event applied in store order, so every level change
gives a ``mastery.threshold.reached``; one coalesced ``mastery.updated`` follows, at the
position of the student's last event in the round.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import structlog
from confluent_kafka import Producer
from eventsourcing.persistence import IntegrityError, Notification, Tracking
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresTrackingRecorder

from domain.errors import StudentErasedError
from domain.student_mastery import StudentMastery
from infrastructure.event_store.application import MasteryApplication
from infrastructure.kafka.config import producer_config
from infrastructure.kafka.metrics import WorkerMetrics
from infrastructure.kafka.producing import OutgoingMessage, deliver
from infrastructure.kafka.results import INITIAL_LEVEL, mastery_updated, threshold_reached
from infrastructure.kafka.topics import ensure_topics
from infrastructure.kafka.transient import TransientKafkaError
from infrastructure.runtime.supervision import Backoff, Supervisor, WorkerHealth
from infrastructure.settings import Settings

log = structlog.get_logger(__name__)

TRACKING_NAME = "mastery.results"
TRACKING_TABLE = "mastery_tracking"
IDLE_SECONDS = 0.2
STATS_INTERVAL_SECONDS = 10.0


class ResultsPublisher:
    def __init__(
        self,
        application: MasteryApplication,
        settings: Settings,
        *,
        metrics: WorkerMetrics | None = None,
        cache_size: int = 20_000,
        stats_interval: float = STATS_INTERVAL_SECONDS,
    ) -> None:
        self.application = application
        self.settings = settings
        self.metrics = metrics or WorkerMetrics("publisher")
        self.batch_size = settings.publish_batch_size
        self.stats_interval = stats_interval
        recorder = application.recorder
        assert isinstance(recorder, PostgresApplicationRecorder)
        self.tracking = PostgresTrackingRecorder(
            recorder.datastore, tracking_table_name=TRACKING_TABLE
        )
        self._states: OrderedDict[UUID, tuple[StudentMastery, str]] = OrderedDict()
        self._cache_size = cache_size
        self._position: int | None = None
        self._producer: Any = None
        self.health = WorkerHealth("publisher", lag_probe=self.lag)
        # Called before producing a round and before saving its position; raises if this
        # process may no longer publish (active-standby: ``infrastructure.runtime.leadership``).
        self.fence: Callable[[], None] = lambda: None

    def position(self) -> int:
        """The last notification id whose messages the broker acknowledged."""
        if self._position is None:
            self._position = self.tracking.max_tracking_id(TRACKING_NAME) or 0
        return self._position

    def run(self, stop: threading.Event) -> None:
        """Publish until ``stop`` is set; failures are waited out (``Supervisor``), never
        skipped: the round that failed is read and published again."""
        log.info("publisher_started", topic=self.settings.kafka_results_topic)
        self._states.clear()  # another publisher may have published since a previous run
        self._position = None
        Supervisor(self.health, recover=self._recover, backoff=Backoff()).run(
            lambda: self._publish_until(stop), stop
        )
        if self._producer is not None:
            self._producer.flush(10)
        self._report()
        log.info("publisher_stopped", **self.metrics.snapshot())

    def _publish_until(self, stop: threading.Event) -> None:
        if self._producer is None:
            ensure_topics(self.settings, [self.settings.kafka_results_topic])
            self._producer = Producer(producer_config(self.settings))
        last_stats = time.monotonic()
        while not stop.is_set():
            published = self.publish_next(self._producer)
            self.health.progressed(
                batch=published > 0, position=self._position, lag=None if published else 0
            )
            if time.monotonic() - last_stats >= self.stats_interval:
                last_stats = time.monotonic()
                self._report()
            if not published:
                stop.wait(IDLE_SECONDS)

    def lag(self) -> int:
        """Notifications recorded but not yet acknowledged by the broker."""
        return max(0, self.application.head() - self.position())

    def publish_next(self, producer: Any) -> int:
        """One round; returns how many notifications it covered (0: nothing new)."""
        start = self.position() + 1
        notifications = self.application.recorder.select_notifications(
            start=start, limit=self.batch_size
        )
        if not notifications:
            return 0
        messages, thresholds = self._messages(notifications)
        self.fence()
        failed = deliver(producer, self.settings.kafka_results_topic, messages)
        if failed:
            raise TransientKafkaError(f"{len(failed)} of {len(messages)} results not delivered")
        last = notifications[-1].id
        self.fence()
        try:
            self.tracking.insert_tracking(Tracking(TRACKING_NAME, last))
        except IntegrityError:
            log.warning("tracking_moved_on", position=last)  # another publisher got there first
            self._position = None
            return len(notifications)
        self._position = last
        self.metrics.add("published_batches")
        self.metrics.add("published_threshold", thresholds)
        self.metrics.add("published_updated", len(messages) - thresholds)
        return len(notifications)

    def _messages(self, notifications: Sequence[Notification]) -> tuple[list[OutgoingMessage], int]:
        by_student: dict[UUID, list[tuple[int, Any]]] = {}
        for notification in notifications:
            try:
                event = self.application.mapper.to_domain_event(notification)
            except StudentErasedError:
                continue  # an erased student's events are unreadable by design: nothing to say
            by_student.setdefault(event.originator_id, []).append((notification.id, event))
        messages: list[OutgoingMessage] = []
        thresholds = 0
        for aggregate_id, events in by_student.items():
            try:
                student_messages = self._student_messages(aggregate_id, events)
            except StudentErasedError:  # erased after their events above were read
                self._states.pop(aggregate_id, None)
                continue
            thresholds += len(student_messages) - 1 if student_messages else 0
            messages.extend(student_messages)
        return messages, thresholds

    def _student_messages(
        self, aggregate_id: UUID, events: list[tuple[int, Any]]
    ) -> list[OutgoingMessage]:
        aggregate, level = self._state_before(aggregate_id, events[0][1].originator_version)
        messages: list[OutgoingMessage] = []
        latest: tuple[int, Any] | None = None
        mastery = None
        for position, event in events:
            aggregate = event.mutate(aggregate)
            if not isinstance(event, StudentMastery.LearningEventRecorded):
                continue
            assert isinstance(aggregate, StudentMastery)
            mastery = aggregate.mastery()
            if mastery.level != level:
                messages.append(
                    threshold_reached(
                        aggregate.tenant_id,
                        aggregate.student_id,
                        level,
                        mastery,
                        position,
                        event.timestamp,
                        event.event_id,
                    )
                )
                level = mastery.level
            latest = (position, event)
        assert isinstance(aggregate, StudentMastery)
        self._remember(aggregate, level)
        if latest is not None and mastery is not None:
            position, event = latest
            messages.append(
                mastery_updated(
                    aggregate.tenant_id, aggregate.student_id, mastery, position, event.timestamp
                )
            )
        return messages

    def _state_before(self, aggregate_id: UUID, version: int) -> tuple[StudentMastery | None, str]:
        if version <= 1:
            return None, INITIAL_LEVEL
        cached = self._states.get(aggregate_id)
        if cached is not None and cached[0].version == version - 1:
            return cached
        aggregate: StudentMastery = self.application.repository.get(
            aggregate_id, version=version - 1
        )
        return aggregate, aggregate.mastery().level if aggregate.event_count else INITIAL_LEVEL

    def _remember(self, aggregate: StudentMastery, level: str) -> None:
        self._states[aggregate.id] = (aggregate, level)
        self._states.move_to_end(aggregate.id)
        while len(self._states) > self._cache_size:
            self._states.popitem(last=False)

    def _recover(self) -> None:
        """After a failed round the cache may be ahead of the tracked position: drop it. No
        server is called here; the producer is kept (librdkafka reconnects by itself)."""
        self.metrics.add("retried")
        self._states.clear()
        self._position = None

    def _report(self) -> None:
        try:
            behind = self.lag()
        except Exception as error:
            log.warning("lag_unavailable", error=f"{type(error).__name__}: {error}")
            return
        self.metrics.set_lag({"notifications": behind})
        log.info("publisher_stats", lag=behind, **self.metrics.snapshot())
