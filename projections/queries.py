"""What the query API reads (SPEC §7): mastery from the read models (a ``MasteryView``, Redis in
production), falling back to the event store (``StudentEvents``) where they cannot answer.

The read models answer for any date from the student's first snapshot on: the current-mastery
document for dates on or after the last activity date, otherwise the latest snapshot on or
before the date, carried forward (SPEC §5). A date whose snapshot has expired
(``MASTERY_SNAPSHOT_TTL_DAYS``), is missing, or a student the projector has not reached yet is
answered by replaying the student's events from the event store, and so is a document written
by an older version of the formula's output (``OutdatedDocumentError``) until the read models
are rebuilt: it would be silently wrong.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from domain.errors import StudentErasedError
from domain.facts import LearningFact
from domain.mastery import (
    PREDICTION_WINDOW,
    Mastery,
    OutdatedDocumentError,
    Prediction,
    carried_forward,
    daily_masteries,
    mastery_as_of,
    mastery_from_document,
    predict,
)
from domain.mastery.formulas import DEFAULT_FORMULA, Formula
from domain.student_mastery import fact_of, student_aggregate_id
from projections.student_events import Replay, StudentEvents
from projections.view import PROJECTION_NAME, MasteryView, StudentKey

READ_MODEL = "read_model"
REPLAY = "replay"
AT_RISK_BELOW = 0.5
DERIVED_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class MasteryRead:
    mastery: Mastery
    position: int | None  # the notification position the answer reflects, if known
    source: str  # READ_MODEL or REPLAY

    @property
    def no_data(self) -> bool:
        """Asked as of a date before the student's first event: nothing is known yet, so
        there is nothing to advise either."""
        return self.mastery.event_count == 0


@dataclass(frozen=True, slots=True)
class RosterEntry:
    student_id: str
    mastery: Mastery
    prediction: Prediction

    @property
    def score(self) -> float:
        """The mastery score as exposed (rounded)."""
        return _score(self.mastery)

    @property
    def at_risk(self) -> bool:
        """Below 0.5 now or, where a trend is known, predicted to be below it in 7 days."""
        predicted = self.prediction.predicted_score
        return self.mastery.score < AT_RISK_BELOW or (
            predicted is not None and predicted < AT_RISK_BELOW
        )


def utc_today() -> date:
    """The default clock: the only place the queries read the time."""
    return datetime.now(UTC).date()


class StudentQueries:
    """The query API's reads over a ``MasteryView`` and the event store behind
    ``StudentEvents``. ``today`` is the clock: every "now" of an answer comes from it.
    ``formula`` is the one replays compute with where the read models cannot answer: the
    formula of the generation ``view`` holds."""

    def __init__(
        self,
        view: MasteryView,
        store: StudentEvents,
        *,
        snapshot_ttl_days: int,
        today: Callable[[], date] = utc_today,
        formula: Formula = DEFAULT_FORMULA,
    ) -> None:
        self.formula = formula
        self.view = view
        self.store = store
        self.snapshot_ttl_days = snapshot_ttl_days
        self.today = today
        self._derived: OrderedDict[tuple[StudentKey, int, date], Mastery] = OrderedDict()
        self._derived_lock = threading.Lock()

    # --- mastery ------------------------------------------------------------------------------

    def mastery(self, key: StudentKey, as_of: date) -> MasteryRead:
        current = self.view.current(key)
        if current is None:
            return self._replayed(key, as_of)
        from_current = self.from_current(key, current, as_of)
        if from_current is not None:
            return from_current
        position = current.get("position")
        days = self.view.activity_dates(key)
        index = bisect.bisect_right(days, as_of)
        if index == 0:
            return MasteryRead(mastery_as_of([], as_of, self.formula), position, READ_MODEL)
        day = days[index - 1]
        snapshot = self.view.snapshots(key, [day]).get(day) if self._live(day) else None
        from_snapshot = None if snapshot is None else _readable(snapshot)
        if from_snapshot is None:
            return self._replayed(key, as_of)
        return MasteryRead(carried_forward(from_snapshot, as_of), None, READ_MODEL)

    def from_current(
        self, key: StudentKey, current: dict[str, Any], as_of: date
    ) -> MasteryRead | None:
        """The answer from the current document, for a date on or after its own (else None)."""
        derived = self._derived_from(key, current, as_of)
        return (
            None if derived is None else MasteryRead(derived, current.get("position"), READ_MODEL)
        )

    def _derived_from(
        self, key: StudentKey, current: dict[str, Any], as_of: date
    ) -> Mastery | None:
        """The current document carried forward to ``as_of`` (None for an earlier date, or an
        outdated document).

        Remembered by (student, position, date): a document changes only with its position,
        so dashboards polling a student do the arithmetic once a day per change."""
        memo = (key, int(current.get("position") or 0), as_of)
        with self._derived_lock:
            found = self._derived.get(memo)
        if found is not None:
            return found
        latest = _readable(current)
        if latest is None or as_of < latest.as_of:
            return None
        derived = carried_forward(latest, as_of)
        with self._derived_lock:
            self._derived[memo] = derived
            if len(self._derived) > DERIVED_CACHE_SIZE:
                self._derived.popitem(last=False)
        return derived

    def latest(self, key: StudentKey) -> MasteryRead:
        """Mastery as of today, or as of the last activity date if that is later."""
        current = self.view.current(key)
        latest = None if current is None else _readable(current)
        if current is None or latest is None:
            facts = self._facts(key)
            last = max((f.occurred_at.date() for f in facts), default=self.today())
            as_of = max(last, self.today())
            return MasteryRead(mastery_as_of(facts, as_of, self.formula), None, REPLAY)
        as_of = max(latest.as_of, self.today())
        return MasteryRead(carried_forward(latest, as_of), current.get("position"), READ_MODEL)

    def history(self, key: StudentKey, start: date, end: date) -> list[Mastery]:
        """The daily snapshots dated within ``start``..``end``, ascending."""
        return [m for d, m in self._daily(key, start, end).items() if d >= start]

    def filled_history(self, key: StudentKey, start: date, end: date) -> list[Mastery]:
        """One mastery per day of ``start``..``end`` (SPEC §5): a day with activity is its
        snapshot, a day without is the latest earlier snapshot carried forward; days before
        the student's first activity are left out."""
        daily = self._daily(key, start, end, with_previous=True)
        if not daily:
            return []
        first = min(daily)
        latest = daily[first]
        filled: list[Mastery] = []
        for offset in range((end - first).days + 1):
            day = first + timedelta(days=offset)
            latest = daily.get(day, latest)
            if day >= start:
                filled.append(carried_forward(latest, day))
        return filled

    def _daily(
        self, key: StudentKey, start: date, end: date, *, with_previous: bool = False
    ) -> dict[date, Mastery]:
        """The daily snapshots of ``start``..``end`` by date, ascending; ``with_previous``
        adds the latest one before ``start``, which the days up to the next one continue."""
        if self.view.current(key) is None:
            replayed = daily_masteries(self._facts(key), formula=self.formula)
            days = _selected(sorted(replayed), start, end, with_previous)
            return {d: replayed[d] for d in days}
        days = _selected(self.view.activity_dates(key), start, end, with_previous)
        found = self.view.snapshots(key, [d for d in days if self._live(d)])
        snapshots = {d: m for d, doc in found.items() if (m := _readable(doc)) is not None}
        if len(snapshots) < len(days):
            since = min(set(days) - set(snapshots))
            replayed = daily_masteries(self._facts(key), since, self.formula)
            snapshots.update({d: replayed[d] for d in days if d not in snapshots and d in replayed})
        return {d: snapshots[d] for d in sorted(snapshots)}

    def prediction(self, key: StudentKey, as_of: date, days: int) -> tuple[Mastery, Prediction]:
        """Mastery as of ``as_of`` and the SPEC §4 prediction ``days`` ahead of it."""
        now = self.mastery(key, as_of).mastery
        window = self._snapshot_scores(key, as_of)
        return now, predict(window, _score(now), as_of, days)

    def _snapshot_scores(self, key: StudentKey, as_of: date) -> list[tuple[date, float]]:
        """The latest PREDICTION_WINDOW snapshot scores dated on or before ``as_of``.

        Only the latest window enters the fit, and the confidence saturates well within it,
        so ``predict`` gives the same answer as with every snapshot.
        """
        if self.view.current(key) is None:
            history = daily_masteries(self._facts(key), formula=self.formula)
            days = [d for d in history if d <= as_of][-PREDICTION_WINDOW:]
            return [(d, _score(history[d])) for d in days]
        days = [d for d in self.view.activity_dates(key) if d <= as_of][-PREDICTION_WINDOW:]
        found = self.view.snapshots(key, [d for d in days if self._live(d)])
        if len(found) < len(days):
            replayed = daily_masteries(self._facts(key), days[0], self.formula)
            return [(d, _score(replayed[d])) for d in days if d in replayed]
        return [(d, float(found[d]["mastery_score"])) for d in days]

    def refuse_erased(self, key: StudentKey) -> None:
        """``StudentErasedError`` if the student is erased: their reads answer 410 whatever a
        cache or a late write may still hold."""
        if self.view.is_erased(key):
            raise StudentErasedError(student_aggregate_id(key.tenant_id, key.student_id))

    # --- the event store ----------------------------------------------------------------------

    def timeline(self, key: StudentKey) -> Replay:
        return self.store.replay(key.tenant_id, key.student_id, date.max).under(self.formula)

    # --- rosters and status -------------------------------------------------------------------

    def is_rostered(self, key: StudentKey, class_id: str) -> bool:
        roster = self.view.class_roster(key.tenant_id, class_id)
        return any(student_id == key.student_id for student_id, _ in roster.members)

    def class_roster(
        self, tenant_id: str, class_id: str, days: int = 7
    ) -> list[RosterEntry] | None:
        """Each student of the class with mastery and prediction as of today; None if the
        class has no student."""
        members = self.view.class_roster(tenant_id, class_id).members
        if not members:
            return None
        today = self.today()
        return [
            self.roster_entry(StudentKey(tenant_id, student_id), today, days)
            for student_id, _ in sorted(members)
        ]

    def roster_entry(self, key: StudentKey, as_of: date, days: int = 7) -> RosterEntry:
        """The student's mastery as of ``as_of`` and its prediction ``days`` ahead."""
        now = self.mastery(key, as_of).mastery
        prediction = predict(self._snapshot_scores(key, as_of), _score(now), as_of, days)
        return RosterEntry(key.student_id, now, prediction)

    def wait_for(self, position: int, timeout: float) -> bool:
        """Whether the read models reached ``position`` within ``timeout`` seconds."""
        try:
            self.view.wait(PROJECTION_NAME, position, timeout=timeout)
        except TimeoutError:
            return False
        return True

    # --- helpers ------------------------------------------------------------------------------

    def _replayed(self, key: StudentKey, as_of: date) -> MasteryRead:
        return MasteryRead(mastery_as_of(self._facts(key), as_of, self.formula), None, REPLAY)

    def _facts(self, key: StudentKey) -> list[LearningFact]:
        return [fact_of(e) for e in self.store.learning_events(key.tenant_id, key.student_id)]

    def _live(self, day: date) -> bool:
        """Whether a snapshot of ``day`` can still be in Redis (it expires after the TTL)."""
        if self.snapshot_ttl_days <= 0:
            return True
        return day > self.today() - timedelta(days=self.snapshot_ttl_days)


def _readable(document: dict[str, Any]) -> Mastery | None:
    """The mastery a read-model document stands for; None for an outdated one."""
    try:
        return mastery_from_document(document)
    except OutdatedDocumentError:
        return None


def _score(mastery: Mastery) -> float:
    score: Any = mastery.to_document(with_topics=False)["mastery_score"]
    return float(score)


def _selected(days: list[date], start: date, end: date, with_previous: bool) -> list[date]:
    """The ascending ``days`` within ``start``..``end``, and with ``with_previous`` the last
    one before ``start``."""
    first = bisect.bisect_left(days, start)
    if with_previous and first > 0:
        first -= 1
    return days[first : bisect.bisect_right(days, end)]
