"""Mastery over a collection of facts: as of a date, as of each activity date (the daily
snapshots of SPEC §5), and after each fact (a replay's timeline).

Facts are deduplicated by event id and put in (UTC time, event id) order here, so callers may
pass them in any order and with repeats.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime

from domain.facts import LearningFact
from domain.mastery.formulas import DEFAULT_FORMULA, Formula
from domain.mastery.ledger import MasteryLedger, utc
from domain.mastery.rules import level_for
from domain.mastery.values import Mastery, TopicMastery


def mastery_as_of(
    facts: Iterable[LearningFact], as_of: date, formula: Formula = DEFAULT_FORMULA
) -> Mastery:
    """Mastery from the facts dated on or before ``as_of`` (duplicated ids count once)."""
    ledger = MasteryLedger.empty(formula)
    for fact in _unique(facts):
        if _utc_day(fact) <= as_of:
            ledger.add(fact)
    return ledger.mastery(as_of)


def daily_masteries(
    facts: Iterable[LearningFact],
    since: date | None = None,
    formula: Formula = DEFAULT_FORMULA,
) -> dict[date, Mastery]:
    """Mastery as of each date with activity, ascending: the daily snapshots of SPEC §5.

    With ``since``, only dates on or after it are computed (earlier facts still count): what a
    late event dated ``since`` changes.
    """
    return DailySnapshots(formula).update(facts, since)


class DailySnapshots:
    """``daily_masteries`` for a student whose facts keep arriving, without replaying them all.

    It keeps the ledger of every fact dated before the latest activity date it has seen. When
    new facts are dated on or after that date (the usual case: today's activity), only the facts
    from that date on are added to a copy of it; a fact dated earlier (a late event) replays
    every fact. The ledger does not depend on the order facts are added in, so the result always
    equals ``daily_masteries(facts, since)``.
    """

    __slots__ = ("_before_latest", "_latest", "formula")

    def __init__(self, formula: Formula = DEFAULT_FORMULA) -> None:
        self.formula = formula
        self._latest: date | None = None
        self._before_latest = MasteryLedger.empty(formula)  # facts dated before ``_latest``

    def update(
        self, facts: Iterable[LearningFact], since: date | None = None
    ) -> dict[date, Mastery]:
        """Snapshots from ``since`` on (all without it) of ``facts``: every fact of the student,
        where those not seen by the previous call are all dated on or after ``since``."""
        if since is not None and self._latest is not None and since >= self._latest:
            start = self._latest
            ledger = self._before_latest.copy()
            facts = [f for f in facts if _utc_day(f) >= start]
        else:
            ledger = MasteryLedger.empty(self.formula)
        days = [(day, list(group)) for day, group in itertools.groupby(_in_order(facts), _utc_day)]
        snapshots: dict[date, Mastery] = {}
        for day, facts_of_day in days:
            if day == days[-1][0]:  # the latest date: keep what the facts before it make
                self._latest, self._before_latest = day, ledger.copy()
            for fact in facts_of_day:
                ledger.add(fact)
            if since is None or day >= since:
                snapshots[day] = ledger.mastery(day)
        return snapshots


StepKey = tuple[datetime, str]
"""Where a fact stands in a replay: its UTC time, then its event id (a paging cursor)."""


@dataclass(frozen=True, slots=True)
class Step:
    """What one fact changed in a replay: the scores just after it, as of the fact's date.

    ``mastery`` (the whole document's worth) is computed only when asked for: it costs a
    topic mastery and a recommendation check per topic, for every step.
    """

    number: int  # 1-based, in (UTC time, event id) order
    fact: LearningFact
    score: float
    level: str
    previous_level: str | None  # the level after the step before; None for the first step
    topic: TopicMastery  # the touched topic's mastery after the fact
    mastery: Mastery | None = None

    @property
    def key(self) -> StepKey:
        return step_key(self.fact)

    @property
    def level_changed(self) -> bool:
        return self.previous_level is not None and self.previous_level != self.level


class Replayer:
    """The steps of facts given one at a time in (UTC time, event id) order, resumable: a
    replay kept between requests takes a student's new facts without replaying the old ones.

    One ledger takes each fact once, and a step reads only the overall and the touched topic's
    scores, so a replay costs O(facts), not O(facts x topics) (``full`` steps aside).
    """

    __slots__ = ("_last", "_ledger", "_level", "number")

    def __init__(self, formula: Formula = DEFAULT_FORMULA) -> None:
        self._ledger = MasteryLedger.empty(formula)
        self._last: LearningFact | None = None
        self._level: str | None = None  # the level after ``_last``, once computed
        self.number = 0  # facts taken so far

    def copy(self) -> Replayer:
        """An independent replayer in the same state."""
        twin = Replayer(self.formula)
        twin._ledger = self._ledger.copy()
        twin._last, twin._level, twin.number = self._last, self._level, self.number
        return twin

    @property
    def formula(self) -> Formula:
        return self._ledger.formula

    def skip(self, fact: LearningFact) -> None:
        """Take a fact without scoring it (a fact before a paging cursor)."""
        self._check_order(fact)
        self._ledger.add(fact)
        self._last, self._level = fact, None
        self.number += 1

    def step(self, fact: LearningFact, *, full: bool = False) -> Step:
        """Take a fact: what it changed."""
        self._check_order(fact)
        if self._last is not None and self._level is None:
            self._level = level_for(self._ledger.score(_utc_day(self._last)))
        previous_level = self._level
        self._ledger.add(fact)
        day = _utc_day(fact)
        score = self._ledger.score(day)
        self._last, self._level = fact, level_for(score)
        self.number += 1
        return Step(
            self.number,
            fact,
            score,
            self._level,
            previous_level,
            self._ledger.topic_mastery(fact.topic, day),
            self._ledger.mastery(day) if full else None,
        )

    def _check_order(self, fact: LearningFact) -> None:
        if self._last is not None and step_key(fact) <= step_key(self._last):
            raise ValueError(f"fact {fact.event_id} does not come after {self._last.event_id}")


def replay_steps(
    facts: Iterable[LearningFact],
    *,
    after: StepKey | None = None,
    full: bool = False,
    formula: Formula = DEFAULT_FORMULA,
) -> Iterator[Step]:
    """Replay, lazily: each fact in (UTC time, event id) order with what it changed, for the
    facts after ``after`` (the earlier ones are taken without computing anything for them)."""
    replayer = Replayer(formula)
    for fact in _in_order(facts):
        if after is not None and step_key(fact) <= after:
            replayer.skip(fact)
        else:
            yield replayer.step(fact, full=full)


def timeline(
    facts: Iterable[LearningFact], formula: Formula = DEFAULT_FORMULA
) -> list[tuple[LearningFact, Mastery]]:
    """Replay: each fact in (occurred_at, event_id) order with the whole mastery just after it."""
    steps: list[tuple[LearningFact, Mastery]] = []
    for step in replay_steps(facts, full=True, formula=formula):
        assert step.mastery is not None  # asked for
        steps.append((step.fact, step.mastery))
    return steps


def step_key(fact: LearningFact) -> StepKey:
    return (utc(fact.occurred_at), fact.event_id)


def _unique(facts: Iterable[LearningFact]) -> list[LearningFact]:
    """Facts deduplicated by event id, the first of each id winning."""
    by_id: dict[str, LearningFact] = {}
    for fact in facts:
        by_id.setdefault(fact.event_id, fact)
    return list(by_id.values())


def _utc_day(fact: LearningFact) -> date:
    return utc(fact.occurred_at).date()


def _in_order(facts: Iterable[LearningFact]) -> list[LearningFact]:
    return sorted(_unique(facts), key=step_key)
