"""The bulk path of the projector: read models rebuilt from whole student histories.

For a rebuild or a long lag, every student touched in a range is loaded whole from the event
store, grouped by student, and computed once (not once per batch). With several workers the
students are dealt out to processes, which never share a student.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from uuid import UUID

from eventsourcing.persistence import Tracking

from domain.mastery.formulas import DEFAULT_FORMULA, Formula
from domain.student_mastery import student_aggregate_id
from infrastructure.event_store.application import MasteryApplication
from infrastructure.event_store.lifecycle import opened_application
from infrastructure.projection.histories import StoredHistories
from infrastructure.redis_views.connect import close_redis, mastery_view, redis_client
from infrastructure.runtime import gc_pacing
from infrastructure.runtime.process_pool import report_progress, run_parts
from infrastructure.settings import Settings
from projections.mastery_projection import student_update
from projections.view import PROJECTION_NAME, MasteryView, StudentKey

Progress = Callable[[int], None]


class Rebuilder:
    def __init__(
        self,
        application: MasteryApplication,
        view: MasteryView,
        histories: StoredHistories,
        *,
        chunk: int = 500,
        workers: int = 1,
        settings: Settings | None = None,
    ) -> None:
        self.application = application
        self.view = view
        self.histories = histories
        self.chunk = chunk
        self.workers = workers
        self.settings = settings  # lets a bulk pass spread over worker processes

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
        if student_id is not None:
            tenant = tenant_id or "default"
            originators = [student_aggregate_id(tenant, student_id)]
            previous = self.histories.load(originators, head).get(originators[0])
            classes = previous.classes if previous else []
            self.view.drop_student(StudentKey(tenant, student_id), classes)
        elif tenant_id is not None:
            originators = self.histories.of_tenant(tenant_id)
            self.view.drop_all(tenant_id)
        else:
            originators = self.histories.touched(0, head)
            self.view.drop_all()
        self.bulk(originators, head, lambda done: on_progress(done, len(originators)))
        if tenant_id is None and student_id is None:
            self.view.insert_tracking(Tracking(PROJECTION_NAME, head))
        return len(originators)

    def bulk(self, originators: Sequence[UUID], head: int, on_progress: Progress) -> None:
        """Rebuild these students' documents from their histories up to ``head``."""
        if self.workers > 1 and self.settings is not None and len(originators) > self.chunk:
            _parallel_bulk(
                self.settings, originators, head, self.workers, on_progress, self.histories.formula
            )
            return
        done = 0
        for start in range(0, len(originators), self.chunk):
            chunk = originators[start : start + self.chunk]
            with gc_pacing.paused():
                histories = self.histories.load(chunk, head)
                self.view.apply([student_update(h) for h in histories.values() if h.facts], None)
            done += len(chunk)
            on_progress(done)


def _parallel_bulk(
    settings: Settings,
    originators: Sequence[UUID],
    head: int,
    workers: int,
    on_progress: Progress,
    formula: Formula,
) -> None:
    parts = [
        partial(_bulk_part, settings, list(originators[index::workers]), head, formula)
        for index in range(workers)
    ]
    run_parts(parts, on_progress=lambda done: on_progress(sum(done)))
    on_progress(len(originators))


def _bulk_part(
    settings: Settings, originators: list[UUID], head: int, formula: Formula = DEFAULT_FORMULA
) -> None:
    """One worker process's share: it opens its own event store, Redis and connection; its
    view is ``settings.redis_prefix``'s (a generation's settings carry its prefix)."""
    client = redis_client(settings)
    with opened_application(settings) as application:
        histories = StoredHistories(settings.require_database_url(), application.mapper, formula)
        try:
            rebuilder = Rebuilder(application, mastery_view(client, settings), histories)
            rebuilder.bulk(originators, head, report_progress)
        finally:
            histories.close()
            close_redis(client)
