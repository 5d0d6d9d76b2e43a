"""Consistency's evidence: the dates a student was active on, and their runs of consecutive
dates."""

from __future__ import annotations

from datetime import date, timedelta

from domain.mastery.ratio import ZERO, Ratio
from domain.mastery.rules import DAILY_DECAY, DECAY_HORIZON_DAYS

_ONE_DAY = timedelta(days=1)


class ActivityRuns:
    """The set of activity dates and its runs of consecutive dates, updated in O(1) per date."""

    __slots__ = ("_end_by_start", "_start_by_end", "dates", "latest", "longest")

    def __init__(self) -> None:
        self.dates: set[date] = set()
        self.latest: date | None = None
        self.longest = 0
        self._end_by_start: dict[date, date] = {}
        self._start_by_end: dict[date, date] = {}

    def copy(self) -> ActivityRuns:
        twin = ActivityRuns()
        twin.dates = set(self.dates)
        twin.latest = self.latest
        twin.longest = self.longest
        twin._end_by_start = dict(self._end_by_start)
        twin._start_by_end = dict(self._start_by_end)
        return twin

    def add(self, day: date) -> None:
        if day in self.dates:
            return
        self.dates.add(day)
        start = self._start_by_end.pop(day - _ONE_DAY, day)
        end = self._end_by_start.pop(day + _ONE_DAY, day)
        self._end_by_start[start] = end
        self._start_by_end[end] = start
        self.longest = max(self.longest, (end - start).days + 1)
        self.latest = day if self.latest is None else max(self.latest, day)

    @property
    def current(self) -> int:
        """Length of the run that ends at the latest date."""
        if self.latest is None:
            return 0
        return (self.latest - self._start_by_end[self.latest]).days + 1

    def consistency(self, as_of: date) -> Ratio:
        """(current / longest) * 0.9^(as_of - latest); 0 with no activity."""
        if self.latest is None:
            return ZERO
        idle_days = (as_of - self.latest).days
        if idle_days > DECAY_HORIZON_DAYS:
            return ZERO
        if idle_days == 0:
            return (self.current, self.longest)
        decay_n, decay_d = DAILY_DECAY
        return (self.current * decay_n**idle_days, self.longest * decay_d**idle_days)
