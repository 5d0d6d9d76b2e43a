"""The event-sourced application: StudentMastery aggregates in PostgreSQL.

Writes are batched: many students' events go into one transaction together with their
idempotency entries. Aggregates are kept in an in-process LRU cache and trusted optimistically;
a stale one (another process wrote to the same student) makes the insert fail on the
(originator_id, originator_version) key, and the batch is re-read and retried.
"""

from __future__ import annotations

import logging
import random
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import (
    EventStore,
    IntegrityError,
    JSONTranscoder,
    Mapper,
    Transcoder,
    Transcoding,
)
from eventsourcing.utils import get_topic

from domain.mastery import Mastery, MasteryLedger, mastery_as_of, timeline
from domain.student_mastery import StudentMastery, fact_of, student_aggregate_id
from infrastructure.event_store.cipher_mapper import StudentCipherMapper
from infrastructure.event_store.keys import KeyRing, MasterKey
from infrastructure.event_store.recorder import (
    EVENT_IDS_KWARG,
    EventIdRow,
    IdempotentApplicationRecorder,
)
from infrastructure.event_store.transcoder import EventJSONTranscoder
from infrastructure.ingest.contract import ValidatedEvent
from infrastructure.settings import Settings, database_parts

log = logging.getLogger(__name__)

MAX_WRITE_ATTEMPTS = 30


class Status(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    REJECTED = "rejected"
    ERASED = "erased"  # internal: reported to producers as rejected, code student_erased


@dataclass(frozen=True, slots=True)
class WriteResult:
    statuses: list[Status]  # one per input event, in input order
    position: int | None  # highest notification id written (None if nothing was written)


@dataclass(frozen=True, slots=True)
class Replay:
    tenant_id: str
    student_id: str
    rows: list[tuple[StudentMastery.LearningEventRecorded, Mastery]]  # in learning-time order
    mastery: Mastery | None  # as of the replay date; None when no event is that old


class MastersLedgerAsState(Transcoding):
    type = MasteryLedger
    name = "mastery_ledger"

    def encode(self, obj: Any) -> Any:
        assert isinstance(obj, MasteryLedger)
        return obj.to_state()

    def decode(self, data: Any) -> MasteryLedger:
        return MasteryLedger.from_state(data)


class MasteryApplication(Application[UUID]):
    name = "Mastery"

    def __init__(self, settings: Settings) -> None:
        self.keyring = keyring_for(settings)
        self.snapshot_interval = settings.snapshot_interval
        self._cache: OrderedDict[UUID, StudentMastery] = OrderedDict()
        self._cache_size = settings.aggregate_cache_size
        super().__init__(env=persistence_env(settings))

    @property
    def idempotent_recorder(self) -> IdempotentApplicationRecorder:
        assert isinstance(self.recorder, IdempotentApplicationRecorder)
        return self.recorder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(MastersLedgerAsState())

    def construct_transcoder(self) -> Transcoder:
        transcoder = EventJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def construct_mapper(self) -> Mapper[UUID]:
        """Events are encrypted per student when a master key is configured."""
        if self.keyring is None:
            return super().construct_mapper()
        return StudentCipherMapper(self.keyring, transcoder=self.construct_transcoder())

    def construct_snapshot_store(self) -> EventStore[UUID]:
        """Snapshots hold the aggregate's id (a UUID): they keep the library's transcoder."""
        transcoder = JSONTranscoder()
        self.register_transcodings(transcoder)
        mapper: Mapper[UUID] = (
            StudentCipherMapper(self.keyring, transcoder=transcoder)
            if self.keyring is not None
            else self.factory.mapper(transcoder=transcoder)
        )
        return self.factory.event_store(
            mapper=mapper, recorder=self.factory.aggregate_recorder(purpose="snapshots")
        )

    # --- writing ------------------------------------------------------------------------

    def record_events(self, events: Sequence[ValidatedEvent]) -> WriteResult:
        """Record a batch: each event is recorded, a duplicate or a conflict.

        Idempotent and safe under concurrent writers; never records an event twice.
        """
        for attempt in range(1, MAX_WRITE_ATTEMPTS + 1):
            statuses, fresh = self._classify(events)
            erased = self._erased_students(fresh)
            if erased:
                for index, event in enumerate(events):
                    if statuses[index] is Status.RECORDED and _student_of(event) in erased:
                        statuses[index] = Status.ERASED
                fresh = [e for e in fresh if _student_of(e) not in erased]
            if not fresh:
                return WriteResult(statuses, None)
            try:
                position = self._write(fresh)
            except IntegrityError:
                # A concurrent writer took a version or an event_id first: re-read, retry.
                self._evict({student_aggregate_id(e.tenant_id, e.student_id) for e in fresh})
                time.sleep(random.uniform(0, 0.005 * attempt))
                continue
            return WriteResult(statuses, position)
        raise WriteContentionError(len(events), MAX_WRITE_ATTEMPTS)

    def _classify(
        self, events: Sequence[ValidatedEvent]
    ) -> tuple[list[Status], list[ValidatedEvent]]:
        recorded = self.idempotent_recorder.recorded_hashes(e.key for e in events)
        statuses: list[Status] = []
        fresh: list[ValidatedEvent] = []
        seen: dict[tuple[str, str], str] = {}
        for event in events:
            known = recorded.get(event.key)
            earlier = seen.get(event.key)
            if known is not None:
                same = known.hex() == event.content_hash
                statuses.append(Status.DUPLICATE if same else Status.CONFLICT)
            elif earlier is not None:
                same = earlier == event.content_hash
                statuses.append(Status.DUPLICATE if same else Status.CONFLICT)
            else:
                seen[event.key] = event.content_hash
                fresh.append(event)
                statuses.append(Status.RECORDED)
        return statuses, fresh

    def _erased_students(self, events: Sequence[ValidatedEvent]) -> set[UUID]:
        """Asked of the database every batch (even without a master key configured), so an
        erased student never gets new events, whatever this process has cached."""
        if not events:
            return set()
        return self.idempotent_recorder.erased_among({_student_of(e) for e in events})

    def _write(self, events: Sequence[ValidatedEvent]) -> int:
        if self.keyring is not None:
            self.keyring.ensure({_student_of(e): e.tenant_id for e in events})
        aggregates = self._get_or_enroll({(e.tenant_id, e.student_id) for e in events})
        rows = []
        for event in events:
            aggregate = aggregates[student_aggregate_id(event.tenant_id, event.student_id)]
            aggregate.record(event)
            rows.append(
                EventIdRow(
                    event.tenant_id,
                    event.event_id,
                    bytes.fromhex(event.content_hash),
                    aggregate.id,
                    aggregate.version,
                )
            )
        try:
            recordings = self.save(*aggregates.values(), **{EVENT_IDS_KWARG: rows})
        except Exception:
            self._evict(set(aggregates))
            raise
        self._remember(aggregates.values())
        return max(r.notification.id for r in recordings)

    def _get_or_enroll(self, students: set[tuple[str, str]]) -> dict[UUID, StudentMastery]:
        aggregates: dict[UUID, StudentMastery] = {}
        missing: dict[UUID, tuple[str, str]] = {}
        for tenant_id, student_id in students:
            aggregate_id = student_aggregate_id(tenant_id, student_id)
            cached = self._cache.get(aggregate_id)
            if cached is not None:
                aggregates[aggregate_id] = cached
            else:
                missing[aggregate_id] = (tenant_id, student_id)
        existing = self.idempotent_recorder.existing_originators(missing)
        for aggregate_id, (tenant_id, student_id) in missing.items():
            if aggregate_id in existing:
                aggregates[aggregate_id] = self.repository.get(aggregate_id)
            else:
                aggregates[aggregate_id] = StudentMastery(tenant_id, student_id)
        return aggregates

    def _remember(self, aggregates: Any) -> None:
        if self._cache_size <= 0:
            return
        for aggregate in aggregates:
            self._cache[aggregate.id] = aggregate
            self._cache.move_to_end(aggregate.id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _evict(self, aggregate_ids: set[UUID]) -> None:
        for aggregate_id in aggregate_ids:
            self._cache.pop(aggregate_id, None)

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """Snapshot, in one insert, every aggregate whose batch crossed an interval boundary.

        The in-memory aggregate is exactly the saved state, so nothing is re-read.
        """
        if self.snapshots is None:
            return
        first_versions: dict[UUID, int] = {}
        for event in processing_event.events:
            first_versions.setdefault(event.originator_id, event.originator_version)
        snapshots = []
        for aggregate_id, aggregate in processing_event.aggregates.items():
            before = first_versions[aggregate_id] - 1
            if aggregate.version // self.snapshot_interval > before // self.snapshot_interval:
                snapshots.append(Snapshot.take(aggregate))
        if snapshots:
            self.snapshots.put(snapshots)

    # --- reading ------------------------------------------------------------------------

    def student(self, tenant_id: str, student_id: str) -> StudentMastery:
        """The student's aggregate as recorded (snapshot + later events)."""
        aggregate_id = student_aggregate_id(tenant_id, student_id)
        try:
            aggregate: StudentMastery = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise UnknownStudentError(tenant_id, student_id) from None
        return aggregate

    def learning_events(
        self, tenant_id: str, student_id: str
    ) -> Iterator[StudentMastery.LearningEventRecorded]:
        """The student's recorded learning events, in recorded order."""
        aggregate_id = student_aggregate_id(tenant_id, student_id)
        found = False
        for domain_event in self.events.get(aggregate_id):
            found = True
            if isinstance(domain_event, StudentMastery.LearningEventRecorded):
                yield domain_event
        if not found:
            raise UnknownStudentError(tenant_id, student_id)

    def replay(self, tenant_id: str, student_id: str, as_of: date) -> Replay:
        """The student's history rebuilt from the event store, up to ``as_of``."""
        recorded = {e.event_id: e for e in self.learning_events(tenant_id, student_id)}
        facts = [fact_of(e) for e in recorded.values() if e.occurred_at.date() <= as_of]
        rows = [(recorded[fact.event_id], mastery) for fact, mastery in timeline(facts)]
        return Replay(tenant_id, student_id, rows, mastery_as_of(facts, as_of) if facts else None)

    def head(self) -> int:
        """The event store's highest notification id (0 when empty)."""
        return self.recorder.max_notification_id() or 0


def _student_of(event: ValidatedEvent) -> UUID:
    return student_aggregate_id(event.tenant_id, event.student_id)


def keyring_for(settings: Settings) -> KeyRing | None:
    if settings.master_key is None:
        return None
    previous = [MasterKey.from_base64(key) for key in settings.previous_master_keys]
    return KeyRing(
        settings.require_database_url(), MasterKey.from_base64(settings.master_key), previous
    )


def persistence_env(settings: Settings) -> Mapping[str, str]:
    parts = database_parts(settings.require_database_url())
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": get_topic(IdempotentApplicationRecorder),
        "CREATE_TABLE": "n",  # alembic owns the schema
        "IS_SNAPSHOTTING_ENABLED": "y",
        "POSTGRES_HOST": parts.host,
        "POSTGRES_PORT": str(parts.port),
        "POSTGRES_USER": parts.user,
        "POSTGRES_PASSWORD": parts.password,
        "POSTGRES_DBNAME": parts.dbname,
        "POSTGRES_POOL_SIZE": str(settings.db_pool_size),
        "POSTGRES_MAX_OVERFLOW": str(settings.db_pool_size),
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_PRE_PING": "y",
    }


class UnknownStudentError(LookupError):
    def __init__(self, tenant_id: str, student_id: str) -> None:
        self.tenant_id = tenant_id
        self.student_id = student_id
        super().__init__(f"no events recorded for student {student_id!r} in tenant {tenant_id!r}")


class WriteContentionError(RuntimeError):
    def __init__(self, size: int, attempts: int) -> None:
        super().__init__(f"could not record a batch of {size} events after {attempts} attempts")
