"""The ingest worker: a consumer-group member on ``mastery.requests`` (SPEC §6).

Each poll returns a batch of messages (many students); the batch goes through the shared
ingest path in one call (one transaction per ``MASTERY_INGEST_BATCH_SIZE`` events). Then:

* recorded / duplicate — nothing more to do;
* rejected / conflict — the original message goes to the dead-letter topic, and the worker
  waits until the broker acknowledged every DLQ record;
* only then are the batch's offsets committed, synchronously (highest offset + 1 per partition).

So an offset is committed only after its event is durably in the event store or in the DLQ.
A database that is down (a transient failure) pauses the partitions and retries the same batch
with capped exponential backoff, never committing and never dead-lettering. Any other failure
is retried ``MASTERY_KAFKA_MAX_ATTEMPTS`` times, then the batch is ingested message by message
and the messages that still fail are dead-lettered as ``processing_failed``.

Rebalances are served inside ``consume()``, between batches, so a revocation never finds a batch
in flight; a batch whose commit fails (the group moved on) is simply re-delivered, and the
idempotent ingest turns the re-delivery into duplicates. A stop request (SIGTERM) lets the
current batch finish and commit; a stop during a retry wait abandons the uncommitted batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from infrastructure.event_store.write_results import Status
from infrastructure.ingest.contract import FieldError
from infrastructure.ingest.service import IngestService, Outcome
from infrastructure.kafka.config import consumer_config, producer_config
from infrastructure.kafka.dead_letters import DeadLetter
from infrastructure.kafka.inbound import InboundMessage
from infrastructure.kafka.metrics import WorkerMetrics
from infrastructure.kafka.producing import deliver
from infrastructure.kafka.topics import ensure_topics
from infrastructure.kafka.transient import TransientKafkaError, is_transient
from infrastructure.runtime import gc_pacing as collector
from infrastructure.runtime.supervision import Backoff, Supervisor, WorkerHealth
from infrastructure.settings import Settings
from infrastructure.xapi.translate import Translator, stored_times

log = structlog.get_logger(__name__)

POLL_TIMEOUT_SECONDS = 0.5
FILL_SECONDS = 0.1  # how long a partial batch waits for more messages
STATS_INTERVAL_SECONDS = 10.0
_MISSING_TOPIC = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC)


class IngestWorker:
    def __init__(
        self,
        ingest: IngestService,
        settings: Settings,
        *,
        metrics: WorkerMetrics | None = None,
        stats_interval: float = STATS_INTERVAL_SECONDS,
    ) -> None:
        self.ingest = ingest
        self.settings = settings
        self.metrics = metrics or WorkerMetrics("consumer")
        self.batch_size = settings.ingest_batch_size
        self.max_attempts = settings.kafka_max_attempts
        self.stats_interval = stats_interval
        self._last_stats = time.monotonic()
        self._last_topic_check = 0.0
        self.health = WorkerHealth("consumer")
        self.statements = Translator.from_settings(settings)  # xAPI messages (docs/xapi.md)
        self.stored_time = stored_times(ingest.application)

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; the batch in progress is finished and committed.

        Supervised: a failure outside a batch's own retries (a fatal client error, a broker
        that vanished) closes the clients and starts them again after a backoff; what was
        not committed is delivered again and turns into duplicates."""
        Supervisor(self.health, backoff=Backoff()).run(lambda: self._consume_until(stop), stop)
        log.info("consumer_stopped", **self.metrics.snapshot())

    def _consume_until(self, stop: threading.Event) -> None:
        if not self._ensure_topics(stop):
            return
        consumer = Consumer({**consumer_config(self.settings), "error_cb": _log_client_error})
        producer = Producer({**producer_config(self.settings), "error_cb": _log_client_error})
        try:
            consumer.subscribe(
                [self.settings.kafka_requests_topic],
                on_assign=_on_assign,
                on_revoke=_on_revoke,
                on_lost=_on_lost,
            )
            log.info("consumer_started", topic=self.settings.kafka_requests_topic)
            with collector.Paced() as paced:  # the aggregate cache is large and long-lived
                while not stop.is_set():
                    self._step(consumer, producer, stop)
                    paced.tick()
                    if time.monotonic() - self._last_stats >= self.stats_interval:
                        self._report(consumer)
        finally:
            self._close(consumer, producer)

    def _close(self, consumer: Any, producer: Any) -> None:
        """Each step guarded: after a failure the broker may be the thing that is down."""
        for step in (lambda: self._report(consumer), consumer.close, lambda: producer.flush(10)):
            try:
                step()
            except Exception as error:
                log.warning("consumer_close_failed", error=_describe(error))

    def _poll_batch(self, consumer: Any) -> list[Any]:
        """Up to a full batch: wait for a first message, then top up for ``FILL_SECONDS``."""
        messages: list[Any] = consumer.consume(self.batch_size, timeout=POLL_TIMEOUT_SECONDS)
        deadline = time.monotonic() + FILL_SECONDS
        while messages and len(messages) < self.batch_size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            more = consumer.consume(self.batch_size - len(messages), timeout=left)
            if not more:
                break
            messages.extend(more)
        return messages

    def _step(self, consumer: Any, producer: Any, stop: threading.Event) -> None:
        batch: list[InboundMessage] = []
        for message in self._poll_batch(consumer):
            error = message.error()
            if error is None:
                batch.append(InboundMessage.of(message))
            elif error.fatal():
                raise KafkaException(error)
            elif error.code() in _MISSING_TOPIC:
                self._recreate_topics(stop)
            elif error.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer_error", error=str(error))
        if batch:
            self._process(batch, consumer, producer, stop)
        else:
            self.health.progressed()

    def _process(
        self,
        batch: list[InboundMessage],
        consumer: Any,
        producer: Any,
        stop: threading.Event,
    ) -> None:
        self.metrics.add("consumed", len(batch))
        outcomes = self._ingest_durably(batch, consumer, stop)
        if outcomes is None:
            return  # stopped while waiting for the database: nothing is committed
        for status in (Status.RECORDED, Status.DUPLICATE, Status.CONFLICT, Status.REJECTED):
            self.metrics.add(status.value, sum(o.status is status for o in outcomes))
        dead = [
            DeadLetter(message, o.code or "processing_failed", o.errors, o.event_id, o.tenant_id)
            for message, o in zip(batch, outcomes, strict=True)
            if o.status in (Status.REJECTED, Status.CONFLICT)
        ]
        if dead and not self._dead_letter(dead, producer, stop):
            return
        self._commit(consumer, batch)
        self.health.progressed(batch=True)

    def _ingest_durably(
        self, batch: list[InboundMessage], consumer: Any, stop: threading.Event
    ) -> list[Outcome] | None:
        backoff = Backoff()
        failures = 0
        paused: list[Any] = []
        try:
            while True:
                try:
                    items = self._items(batch)
                    if failures < self.max_attempts:
                        return self.ingest.ingest(items).outcomes
                    return self._one_by_one(items)
                except Exception as error:
                    self.metrics.add("retried")
                    self.health.backing_off(error)
                    if is_transient(error):
                        if not paused:
                            paused = consumer.assignment()
                            consumer.pause(paused)
                        log.warning("ingest_unavailable", error=_describe(error), batch=len(batch))
                    else:
                        failures += 1
                        log.exception("ingest_failed", attempt=failures, batch=len(batch))
                    if not backoff.wait(stop):
                        return None
        finally:
            if paused:
                consumer.resume(paused)

    def _items(self, batch: list[InboundMessage]) -> list[object]:
        now = datetime.now(UTC)

        def translate(statement: object, tenant: str) -> object:
            return self.statements.translate(statement, tenant, now, self.stored_time).item

        return [message.item(translate) for message in batch]

    def _one_by_one(self, items: Sequence[object]) -> list[Outcome]:
        """Isolate the message(s) that keep failing; a transient failure still propagates."""
        outcomes: list[Outcome] = []
        for item in items:
            try:
                outcomes.extend(self.ingest.ingest([item]).outcomes)
            except Exception as error:
                if is_transient(error):
                    raise
                log.exception("processing_failed")
                self.metrics.add("processing_failed")
                outcomes.append(_processing_failed(item, error))
        return outcomes

    def _dead_letter(self, dead: list[DeadLetter], producer: Any, stop: threading.Event) -> bool:
        """Write the records and wait for the broker's acknowledgement of every one of them."""
        backoff = Backoff()
        pending = dead
        while pending:
            failed = deliver(
                producer, self.settings.kafka_dlq_topic, [d.outgoing() for d in pending]
            )
            self.metrics.add("dead_lettered", len(pending) - len(failed))
            pending = [pending[index] for index in failed]
            if pending:
                self.metrics.add("retried")
                self.health.backing_off(TransientKafkaError(f"{len(pending)} DLQ records"))
                log.warning("dlq_write_failed", pending=len(pending))
                if not backoff.wait(stop):
                    return False
        return True

    def _commit(self, consumer: Any, batch: list[InboundMessage]) -> None:
        next_offsets: dict[tuple[str, int], int] = {}
        for message in batch:
            key = (message.origin.topic, message.origin.partition)
            next_offsets[key] = max(next_offsets.get(key, 0), message.origin.offset + 1)
        offsets = [TopicPartition(t, p, o) for (t, p), o in next_offsets.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:
            # The batch is durable; its messages come back as duplicates after a rebalance.
            log.warning("commit_failed", error=str(error), partitions=len(offsets))

    def _ensure_topics(self, stop: threading.Event) -> bool:
        backoff = Backoff()
        while True:
            try:
                ensure_topics(self.settings)
                return True
            except KafkaException as error:
                self.health.backing_off(error)
                log.warning("broker_unavailable", error=str(error))
                if not backoff.wait(stop):
                    return False

    def _recreate_topics(self, stop: threading.Event) -> None:
        """The broker lost the topic (e.g. a restarted in-memory broker): create it again."""
        if time.monotonic() - self._last_topic_check < 5.0:
            return
        self._last_topic_check = time.monotonic()
        self._ensure_topics(stop)

    def _report(self, consumer: Any) -> None:
        self._last_stats = time.monotonic()
        try:
            lag = consumer_lag(consumer)
        except KafkaException as error:
            log.warning("lag_unavailable", error=str(error))
            lag = {}
        self.metrics.set_lag(lag)
        self.health.set_lag(sum(lag.values()))
        log.info("consumer_stats", lag=sum(lag.values()), **self.metrics.snapshot())


def consumer_lag(consumer: Any) -> dict[str, int]:
    """Messages behind each assigned partition's high watermark, keyed ``topic/partition``.

    The watermark is the one the last fetch response carried (tansu answers a ListOffsets
    "latest" query with a stale value); the broker is asked only before the first fetch.
    """
    lag: dict[str, int] = {}
    assignment = consumer.assignment()
    if not assignment:
        return lag
    for position in consumer.position(assignment):
        low, high = consumer.get_watermark_offsets(position, cached=True)
        if high < 0:
            low, high = consumer.get_watermark_offsets(position, timeout=2.0, cached=False)
        at = position.offset if position.offset >= 0 else low
        lag[f"{position.topic}/{position.partition}"] = max(0, high - at)
    return lag


def _processing_failed(item: object, error: Exception) -> Outcome:
    event_id = item.get("event_id") if isinstance(item, dict) else None
    tenant_id = item.get("tenant_id") if isinstance(item, dict) else None
    return Outcome(
        Status.REJECTED,
        event_id if isinstance(event_id, str) else None,
        tenant_id if isinstance(tenant_id, str) else None,
        code="processing_failed",
        errors=(FieldError("", _describe(error), "processing_failed"),),
    )


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _log_client_error(error: KafkaError) -> None:
    log.warning("kafka_client_error", error=str(error), fatal=error.fatal())


def _on_assign(_consumer: Any, partitions: list[Any]) -> None:
    log.info("partitions_assigned", partitions=[f"{p.topic}/{p.partition}" for p in partitions])


def _on_revoke(_consumer: Any, partitions: list[Any]) -> None:
    # Batches are processed and committed between polls: nothing is in flight here.
    log.info("partitions_revoked", partitions=[f"{p.topic}/{p.partition}" for p in partitions])


def _on_lost(_consumer: Any, partitions: list[Any]) -> None:
    log.warning("partitions_lost", partitions=[f"{p.topic}/{p.partition}" for p in partitions])
