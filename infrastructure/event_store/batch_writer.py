"""The batch write path: many students' learning events recorded in one transaction.

Writes are batched: many students' events go into one transaction together with their
idempotency entries. Aggregates are kept in an in-process LRU cache and trusted optimistically;
a stale one (another process wrote to the same student) makes the insert fail on the
(originator_id, originator_version) key, and the batch is re-read and retried.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, Recording

from domain.commands import ValidatedEvent
from domain.errors import StudentErasedError
from domain.student_mastery import StudentMastery, student_aggregate_id
from infrastructure.event_store.aggregate_cache import LendingCache, StudentLocks
from infrastructure.event_store.keys import KeyRing
from infrastructure.event_store.recorder import (
    EVENT_IDS_KWARG,
    EventIdRow,
    IdempotentApplicationRecorder,
    RecordedEntry,
)
from infrastructure.event_store.write_results import Status, WriteContentionError, WriteResult

log = logging.getLogger(__name__)

MAX_WRITE_ATTEMPTS = 30


@dataclass(slots=True)
class _Attempt:
    """What one ``record_events`` call has tried so far."""

    # Where each event was put by this writer, and the stored event's own creation time,
    # which tells this writer's copy from an identical one written concurrently elsewhere.
    placed: dict[tuple[str, str], tuple[UUID, int, datetime]] = field(default_factory=dict)
    refused: set[tuple[str, str]] = field(default_factory=set)  # the aggregate raised on these
    erased: set[UUID] = field(default_factory=set)  # found erased while writing
    position: int | None = None
    uncertain: Exception | None = None  # the last write failed in a way that may have committed


class BatchWritingApplication(Application[UUID]):
    """The library's application with the product's write path: ``record_events``, and the
    two save hooks it relies on (id rows written with their events, snapshots in one insert).

    A base class rather than a collaborator because the write path overrides the library's
    own hooks (``_record``, ``_take_snapshots``); ``MasteryApplication`` adds the wiring and
    the reads.
    """

    def __init__(
        self,
        *,
        keyring: KeyRing | None,
        snapshot_interval: int,
        cache_size: int,
        env: Mapping[str, str],
    ) -> None:
        self.keyring = keyring
        self.snapshot_interval = snapshot_interval
        self._aggregates: LendingCache[StudentMastery] = LendingCache(cache_size)
        self._student_locks = StudentLocks()
        super().__init__(env=env)

    @property
    def idempotent_recorder(self) -> IdempotentApplicationRecorder:
        assert isinstance(self.recorder, IdempotentApplicationRecorder)
        return self.recorder

    def head(self) -> int:
        """The event store's highest notification id (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    def record_events(self, events: Sequence[ValidatedEvent]) -> WriteResult:
        """Record a batch: each event is recorded, a duplicate, a conflict, or refused.

        All or nothing per event, under any exception and any concurrency: the threads of this
        process take turns per student, writers in other processes are detected by the store's
        keys and retried, an aggregate is only ever changed on a private copy that is dropped
        if anything fails, and a learning event is stored only together with its idempotency
        row (``_record``). An event the aggregate refuses is reported ``FAILED`` and the rest
        of the batch is recorded without it.
        """
        with self._student_locks.holding({_student_of(e) for e in events}):
            return self._record_in_turn(events)

    def _record_in_turn(self, events: Sequence[ValidatedEvent]) -> WriteResult:
        attempt = _Attempt()
        for number in range(1, MAX_WRITE_ATTEMPTS + 1):
            statuses, fresh, ours = self._classify(events, attempt)
            if attempt.uncertain is not None and not ours:
                raise attempt.uncertain  # the write did not commit: the caller retries later
            if ours and attempt.position is None:
                attempt.position = self.head()  # committed, but the answer was lost
            attempt.uncertain = None
            fresh = self._without_erased(events, statuses, fresh, attempt.erased)
            if not fresh:
                return WriteResult(statuses, attempt.position)
            refused = len(attempt.refused)
            try:
                attempt.position = self._write(fresh, attempt)
            except IntegrityError:
                # A concurrent writer took a version or an event_id first: re-read, retry.
                time.sleep(random.uniform(0, 0.005 * number))
                continue
            except (OperationalError, InterfaceError) as error:
                attempt.uncertain = error  # it may or may not have committed: look again
                continue
            except StudentErasedError as error:
                # Erased after the check above (the key was destroyed meanwhile): only that
                # student's events are refused; the rest are written again without them.
                attempt.erased.add(error.originator_id)
                continue
            if len(attempt.refused) == refused:
                return WriteResult(statuses, attempt.position)
            # The aggregate refused an event: the rest was written; look again for each outcome.
        raise WriteContentionError(len(events), MAX_WRITE_ATTEMPTS)

    def _classify(
        self, events: Sequence[ValidatedEvent], attempt: _Attempt
    ) -> tuple[list[Status], list[ValidatedEvent], bool]:
        """Each event's status, the events still to write, and whether any event was found
        stored exactly where this writer's earlier attempt put it (that attempt committed)."""
        recorded = self.idempotent_recorder.recorded_entries(e.key for e in events)
        statuses: list[Status] = []
        fresh: list[ValidatedEvent] = []
        seen: dict[tuple[str, str], str] = {}
        ours = False
        for event in events:
            key = event.key
            known = recorded.get(key)
            earlier = seen.get(key)
            if key in attempt.refused:
                statuses.append(Status.FAILED)
            elif known is not None and known.content_hash.hex() != event.content_hash:
                statuses.append(Status.CONFLICT)
            elif known is not None and earlier is None and self._placed_here(key, known, attempt):
                seen[key] = event.content_hash
                ours = True
                statuses.append(Status.RECORDED)
            elif known is not None:
                statuses.append(Status.DUPLICATE)
            elif earlier is not None:
                same = earlier == event.content_hash
                statuses.append(Status.DUPLICATE if same else Status.CONFLICT)
            else:
                seen[key] = event.content_hash
                fresh.append(event)
                statuses.append(Status.RECORDED)
        return statuses, fresh, ours

    def _placed_here(self, key: tuple[str, str], known: RecordedEntry, attempt: _Attempt) -> bool:
        """Whether the stored event is the very one this writer tried to store (its write
        committed although the writer saw an error), not an equal one from another writer."""
        placed = attempt.placed.get(key)
        if placed is None or placed[:2] != known.place:
            return False
        originator_id, version, created = placed
        stored = list(self.events.get(originator_id, gt=version - 1, lte=version))
        return len(stored) == 1 and getattr(stored[0], "timestamp", None) == created

    def _without_erased(
        self,
        events: Sequence[ValidatedEvent],
        statuses: list[Status],
        fresh: list[ValidatedEvent],
        known: set[UUID],
    ) -> list[ValidatedEvent]:
        """Asked of the database every batch (even without a master key configured), so an
        erased student never gets new events, whatever this process has cached; ``known``
        are students this writer already found erased."""
        if not fresh:
            return fresh
        students = {_student_of(e) for e in fresh}
        erased = (known & students) | self.idempotent_recorder.erased_among(students - known)
        if not erased:
            return fresh
        pending = {e.key for e in fresh}
        for index, event in enumerate(events):
            if event.key in pending and _student_of(event) in erased:
                statuses[index] = Status.ERASED
        return [e for e in fresh if _student_of(e) not in erased]

    def _write(self, events: Sequence[ValidatedEvent], attempt: _Attempt) -> int | None:
        """Apply ``events`` to borrowed aggregates and save them in one transaction."""
        if self.keyring is not None:
            self.keyring.ensure({_student_of(e): e.tenant_id for e in events})
        by_student: dict[UUID, list[ValidatedEvent]] = {}
        for event in events:
            by_student.setdefault(_student_of(event), []).append(event)
        borrowed = self._borrow({student: batch[0] for student, batch in by_student.items()})
        aggregates = {
            aggregate_id: self._apply(borrowed[aggregate_id], student_events, attempt)
            for aggregate_id, student_events in by_student.items()
        }
        # A new student whose every event was refused has only its enrolment pending: it is
        # not saved (no student without learning events) and not cached.
        changed = [a for a in aggregates.values() if _learning_events_pending(a)]
        for aggregate in changed:
            for pending in aggregate.pending_events:
                if isinstance(pending, StudentMastery.LearningEventRecorded):
                    place = (aggregate.id, pending.originator_version, pending.timestamp)
                    attempt.placed[(aggregate.tenant_id, pending.event_id)] = place
        position = None
        if changed:
            recordings = self.save(*changed)
            position = max(r.notification.id for r in recordings)
        self._aggregates.give_back((i, a) for i, a in aggregates.items() if not a.pending_events)
        return position

    def _apply(
        self, aggregate: StudentMastery, events: Sequence[ValidatedEvent], attempt: _Attempt
    ) -> StudentMastery:
        """Record ``events`` on ``aggregate``; an event it refuses is left out, and the
        aggregate (which the refusal may have half-changed) is loaded again without it."""
        while True:
            for event in events:
                if event.key in attempt.refused:
                    continue
                try:
                    aggregate.record(event)
                except Exception:
                    log.exception(
                        "learning event %r of tenant %r could not be applied; left out",
                        event.event_id,
                        event.tenant_id,
                    )
                    attempt.refused.add(event.key)
                    break
            else:
                return aggregate
            aggregate = self._load(events[0])

    def _borrow(self, firsts: dict[UUID, ValidatedEvent]) -> dict[UUID, StudentMastery]:
        """Each student's aggregate: taken out of the cache, else loaded, else new."""
        borrowed: dict[UUID, StudentMastery] = {}
        missing: dict[UUID, ValidatedEvent] = {}
        for aggregate_id, event in firsts.items():
            cached = self._aggregates.lend(aggregate_id)
            if cached is not None:
                borrowed[aggregate_id] = cached
            else:
                missing[aggregate_id] = event
        existing = self.idempotent_recorder.existing_originators(missing)
        for aggregate_id, event in missing.items():
            borrowed[aggregate_id] = (
                self.repository.get(aggregate_id)
                if aggregate_id in existing
                else StudentMastery(event.tenant_id, event.student_id)
            )
        return borrowed

    def _load(self, event: ValidatedEvent) -> StudentMastery:
        """The student's aggregate as stored, or a new one if nothing is stored yet."""
        try:
            aggregate: StudentMastery = self.repository.get(_student_of(event))
        except AggregateNotFoundError:
            return StudentMastery(event.tenant_id, event.student_id)
        return aggregate

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Every save writes one idempotency row per learning event it stores, in the same
        statement: no path can store a learning event without its row, or a row without it."""
        rows = []
        for domain_event in processing_event.events:
            if isinstance(domain_event, StudentMastery.LearningEventRecorded):
                aggregate = processing_event.aggregates[domain_event.originator_id]
                assert isinstance(aggregate, StudentMastery)
                rows.append(
                    EventIdRow(
                        aggregate.tenant_id,
                        domain_event.event_id,
                        bytes.fromhex(domain_event.content_hash),
                        domain_event.originator_id,
                        domain_event.originator_version,
                    )
                )
        processing_event.saved_kwargs[EVENT_IDS_KWARG] = rows
        return super()._record(processing_event)

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
        if not snapshots:
            return
        try:
            self.snapshots.put(snapshots)
        except Exception:
            # The events are committed; a snapshot is only a shortcut for loading them, and
            # one that failed (a concurrent writer took it, a dropped connection) is skipped.
            log.warning("snapshots not saved; aggregates load from their events", exc_info=True)


def _learning_events_pending(aggregate: StudentMastery) -> bool:
    return any(
        isinstance(pending, StudentMastery.LearningEventRecorded)
        for pending in aggregate.pending_events
    )


def _student_of(event: ValidatedEvent) -> UUID:
    return student_aggregate_id(event.tenant_id, event.student_id)
