"""``generations evaluate`` over the event store: every student's history, one at a time, fed
to a ``Scoreboard`` (``domain.mastery.predictive_validity``).

Memory stays bounded by the largest student's history plus the scoreboard (bounded per
formula and topic), never the store: students are listed (ids only), then each one's events
are read, decoded, scored and dropped. Every student is read up to the notification id the
store had when the evaluation began, so events recorded meanwhile do not mix in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from domain.mastery.formulas import Formula
from domain.mastery.predictive_validity import Scoreboard
from infrastructure.event_store.application import MasteryApplication
from infrastructure.projection.histories import StoredHistories

Progress = Callable[[int, int], None]
"""Called with (students done, students in all) after each student."""


def evaluate_formulas(
    application: MasteryApplication,
    database_url: str,
    formulas: Sequence[Formula],
    *,
    tenant_id: str | None = None,
    progress: Progress | None = None,
) -> Scoreboard:
    """How well each formula predicts the store's own quiz answers (all tenants, or one).

    The hook for ``generations evaluate NAME...``: it takes formula objects, so the command
    resolves generation names to their formulas and calls this.
    """
    if not formulas:
        raise ValueError("evaluate needs at least one formula")
    board = Scoreboard(formulas)
    histories = StoredHistories(database_url, application.mapper)
    try:
        head = _head(application)
        students = (
            histories.of_tenant(tenant_id) if tenant_id is not None else histories.touched(0, head)
        )
        for done, originator in enumerate(students, start=1):
            for history in histories.load([originator], head).values():
                board.add_history(fact for fact, _ in history.facts.values())
            if progress is not None:
                progress(done, len(students))
    finally:
        histories.close()
    return board


def _head(application: MasteryApplication) -> int:
    return application.recorder.max_notification_id() or 0
