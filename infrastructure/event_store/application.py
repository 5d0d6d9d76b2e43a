"""The event-sourced application: StudentMastery aggregates in PostgreSQL.

This module wires the library (transcoder, per-student encryption, snapshot store, the
PostgreSQL environment) and answers the reads; the batch write path it inherits lives in
``batch_writer.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import (
    EventStore,
    JSONTranscoder,
    Mapper,
    Transcoder,
    Transcoding,
)
from eventsourcing.utils import get_topic

from domain.errors import UnknownStudentError
from domain.mastery import MasteryLedger
from domain.student_mastery import StudentMastery, student_aggregate_id
from infrastructure.event_store.batch_writer import BatchWritingApplication
from infrastructure.event_store.cipher_mapper import StudentCipherMapper
from infrastructure.event_store.keys import KeyRing, MasterKey
from infrastructure.event_store.recorder import IdempotentApplicationRecorder
from infrastructure.event_store.replay_cache import ReplayCache
from infrastructure.event_store.transcoder import EventJSONTranscoder
from infrastructure.settings import Settings, database_parts
from projections.replay import Replay

REPLAY_CACHE_EVENTS = 20_000
"""Events of the replays kept between requests, all students together (a few KiB each)."""


class MastersLedgerAsState(Transcoding):
    type = MasteryLedger
    name = "mastery_ledger"

    def encode(self, obj: Any) -> Any:
        assert isinstance(obj, MasteryLedger)
        return obj.to_state()

    def decode(self, data: Any) -> MasteryLedger:
        return MasteryLedger.from_state(data)


class MasteryApplication(BatchWritingApplication):
    name = "Mastery"

    def __init__(self, settings: Settings) -> None:
        self._replays = ReplayCache(REPLAY_CACHE_EVENTS)
        super().__init__(
            keyring=keyring_for(settings),
            snapshot_interval=settings.snapshot_interval,
            cache_size=settings.aggregate_cache_size,
            env=persistence_env(settings),
        )

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
        """The student's history rebuilt from the event store, up to ``as_of``: its events in
        learning-time order, their steps computed as the caller reads them.

        Kept between calls (``ReplayCache``): answered again while the student's latest
        version is unchanged, else brought up to date with the events recorded since (read
        alone). Reading the latest version decrypts that event, so an erased student fails
        here as on a first read."""
        aggregate_id = student_aggregate_id(tenant_id, student_id)
        latest = list(self.events.get(aggregate_id, desc=True, limit=1))
        if not latest:
            raise UnknownStudentError(tenant_id, student_id)
        version = latest[0].originator_version
        kept = self._replays.get((aggregate_id, as_of))
        replay = None if kept is None else self._brought_up_to_date(aggregate_id, *kept, version)
        if replay is None:
            recorded = self.learning_events(tenant_id, student_id)
            replay = Replay.of(tenant_id, student_id, as_of, recorded)
        self._replays.put((aggregate_id, as_of), version, replay)
        return replay

    def _brought_up_to_date(
        self, aggregate_id: UUID, kept_version: int, kept: Replay, version: int
    ) -> Replay | None:
        """``kept`` with the events recorded after ``kept_version`` up to ``version``; None if
        the store went back (a repair renumbered versions): replayed again then."""
        if kept_version == version:
            return kept
        if kept_version > version:
            return None
        recorded = self.events.get(aggregate_id, gt=kept_version, lte=version)
        return kept.extended(
            e for e in recorded if isinstance(e, StudentMastery.LearningEventRecorded)
        )


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
