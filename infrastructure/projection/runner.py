"""The projector: follows the event store's notification log into the mastery view.

Two ways through the log, both ending in ``MasteryView.apply``:

* **incremental** — the next batch of notifications after the tracked position; students'
  histories come from a bounded in-process cache, loaded from the event store on a miss;
* **bulk** — for a rebuild or a long lag: every student touched in a range is loaded whole from
  the event store, grouped by student, and computed once (not once per batch).

The tracked position is written after the batch's documents, and each student's documents carry
the student's own position, so a projector killed at any point and restarted neither loses nor
double-applies an event. Notification ids commit in order (the library's table lock), so reading
by id never skips a late-committing transaction.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ALL_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent, Tracking

from domain.errors import StudentErasedError
from domain.student_mastery import student_aggregate_id
from infrastructure.event_store.application import MasteryApplication
from infrastructure.runtime import gc_pacing as collector
from infrastructure.runtime.supervision import Supervisor, WorkerHealth, Workers
from infrastructure.settings import Settings
from projections.mastery_projection import (
    MasteryProjection,
    StudentHistory,
    histories_from,
    student_update,
)
from projections.view import PROJECTION_NAME, MasteryView, StudentKey

log = logging.getLogger(__name__)

SELECT_STUDENT_EVENTS = (
    "SELECT originator_id, originator_version, topic, state, notification_id "
    "FROM mastery_events WHERE originator_id = ANY(%s) AND notification_id <= %s "
    "ORDER BY originator_id, originator_version"
)
SELECT_TOUCHED = (
    "SELECT DISTINCT originator_id FROM mastery_events "
    "WHERE notification_id > %s AND notification_id <= %s"
)
SELECT_TENANT_STUDENTS = "SELECT DISTINCT originator_id FROM mastery_event_ids WHERE tenant_id = %s"


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    head: int
    position: int
    lag_events: int
    lag_seconds: float


class Projector:
    def __init__(
        self,
        application: MasteryApplication,
        view: MasteryView,
        database_url: str,
        *,
        batch_size: int = 2000,
        bulk_threshold: int = 20_000,
        bulk_chunk: int = 500,
        cache_size: int = 50_000,
        settings: Settings | None = None,
        workers: int = 1,
        registry: Workers | None = None,
    ) -> None:
        self.application = application
        self.view = view
        self.database_url = database_url
        self.batch_size = batch_size
        self.bulk_threshold = bulk_threshold
        self.bulk_chunk = bulk_chunk
        self.projection = MasteryProjection()
        self._histories: OrderedDict[UUID, StudentHistory] = OrderedDict()
        self._cache_size = cache_size
        self._cached_up_to: int | None = None  # the position the cached histories continue
        self.settings = settings  # lets a bulk pass spread over worker processes
        self.workers = workers
        self._conn: psycopg.Connection[Any] | None = None  # for history reads; see _rows
        self.health = WorkerHealth("projector", lag_probe=self.lag)
        self.registry = registry  # where ``run`` reports the running projector (readiness)

    # --- following the log -------------------------------------------------------------------

    def position(self) -> int:
        return self.view.max_tracking_id(PROJECTION_NAME) or 0

    def catch_up(self, on_progress: Callable[[int], None] = lambda _: None) -> int:
        """Project everything recorded so far; returns the position reached."""
        position, head = self.position(), self.application.head()
        if head - position > self.bulk_threshold:
            self._bulk(self._touched(position, head), head, on_progress)
            self.view.insert_tracking(Tracking(PROJECTION_NAME, head))
            self._forget()
        while self.process_next_batch():
            on_progress(self.position())
        return self.position()

    def process_next_batch(self) -> int:
        """Project the next batch of notifications; returns how many there were."""
        position = self.position()
        if position != self._cached_up_to:
            self._forget()  # someone else moved the position (a rebuild): re-read histories
        notifications = self.application.recorder.select_notifications(
            start=position, limit=self.batch_size, inclusive_of_start=False
        )
        if not notifications:
            return 0
        events = [(n.id, e) for n in notifications if (e := self._decode(n)) is not None]
        histories = self._histories_for({e.originator_id for _, e in events}, notifications[0].id)
        events = _with_history(events, histories)
        updates = self.projection.process(histories, events)
        self.view.apply(updates, Tracking(PROJECTION_NAME, notifications[-1].id))
        self._remember(histories)
        self._cached_up_to = notifications[-1].id
        return len(notifications)

    def run(self, stop: threading.Event, idle_wait: float = 0.5) -> None:
        """Project until ``stop`` is set: catch up, then wake on each commit (LISTEN/NOTIFY).

        Supervised (``infrastructure.runtime.supervision``): a failure anywhere, Redis or PostgreSQL
        down included, drops the in-process state and starts over from the tracked position
        after a backoff. The garbage collector is paced while it runs (``collector.Paced``):
        its automatic full collections over the history cache were the largest part of the lag.
        """
        if self.registry is not None:
            self.registry.add(self.health)
        with collector.Paced() as paced:
            Supervisor(self.health, recover=self._reset).run(
                lambda: self._follow(stop, idle_wait, paced.tick), stop
            )

    def _follow(self, stop: threading.Event, idle_wait: float, tick: Callable[[], None]) -> None:
        self.catch_up(lambda _: self.health.progressed(batch=True))
        with self._listener() as wait_for_commit:
            while not stop.is_set():
                if self.process_next_batch():
                    self.health.progressed(batch=True, position=self._cached_up_to)
                else:
                    self.health.progressed(position=self._cached_up_to, lag=0)
                    wait_for_commit(idle_wait)
                tick()

    def lag(self) -> int:
        """Notifications recorded but not yet projected."""
        return max(0, self.application.head() - self.position())

    def _listener(self) -> Any:
        return _Listener(self.database_url, self.application.recorder.events_table_name)  # type: ignore[attr-defined]

    # --- rebuilding ---------------------------------------------------------------------------

    def rebuild(
        self,
        *,
        tenant_id: str | None = None,
        student_id: str | None = None,
        on_progress: Callable[[int, int], None] = lambda done, total: None,
    ) -> int:
        """Drop and rebuild read models from the event store: all, one tenant's or one
        student's. Returns the number of students rebuilt. Other students are not touched."""
        head = self.application.head()
        self._forget()
        if student_id is not None:
            tenant = tenant_id or "default"
            originators = [student_aggregate_id(tenant, student_id)]
            previous = self._load(originators, head).get(originators[0])
            classes = previous.classes if previous else []
            self.view.drop_student(StudentKey(tenant, student_id), classes)
        elif tenant_id is not None:
            originators = self._tenant_students(tenant_id)
            self.view.drop_all(tenant_id)
        else:
            originators = self._touched(0, head)
            self.view.drop_all()
        self._bulk(originators, head, lambda done: on_progress(done, len(originators)))
        if tenant_id is None and student_id is None:
            self.view.insert_tracking(Tracking(PROJECTION_NAME, head))
        return len(originators)

    def _bulk(
        self, originators: Sequence[UUID], head: int, on_progress: Callable[[int], None]
    ) -> None:
        """Rebuild these students' documents from their histories up to ``head``; with
        several workers, students are dealt out to processes (they never share a student)."""
        if self.workers > 1 and self.settings is not None and len(originators) > self.bulk_chunk:
            _parallel_bulk(self.settings, originators, head, self.workers, on_progress)
            return
        done = 0
        for start in range(0, len(originators), self.bulk_chunk):
            chunk = originators[start : start + self.bulk_chunk]
            with collector.paused():
                histories = self._load(chunk, head)
                self.view.apply([student_update(h) for h in histories.values() if h.facts], None)
            done += len(chunk)
            on_progress(done)

    # --- status -------------------------------------------------------------------------------

    def status(self) -> ProjectionStatus:
        head, position = self.application.head(), self.position()
        lag_seconds = 0.0
        if head > position:
            oldest = self.application.recorder.select_notifications(
                start=position, limit=1, inclusive_of_start=False
            )
            recorded = self._decode(oldest[0]) if oldest else None
            if isinstance(recorded, Aggregate.Event):
                lag_seconds = max(0.0, (datetime.now(UTC) - recorded.timestamp).total_seconds())
        return ProjectionStatus(head, position, head - position, lag_seconds)

    # --- histories ----------------------------------------------------------------------------

    def _histories_for(self, originators: set[UUID], first: int) -> dict[UUID, StudentHistory]:
        histories = {o: self._histories[o] for o in originators if o in self._histories}
        missing = [o for o in originators if o not in histories]
        if missing:
            histories.update(self._load(missing, first - 1))
        return histories

    def _forget(self) -> None:
        self._histories.clear()
        self._cached_up_to = self.position()

    def _reset(self) -> None:
        """After a failure: nothing cached is trusted, and nothing here calls a server (the
        next batch reads the tracked position again, once the servers answer)."""
        self._histories.clear()
        self._cached_up_to = None

    def _remember(self, histories: dict[UUID, StudentHistory]) -> None:
        for originator, history in histories.items():
            self._histories[originator] = history
            self._histories.move_to_end(originator)
        while len(self._histories) > self._cache_size:
            self._histories.popitem(last=False)

    def _load(self, originators: Sequence[UUID], up_to: int) -> dict[UUID, StudentHistory]:
        """Whole histories of the given students, up to a notification id, from the store."""
        return histories_from(list(self._stored_events(originators, up_to)))

    def _stored_events(self, originators: Sequence[UUID], up_to: int) -> Iterator[tuple[int, Any]]:
        rows = self._rows(SELECT_STUDENT_EVENTS, (list(originators), up_to))
        for originator_id, version, topic, state, notification_id in rows:
            domain_event = self._decode(StoredEvent(originator_id, version, topic, bytes(state)))
            if domain_event is not None:
                yield notification_id, domain_event

    def _decode(self, stored: StoredEvent) -> Any | None:
        """The domain event, or None for an erased student's (unreadable by design)."""
        try:
            return self.application.mapper.to_domain_event(stored)
        except StudentErasedError:
            return None

    def _touched(self, after: int, up_to: int) -> list[UUID]:
        rows = self._rows(SELECT_TOUCHED, (after, up_to))
        return sorted(row[0] for row in rows)

    def _tenant_students(self, tenant_id: str) -> list[UUID]:
        rows = self._rows(SELECT_TENANT_STUDENTS, (tenant_id,))
        return sorted(row[0] for row in rows)

    def _rows(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Rows of a read query on the projector's own connection: opened on first use and
        again after it broke, rather than once per cache miss."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.database_url, autocommit=True)
        return self._conn.execute(query, params).fetchall()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_progress: Any = None  # per worker process: slots of students done, one per worker


def _parallel_bulk(
    settings: Settings,
    originators: Sequence[UUID],
    head: int,
    workers: int,
    on_progress: Callable[[int], None],
) -> None:
    context = multiprocessing.get_context("spawn")
    progress = context.Array("q", workers)
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(progress,)
    ) as pool:
        futures = [
            pool.submit(_bulk_part, settings, list(originators[index::workers]), head, index)
            for index in range(workers)
        ]
        while not all(future.done() for future in futures):
            on_progress(sum(int(done) for done in progress[:]))
            wait(futures, timeout=0.2, return_when=ALL_COMPLETED)
        for future in futures:
            future.result()
    on_progress(len(originators))


def _init_worker(progress: Any) -> None:
    global _progress  # noqa: PLW0603 - per-process worker state
    _progress = progress


def _bulk_part(settings: Settings, originators: list[UUID], head: int, index: int) -> None:
    from infrastructure.bootstrap import build  # noqa: PLC0415 - imported in the worker

    def report(done: int) -> None:
        if _progress is not None:
            _progress[index] = done

    with build(settings) as built:
        built.projector.workers = 1
        built.projector._bulk(originators, head, report)


class _Listener:
    """Waits for the event store's NOTIFY on commit (with a timeout as a safety net)."""

    def __init__(self, database_url: str, channel: str) -> None:
        self.conn = psycopg.connect(database_url, autocommit=True)
        self.conn.execute(f'LISTEN "{channel.replace(chr(34), "")}"')

    def __enter__(self) -> Callable[[float], None]:
        return self.wait

    def __exit__(self, *exc: object) -> None:
        self.conn.close()

    def wait(self, timeout: float) -> None:
        started = time.monotonic()
        for _ in self.conn.notifies(timeout=timeout, stop_after=1):
            break
        if time.monotonic() - started < 0.001:
            time.sleep(0.001)


def _with_history(
    events: list[tuple[int, Any]], histories: dict[UUID, StudentHistory]
) -> list[tuple[int, Any]]:
    """The events that can be projected: their student's history was read, or starts here.

    A student erased after the batch was decoded has no readable history (their key is gone):
    the rest of their batch is passed over like the rest of their events."""
    started = {e.originator_id for _, e in events if isinstance(e, Aggregate.Created)}
    return [(p, e) for p, e in events if e.originator_id in histories or e.originator_id in started]
