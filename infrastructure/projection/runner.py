"""The projector: follows the event store's notification log into the mastery view.

Two ways through the log, both ending in ``MasteryView.apply``:

* **incremental** (here) — the next batch of notifications after the tracked position;
  students' histories come from a bounded in-process cache (``projections.history_cache``),
  loaded from the event store on a miss;
* **bulk** (``infrastructure.projection.rebuild``) — for a rebuild or a long lag.

The tracked position is written after the batch's documents, and each student's documents carry
the student's own position, so a projector killed at any point and restarted neither loses nor
double-applies an event. Notification ids commit in order (the library's table lock), so reading
by id never skips a late-committing transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Tracking

from domain.mastery.formulas import DEFAULT_FORMULA, Formula
from infrastructure.event_store.application import MasteryApplication
from infrastructure.projection.histories import StoredHistories
from infrastructure.projection.listener import CommitListener, NotifyListener
from infrastructure.projection.rebuild import Rebuilder
from infrastructure.projection.status import ProjectionStatus, projection_status
from infrastructure.runtime import gc_pacing
from infrastructure.runtime.supervision import Supervisor, WorkerHealth, Workers
from infrastructure.settings import Settings
from projections.history_cache import HistoryCache
from projections.mastery_projection import MasteryProjection, StudentHistory
from projections.view import PROJECTION_NAME, MasteryView


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
        listener: Callable[[], CommitListener] | None = None,
        formula: Formula = DEFAULT_FORMULA,
        companions: Callable[[], Sequence[Projector]] | None = None,
    ) -> None:
        self.application = application
        self.view = view
        self.batch_size = batch_size
        self.bulk_threshold = bulk_threshold
        self.formula = formula
        self.projection = MasteryProjection(formula)
        self.histories = StoredHistories(database_url, application.mapper, formula)
        # Other generations' projectors (SPEC §4b), stepped in this one's loop: one process
        # follows every generation, each from its own tracked position.
        self.companions = companions or (lambda: ())
        self._followed: list[Projector] = []  # the companions of the latest step
        self.cache = HistoryCache(cache_size)
        self.rebuilder = Rebuilder(
            application, view, self.histories, chunk=bulk_chunk, workers=workers, settings=settings
        )  # a generation's ``settings`` carry its prefix, for the worker processes' views
        self.health = WorkerHealth("projector", lag_probe=self.lag)
        self.registry = registry  # where ``run`` reports the running projector (readiness)
        # Called before each write; raises if this process may no longer write (active-standby:
        # ``infrastructure.runtime.leadership``).
        self.fence: Callable[[], None] = lambda: None
        channel = application.recorder.events_table_name  # type: ignore[attr-defined]
        self._listener = listener or (lambda: NotifyListener(database_url, channel))

    # --- following the log -------------------------------------------------------------------

    def position(self) -> int:
        return self.view.max_tracking_id(PROJECTION_NAME) or 0

    def catch_up(self, on_progress: Callable[[int], None] = lambda _: None) -> int:
        """Project everything recorded so far; returns the position reached."""
        position, head = self.position(), self.application.head()
        if head - position > self.bulk_threshold:
            self.fence()
            self.rebuilder.bulk(self.histories.touched(position, head), head, on_progress)
            self.fence()
            self.view.insert_tracking(Tracking(PROJECTION_NAME, head))
            self._forget()
        while self.process_next_batch():
            on_progress(self.position())
        return self.position()

    def process_next_batch(self) -> int:
        """Project the next batch of notifications; returns how many there were."""
        position = self.position()
        if not self.cache.continues_from(position):
            self._forget()  # someone else moved the position (a rebuild): re-read histories
        notifications = self.application.recorder.select_notifications(
            start=position, limit=self.batch_size, inclusive_of_start=False
        )
        if not notifications:
            return 0
        decode = self.histories.decode
        events = [(n.id, e) for n in notifications if (e := decode(n)) is not None]
        histories = self._histories_for({e.originator_id for _, e in events}, notifications[0].id)
        events = _with_history(events, histories)
        updates = self.projection.process(histories, events)
        self.fence()
        self.view.apply(updates, Tracking(PROJECTION_NAME, notifications[-1].id))
        self.cache.remember(histories, notifications[-1].id)
        return len(notifications)

    def run(self, stop: threading.Event, idle_wait: float = 0.5) -> None:
        """Project until ``stop`` is set: catch up, then wake on each commit (LISTEN/NOTIFY).

        Supervised (``infrastructure.runtime.supervision``): a failure anywhere, Redis or
        PostgreSQL down included, drops the in-process state and starts over from the tracked
        position after a backoff. The garbage collector is paced while it runs
        (``gc_pacing.Paced``): its automatic full collections over the history cache were the
        largest part of the lag.
        """
        if self.registry is not None:
            self.registry.add(self.health)
        with gc_pacing.Paced() as paced:
            Supervisor(self.health, recover=self._distrust).run(
                lambda: self._follow(stop, idle_wait, paced.tick), stop
            )

    def _follow(self, stop: threading.Event, idle_wait: float, tick: Callable[[], None]) -> None:
        self.catch_up(lambda _: self.health.progressed(batch=True))
        for companion in self._companions():
            companion.catch_up(lambda _: self.health.progressed(batch=True))
        with self._listener() as listener:
            while not stop.is_set():
                if self.process_next_batch() + self._step_companions():
                    self.health.progressed(batch=True, position=self.cache.continues)
                else:
                    self.health.progressed(position=self.cache.continues, lag=0)
                    listener.wait(idle_wait)
                tick()

    def _step_companions(self) -> int:
        """One batch of each other generation's; how many notifications they took."""
        return sum(companion.process_next_batch() for companion in self._companions())

    def _companions(self) -> Sequence[Projector]:
        self._followed = list(self.companions())
        return self._followed

    def _distrust(self) -> None:
        """After a failure: no history cache, this one's or a companion's, is trusted."""
        self.cache.distrust()
        for companion in self._followed:
            companion.cache.distrust()

    def lag(self) -> int:
        """Notifications recorded but not yet projected."""
        return max(0, self.application.head() - self.position())

    # --- rebuilding and status ----------------------------------------------------------------

    def rebuild(
        self,
        *,
        tenant_id: str | None = None,
        student_id: str | None = None,
        on_progress: Callable[[int, int], None] = lambda done, total: None,
    ) -> int:
        """Drop and rebuild read models from the event store (``Rebuilder.rebuild``)."""
        self._forget()
        return self.rebuilder.rebuild(
            tenant_id=tenant_id, student_id=student_id, on_progress=on_progress
        )

    def status(self) -> ProjectionStatus:
        return projection_status(self.application, self.position(), self.histories.decode)

    # --- histories ----------------------------------------------------------------------------

    def _histories_for(self, originators: set[UUID], first: int) -> dict[UUID, StudentHistory]:
        histories = self.cache.cached(originators)
        missing = [o for o in originators if o not in histories]
        if missing:
            histories.update(self.histories.load(missing, first - 1))
        return histories

    def _forget(self) -> None:
        self.cache.forget(self.position())

    def close(self) -> None:
        self.histories.close()


def _with_history(
    events: list[tuple[int, Any]], histories: dict[UUID, StudentHistory]
) -> list[tuple[int, Any]]:
    """The events that can be projected: their student's history was read, or starts here.

    A student erased after the batch was decoded has no readable history (their key is gone):
    the rest of their batch is passed over like the rest of their events."""
    started = {e.originator_id for _, e in events if isinstance(e, Aggregate.Created)}
    return [(p, e) for p, e in events if e.originator_id in histories or e.originator_id in started]
