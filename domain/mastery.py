"""The mastery model, formula ``seed-v1`` (SPEC §4): a pure function of facts and a date.

Exactness. Every score is computed as an exact rational number and turned into a float once,
correctly rounded. Completion and quiz are ratios of integer sums (difficulty multipliers and
quiz confidences in tenths); a quality input is read as the decimal it was written as (the
shortest ``repr`` of the float, which is the JSON text), so three inputs of 0.7 give a quality
of exactly 0.7; consistency is (current / longest) * (9/10)^days. Rational arithmetic is
associative, so results are bit-identical whatever order the facts arrive in, and a score that
lies exactly on a threshold (0.75, 0.70, ...) is never pushed below it by float noise.
Thresholds (levels, recommendations, learning path) compare those correctly rounded floats, so
``level_for(m.score) == m.level`` always holds.

The daily path (a score for every activity date of every student) keeps exact values as plain
integer pairs (``Ratio``) rather than ``Fraction`` objects: the same rationals, and the same
correctly rounded ``int / int`` divisions, without normalising on every operation.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from math import gcd
from typing import Any

from domain.facts import (
    DIFFICULTY_TENTHS,
    ActivityEvidence,
    CompletionEvidence,
    Component,
    LearningFact,
    QualityEvidence,
    QuizEvidence,
)

FORMULA = "seed-v1"
WEIGHTS: dict[str, float] = {"completion": 0.40, "quiz": 0.30, "quality": 0.20, "consistency": 0.10}
QUALITY_WINDOW = 10
COMPONENT_THRESHOLD = 0.70
TOPIC_THRESHOLD = 0.60
LEVELS: tuple[tuple[float, str], ...] = (
    (0.90, "expert"),
    (0.75, "proficient"),
    (0.60, "competent"),
    (0.40, "developing"),
)
LOWEST_LEVEL = "beginner"
PREDICTION_WINDOW = 14
PREDICTION_MIN_SNAPSHOTS = 3
TREND_THRESHOLD = Fraction(1, 1000)

_WEIGHT_TENTHS: dict[Component, int] = {
    Component.COMPLETION: 4,
    Component.QUIZ: 3,
    Component.QUALITY: 2,
    Component.CONSISTENCY: 1,
}
_DAILY_DECAY = (9, 10)  # 0.9 a day, as a Ratio
# (9/10)^7100 is below the smallest positive float; past this many idle days consistency is 0.
_DECAY_HORIZON_DAYS = 7_100
_ONE_DAY = timedelta(days=1)
# 2: topics include activity-marker-only topics and keep event counts per component.
_STATE_VERSION = 2
DOCUMENT_VERSION = 2
"""Version of a read-model document's ``exact`` part; 2 added activity-marker-only topics and
topic evidence. ``mastery_from_document`` refuses other versions."""

_RECOMMENDATIONS: dict[Component, tuple[str, str, str]] = {
    Component.COMPLETION: ("practice", "completing exercises", "high"),
    Component.QUIZ: ("review", "concepts", "medium"),
    Component.QUALITY: ("refactor", "code quality", "medium"),
    Component.CONSISTENCY: ("schedule", "daily practice", "low"),
}
_LEARNING_PATHS: dict[Component, tuple[str, ...]] = {
    Component.COMPLETION: ("practice_basic", "exercise_variety", "timed_challenges"),
    Component.QUIZ: ("concept_review", "practice_quizzes", "mock_tests"),
    Component.QUALITY: ("code_reviews", "refactoring_practice", "best_practices"),
    Component.CONSISTENCY: ("daily_goals", "streak_reminders", "study_schedule"),
}
_ADVANCED_PATH = ("challenge_exercises", "advanced_topics")
_COMPONENT_ORDER = (Component.COMPLETION, Component.QUIZ, Component.QUALITY, Component.CONSISTENCY)
_COMPONENT_PATHS = tuple(_LEARNING_PATHS[c] for c in _COMPONENT_ORDER)


# --- values ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ComponentScores:
    """The four components (or their weighted parts), unrounded."""

    completion: float
    quiz: float
    quality: float
    consistency: float

    def of(self, component: Component) -> float:
        value: float = getattr(self, component.value)
        return value

    def to_document(self) -> dict[str, float]:
        return {
            "completion": round(self.completion, 3),
            "quiz": round(self.quiz, 3),
            "quality": round(self.quality, 3),
            "consistency": round(self.consistency, 3),
        }


@dataclass(frozen=True, slots=True)
class ComponentCounts:
    """How many facts of each component: a topic's evidence."""

    completion: int
    quiz: int
    quality: int
    consistency: int

    def to_document(self) -> dict[str, int]:
        return {
            "completion": self.completion,
            "quiz": self.quiz,
            "quality": self.quality,
            "consistency": self.consistency,
        }


@dataclass(frozen=True, slots=True)
class EvidenceCounts:
    """How many facts of each component, and on how many distinct UTC dates there was activity."""

    completion: int
    quiz: int
    quality: int
    consistency: int
    activity_days: int

    def to_document(self) -> dict[str, int]:
        return {
            "completion": self.completion,
            "quiz": self.quiz,
            "quality": self.quality,
            "consistency": self.consistency,
            "activity_days": self.activity_days,
        }


@dataclass(frozen=True, slots=True)
class TopicMastery:
    """A topic's mastery. Consistency is the student's; ``evidence`` counts the topic's facts
    per component (no activity days: the topic's consistency is not measured from its own)."""

    score: float
    level: str
    components: ComponentScores
    evidence: ComponentCounts

    def to_document(self) -> dict[str, Any]:
        return {
            "mastery_score": _rounded(self.score),
            "level": self.level,
            "components": self.components.to_document(),
            "evidence": self.evidence.to_document(),
        }


@dataclass(frozen=True, slots=True)
class Recommendation:
    action: str
    area: str
    priority: str

    def to_document(self) -> dict[str, str]:
        return {"action": self.action, "area": self.area, "priority": self.priority}


_COMPONENT_RECOMMENDATIONS = tuple(Recommendation(*_RECOMMENDATIONS[c]) for c in _COMPONENT_ORDER)


@dataclass(frozen=True, slots=True)
class Mastery:
    """A student's mastery as of a date. Scores are unrounded; ``to_document`` rounds them."""

    as_of: date
    score: float
    level: str
    components: ComponentScores
    breakdown: ComponentScores
    evidence: EvidenceCounts
    topics: dict[str, TopicMastery]
    event_count: int
    last_event_at: datetime | None
    recommendations: tuple[Recommendation, ...]
    learning_path: tuple[str, ...]
    formula: str = FORMULA

    @property
    def no_evidence(self) -> tuple[str, ...]:
        """Components that rest on no fact and so count as 0.0.

        Consistency is measured from the dates of *all* facts, so it lacks evidence only when
        there is no fact at all, not when there is merely no ``consistency`` activity marker.
        """
        counts = {
            Component.COMPLETION: self.evidence.completion,
            Component.QUIZ: self.evidence.quiz,
            Component.QUALITY: self.evidence.quality,
            Component.CONSISTENCY: self.evidence.activity_days,
        }
        return tuple(c.value for c in Component if counts[c] == 0)

    def to_document(self, *, with_topics: bool = True, exact: bool = False) -> dict[str, Any]:
        """JSON-ready: SPEC §5 ``current_mastery`` minus tenant, student and position.

        With ``exact``, the unrounded values are kept too (read models store them so that a
        later date can be derived without rounding drift).
        """
        document: dict[str, Any] = {
            "as_of": self.as_of.isoformat(),
            "mastery_score": _rounded(self.score),
            "level": self.level,
            "components": self.components.to_document(),
            "breakdown": self.breakdown.to_document(),
            "evidence": self.evidence.to_document(),
        }
        if with_topics:
            document["topics"] = {name: t.to_document() for name, t in self.topics.items()}
        document.update(
            event_count=self.event_count,
            last_event_at=_iso_z(self.last_event_at) if self.last_event_at else None,
            formula=self.formula,
            recommendations=[r.to_document() for r in self.recommendations],
            learning_path=list(self.learning_path),
            no_evidence=list(self.no_evidence),
        )
        if exact:
            document["exact"] = self.exact_document()
        return document

    def exact_document(self) -> dict[str, Any]:
        """Unrounded components, and each topic's unrounded completion, quiz and quality with
        its evidence counts, for ``mastery_from_document``: kept even where the rendered
        ``topics`` are left out, since recommendations depend on them and a past date served
        from a snapshot shows topics. (A topic's consistency is the student's: not repeated.)"""
        return {
            "version": DOCUMENT_VERSION,
            "components": _unrounded(self.components),
            "topics": {
                name: {
                    "completion": topic.components.completion,
                    "quiz": topic.components.quiz,
                    "quality": topic.components.quality,
                    "evidence": [
                        topic.evidence.completion,
                        topic.evidence.quiz,
                        topic.evidence.quality,
                        topic.evidence.consistency,
                    ],
                }
                for name, topic in self.topics.items()
            },
        }


@dataclass(frozen=True, slots=True)
class Prediction:
    predicted_score: float | None
    confidence: float
    trend: str
    intervention_needed: bool
    days: int

    def to_document(self) -> dict[str, Any]:
        return {
            "predicted_score": self.predicted_score,
            "confidence": self.confidence,
            "trend": self.trend,
            "intervention_needed": self.intervention_needed,
            "days": self.days,
        }


def _unrounded(components: ComponentScores) -> dict[str, float]:
    return {
        "completion": components.completion,
        "quiz": components.quiz,
        "quality": components.quality,
        "consistency": components.consistency,
    }


def level_for(score: float) -> str:
    """The level of an unrounded score."""
    for threshold, level in LEVELS:
        if score >= threshold:
            return level
    return LOWEST_LEVEL


# --- exact arithmetic ----------------------------------------------------------------------------


Ratio = tuple[int, int]
"""An exact rational as (numerator, denominator > 0), not necessarily in lowest terms."""

_ZERO: Ratio = (0, 1)
_ONE: Ratio = (1, 1)


_EVIDENCE_COMPONENTS = (Component.COMPLETION, Component.QUIZ, Component.QUALITY)


@dataclass(frozen=True, slots=True)
class _EvidencePart:
    """Completion, quiz and quality of a topic or student, with their exact weighted sum.

    They change only when a fact is added, while consistency changes with the date; keeping
    this part lets a mastery per date cost one exact addition instead of a dozen.
    """

    weighted_sum: Ratio
    floats: tuple[float, float, float]
    weighted_floats: tuple[float, float, float]

    @classmethod
    def of(cls, completion: Ratio, quiz: Ratio, quality: Ratio) -> _EvidencePart:
        # Integer arithmetic over a common denominator. int / int is correctly rounded, as
        # float(Fraction) is, so every float below is the exact value correctly rounded.
        (cn, cd), (qn, qd), (ln, ld) = completion, quiz, quality
        wc, wq, wl = (_WEIGHT_TENTHS[c] for c in _EVIDENCE_COMPONENTS)
        weighted_sum = (
            wc * cn * qd * ld + wq * qn * cd * ld + wl * ln * cd * qd,
            10 * cd * qd * ld,
        )
        return cls(
            weighted_sum,
            (cn / cd, qn / qd, ln / ld),
            (wc * cn / (10 * cd), wq * qn / (10 * qd), wl * ln / (10 * ld)),
        )

    def score(self, consistency: Ratio) -> float:
        """The weighted score, correctly rounded from its exact value (one int / int)."""
        wn, wd = self.weighted_sum
        cn, cd = consistency
        weight = _WEIGHT_TENTHS[Component.CONSISTENCY]
        return (wn * 10 * cd + weight * cn * wd) / (wd * 10 * cd)

    def scores(self, consistency: Ratio) -> ComponentScores:
        return ComponentScores(*self.floats, consistency[0] / consistency[1])

    def breakdown(self, consistency: Ratio) -> ComponentScores:
        weight = _WEIGHT_TENTHS[Component.CONSISTENCY]
        weighted_consistency = weight * consistency[0] / (10 * consistency[1])
        return ComponentScores(*self.weighted_floats, weighted_consistency)

    def topic_mastery(self, consistency: Ratio, evidence: ComponentCounts) -> TopicMastery:
        score = self.score(consistency)
        return TopicMastery(
            score=score,
            level=level_for(score),
            components=self.scores(consistency),
            evidence=evidence,
        )


def _decimal_ratio(value: float) -> Ratio:
    """The exact value of the decimal a float was written as (0.7 -> 7/10)."""
    return Decimal(repr(value)).as_integer_ratio()


def _decimal(value: float) -> Fraction:
    return Fraction(*_decimal_ratio(value))


def _capped_ratio(numerator: int, denominator: int) -> Ratio:
    """min(1, numerator / denominator), and 0 when there is nothing to divide by."""
    if not denominator:
        return _ZERO
    return _ONE if numerator >= denominator else (numerator, denominator)


def _ratio(numerator: int, denominator: int) -> Ratio:
    return (numerator, denominator) if denominator else _ZERO


def _mean(values: Sequence[Ratio]) -> Ratio:
    """The exact mean, in lowest terms (so that sums of many means stay small)."""
    if not values:
        return _ZERO
    total_n, total_d = 0, 1
    for n, d in values:
        if d == total_d:
            total_n += n
        else:
            total_n, total_d = total_n * d + n * total_d, total_d * d
    total_d *= len(values)
    common = gcd(total_n, total_d)
    return (total_n // common, total_d // common)


def _quiz_confidence_tenths(attempts: int) -> int:
    """conf = max(0.5, 1 - 0.1 * (attempts - 1)), in tenths."""
    return max(5, 10 - (attempts - 1))


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: facts need a UTC time")
    return moment.astimezone(UTC)


def _iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _rounded(value: float) -> float:
    return round(value, 3)


# --- the ledger's parts --------------------------------------------------------------------------

OrderKey = tuple[datetime, str]


@dataclass(frozen=True, slots=True)
class _CompletionSample:
    at: datetime
    event_id: str
    completed: int
    total: int
    difficulty: str

    @property
    def key(self) -> OrderKey:
        return (self.at, self.event_id)

    @property
    def weighted_tenths(self) -> int:
        return self.completed * DIFFICULTY_TENTHS[self.difficulty]

    def to_state(self) -> list[Any]:
        return [self.at.isoformat(), self.event_id, self.completed, self.total, self.difficulty]

    @classmethod
    def from_state(cls, state: list[Any]) -> _CompletionSample:
        at, event_id, completed, total, difficulty = state
        return cls(datetime.fromisoformat(at), event_id, completed, total, difficulty)


@dataclass(frozen=True, slots=True)
class _QualitySample:
    at: datetime
    event_id: str
    avg_code_quality: float
    correctness: float
    efficiency: float
    value: Ratio = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        (an, ad), (bn, bd), (cn, cd) = map(
            _decimal_ratio, (self.avg_code_quality, self.correctness, self.efficiency)
        )
        object.__setattr__(
            self, "value", (an * bd * cd + bn * ad * cd + cn * ad * bd, 3 * ad * bd * cd)
        )

    @property
    def key(self) -> OrderKey:
        return (self.at, self.event_id)

    def to_state(self) -> list[Any]:
        return [
            self.at.isoformat(),
            self.event_id,
            self.avg_code_quality,
            self.correctness,
            self.efficiency,
        ]

    @classmethod
    def from_state(cls, state: list[Any]) -> _QualitySample:
        at, event_id, avg_code_quality, correctness, efficiency = state
        return cls(datetime.fromisoformat(at), event_id, avg_code_quality, correctness, efficiency)


def _keep_latest(window: list[_QualitySample], sample: _QualitySample) -> None:
    """Insert into an ascending window and drop the oldest beyond ``QUALITY_WINDOW``."""
    bisect.insort(window, sample, key=lambda s: s.key)
    if len(window) > QUALITY_WINDOW:
        del window[0]


@dataclass(slots=True)
class _TopicLedger:
    completion: _CompletionSample | None = None
    quiz_weighted_tenths: int = 0  # Σ correct * confidence in tenths
    quiz_total: int = 0  # Σ total questions
    quality: list[_QualitySample] = field(default_factory=list)  # ascending, the latest 10
    # How many facts of the topic, per component (activity markers included).
    completion_count: int = 0
    quiz_count: int = 0
    quality_count: int = 0
    consistency_count: int = 0
    # Derived, never part of the state: the topic's mastery at the last consistency asked for.
    memo: tuple[Ratio, TopicMastery] | None = field(default=None, compare=False)
    evidence_memo: _EvidencePart | None = field(default=None, compare=False)
    quality_memo: Ratio | None = field(default=None, compare=False)

    def copy(self) -> _TopicLedger:
        """An independent copy (samples and memos are immutable values, shared)."""
        return _TopicLedger(
            self.completion,
            self.quiz_weighted_tenths,
            self.quiz_total,
            list(self.quality),
            self.completion_count,
            self.quiz_count,
            self.quality_count,
            self.consistency_count,
            self.memo,
            self.evidence_memo,
            self.quality_memo,
        )

    def quality_mean(self) -> Ratio:
        if self.quality_memo is None:
            self.quality_memo = _mean([s.value for s in self.quality])
        return self.quality_memo

    def counts(self) -> ComponentCounts:
        return ComponentCounts(
            self.completion_count, self.quiz_count, self.quality_count, self.consistency_count
        )

    def mastery(self, consistency: Ratio) -> TopicMastery:
        memo = self.memo
        if memo is None or memo[0] != consistency:
            if self.evidence_memo is None:
                self.evidence_memo = self._evidence_part()
            # Every fact added resets the memo, so a memo left in place has the current counts.
            counts = self.counts() if memo is None else memo[1].evidence
            memo = self.memo = (consistency, self.evidence_memo.topic_mastery(consistency, counts))
        return memo[1]

    def _evidence_part(self) -> _EvidencePart:
        completion = (
            _capped_ratio(self.completion.weighted_tenths, 10 * self.completion.total)
            if self.completion
            else _ZERO
        )
        return _EvidencePart.of(
            completion,
            _ratio(self.quiz_weighted_tenths, 10 * self.quiz_total),
            self.quality_mean(),
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "completion": self.completion.to_state() if self.completion else None,
            "quiz": [self.quiz_weighted_tenths, self.quiz_total],
            "quality": [s.to_state() for s in self.quality],
            "counts": self.counts().to_document(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> _TopicLedger:
        completion = state["completion"]
        weighted, total = state["quiz"]
        counts = state["counts"]
        return cls(
            completion=_CompletionSample.from_state(completion) if completion else None,
            quiz_weighted_tenths=weighted,
            quiz_total=total,
            quality=sorted(
                (_QualitySample.from_state(s) for s in state["quality"]), key=lambda s: s.key
            ),
            completion_count=int(counts["completion"]),
            quiz_count=int(counts["quiz"]),
            quality_count=int(counts["quality"]),
            consistency_count=int(counts["consistency"]),
        )


class _ActivityRuns:
    """The set of activity dates and its runs of consecutive dates, updated in O(1) per date."""

    __slots__ = ("_end_by_start", "_start_by_end", "dates", "latest", "longest")

    def __init__(self) -> None:
        self.dates: set[date] = set()
        self.latest: date | None = None
        self.longest = 0
        self._end_by_start: dict[date, date] = {}
        self._start_by_end: dict[date, date] = {}

    def copy(self) -> _ActivityRuns:
        twin = _ActivityRuns()
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
            return _ZERO
        idle_days = (as_of - self.latest).days
        if idle_days > _DECAY_HORIZON_DAYS:
            return _ZERO
        if idle_days == 0:
            return (self.current, self.longest)
        decay_n, decay_d = _DAILY_DECAY
        return (self.current * decay_n**idle_days, self.longest * decay_d**idle_days)


# --- the ledger ----------------------------------------------------------------------------------


class MasteryLedger:
    """Order-independent accumulator of a student's facts: the StudentMastery aggregate's state.

    Bounded in size: per topic the latest completion fact, integer quiz sums, the 10 latest
    quality facts and counts per component; overall the 10 latest quality facts, the set of
    activity dates, counts per component and the time of the latest fact. Each fact must be
    added at most once (the aggregate guarantees it by event id); the ledger keeps no list of
    ids.

    Every fact belongs to its topic, activity markers included (SPEC §4): a topic with only
    ``consistency`` markers is listed, with completion, quiz and quality 0.0 and no evidence
    for them.
    """

    __slots__ = (
        "_activity",
        "_completion_total",
        "_completion_weighted_tenths",
        "_counts",
        "_evidence_memo",
        "_last_event_at",
        "_quality",
        "_quality_memo",
        "_quiz_total",
        "_quiz_weighted_tenths",
        "_topics",
    )

    def __init__(self) -> None:
        self._topics: dict[str, _TopicLedger] = {}
        self._quality: list[_QualitySample] = []
        self._activity = _ActivityRuns()
        self._counts: dict[Component, int] = dict.fromkeys(Component, 0)
        self._last_event_at: datetime | None = None
        self._completion_weighted_tenths = 0  # Σ over topics' latest completion facts
        self._completion_total = 0
        self._quiz_weighted_tenths = 0
        self._quiz_total = 0
        self._evidence_memo: _EvidencePart | None = None  # derived; reset by every add
        self._quality_memo: Ratio | None = None  # derived; reset by every quality fact

    @classmethod
    def empty(cls) -> MasteryLedger:
        return cls()

    def copy(self) -> MasteryLedger:
        """An independent ledger in the same state (adding to one leaves the other as it is)."""
        twin = MasteryLedger()
        twin._topics = {name: topic.copy() for name, topic in self._topics.items()}
        twin._quality = list(self._quality)
        twin._activity = self._activity.copy()
        twin._counts = dict(self._counts)
        twin._last_event_at = self._last_event_at
        twin._completion_weighted_tenths = self._completion_weighted_tenths
        twin._completion_total = self._completion_total
        twin._quiz_weighted_tenths = self._quiz_weighted_tenths
        twin._quiz_total = self._quiz_total
        twin._evidence_memo = self._evidence_memo
        twin._quality_memo = self._quality_memo
        return twin

    @property
    def last_event_at(self) -> datetime | None:
        return self._last_event_at

    @property
    def last_activity_date(self) -> date | None:
        return self._activity.latest

    @property
    def event_count(self) -> int:
        return sum(self._counts.values())

    def add(self, fact: LearningFact) -> None:
        at = _utc(fact.occurred_at)
        _check_evidence(fact)
        match fact.evidence:
            case CompletionEvidence() as evidence:
                self._add_completion(fact.topic, at, fact.event_id, evidence)
            case QuizEvidence() as evidence:
                self._add_quiz(fact.topic, evidence)
            case QualityEvidence() as evidence:
                self._add_quality(fact.topic, at, fact.event_id, evidence)
            case ActivityEvidence():
                self._add_marker(fact.topic)
        self._counts[fact.component] += 1
        self._activity.add(at.date())
        if self._last_event_at is None or at > self._last_event_at:
            self._last_event_at = at

    def _topic(self, topic: str) -> _TopicLedger:
        """The topic's ledger, for a fact that may change completion, quiz or quality (of the
        topic and of the student)."""
        ledger = self._topics.get(topic)
        if ledger is None:
            ledger = self._topics[topic] = _TopicLedger()
        else:
            ledger.memo = None
            ledger.evidence_memo = None
        self._evidence_memo = None
        return ledger

    def _add_marker(self, topic: str) -> None:
        """An activity marker changes only its topic's counts (and the student's activity)."""
        ledger = self._topics.get(topic)
        if ledger is None:
            self._topics[topic] = _TopicLedger(consistency_count=1)
        else:
            ledger.consistency_count += 1
            ledger.memo = None

    def _add_completion(
        self, topic: str, at: datetime, event_id: str, evidence: CompletionEvidence
    ) -> None:
        sample = _CompletionSample(
            at,
            event_id,
            evidence.completed_exercises,
            evidence.total_exercises,
            evidence.difficulty,
        )
        ledger = self._topic(topic)
        ledger.completion_count += 1
        previous = ledger.completion
        if previous is not None and previous.key > sample.key:
            return
        if previous is not None:
            self._completion_weighted_tenths -= previous.weighted_tenths
            self._completion_total -= previous.total
        ledger.completion = sample
        self._completion_weighted_tenths += sample.weighted_tenths
        self._completion_total += sample.total

    def _add_quiz(self, topic: str, evidence: QuizEvidence) -> None:
        weighted = evidence.correct_answers * _quiz_confidence_tenths(evidence.attempts)
        ledger = self._topic(topic)
        ledger.quiz_count += 1
        ledger.quiz_weighted_tenths += weighted
        ledger.quiz_total += evidence.total_questions
        self._quiz_weighted_tenths += weighted
        self._quiz_total += evidence.total_questions

    def _add_quality(
        self, topic: str, at: datetime, event_id: str, evidence: QualityEvidence
    ) -> None:
        sample = _QualitySample(
            at, event_id, evidence.avg_code_quality, evidence.correctness, evidence.efficiency
        )
        ledger = self._topic(topic)
        ledger.quality_count += 1
        _keep_latest(ledger.quality, sample)
        ledger.quality_memo = None
        _keep_latest(self._quality, sample)
        self._quality_memo = None

    def mastery(self, as_of: date) -> Mastery:
        """Mastery as of ``as_of``, which must not precede the latest fact's date."""
        latest = self._activity.latest
        if latest is not None and as_of < latest:
            raise ValueError(
                f"as_of {as_of.isoformat()} precedes the latest fact's date {latest.isoformat()}"
            )
        evidence = self._evidence_part()
        consistency = self._activity.consistency(as_of)
        components = evidence.scores(consistency)
        score = evidence.score(consistency)
        topics = {name: self._topics[name].mastery(consistency) for name in sorted(self._topics)}
        return Mastery(
            as_of=as_of,
            score=score,
            level=level_for(score),
            components=components,
            breakdown=evidence.breakdown(consistency),
            evidence=EvidenceCounts(
                completion=self._counts[Component.COMPLETION],
                quiz=self._counts[Component.QUIZ],
                quality=self._counts[Component.QUALITY],
                consistency=self._counts[Component.CONSISTENCY],
                activity_days=len(self._activity.dates),
            ),
            topics=topics,
            event_count=self.event_count,
            last_event_at=self._last_event_at,
            recommendations=_recommendations(components, topics),
            learning_path=_learning_path(components),
        )

    def _quality_mean(self) -> Ratio:
        if self._quality_memo is None:
            self._quality_memo = _mean([s.value for s in self._quality])
        return self._quality_memo

    def _evidence_part(self) -> _EvidencePart:
        if self._evidence_memo is None:
            self._evidence_memo = _EvidencePart.of(
                completion=_capped_ratio(
                    self._completion_weighted_tenths, 10 * self._completion_total
                ),
                quiz=_ratio(self._quiz_weighted_tenths, 10 * self._quiz_total),
                quality=self._quality_mean(),
            )
        return self._evidence_memo

    def to_state(self) -> dict[str, Any]:
        """A canonical JSON-compatible form: equal ledgers give equal states."""
        return {
            "version": _STATE_VERSION,
            "counts": {c.value: self._counts[c] for c in Component},
            "last_event_at": self._last_event_at.isoformat() if self._last_event_at else None,
            "activity_dates": [d.isoformat() for d in sorted(self._activity.dates)],
            "quality": [s.to_state() for s in self._quality],
            "topics": {name: self._topics[name].to_state() for name in sorted(self._topics)},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MasteryLedger:
        if state.get("version") != _STATE_VERSION:
            # Version 1 left activity-marker-only topics out and kept no topic counts: read, it
            # would be silently wrong. Migration 0004 deletes the stored snapshots holding it.
            raise ValueError(
                f"unknown mastery ledger state version {state.get('version')!r} "
                f"(this code reads {_STATE_VERSION}; `mastery migrate` deletes stale snapshots)"
            )
        ledger = cls()
        ledger._counts = {c: int(state["counts"][c.value]) for c in Component}
        last_event_at = state["last_event_at"]
        ledger._last_event_at = datetime.fromisoformat(last_event_at) if last_event_at else None
        for day in state["activity_dates"]:
            ledger._activity.add(date.fromisoformat(day))
        ledger._quality = sorted(
            (_QualitySample.from_state(s) for s in state["quality"]), key=lambda s: s.key
        )
        for name, topic_state in state["topics"].items():
            topic = _TopicLedger.from_state(topic_state)
            ledger._topics[name] = topic
            ledger._quiz_weighted_tenths += topic.quiz_weighted_tenths
            ledger._quiz_total += topic.quiz_total
            if topic.completion is not None:
                ledger._completion_weighted_tenths += topic.completion.weighted_tenths
                ledger._completion_total += topic.completion.total
        return ledger

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MasteryLedger):
            return NotImplemented
        return self.to_state() == other.to_state()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MasteryLedger(events={self.event_count}, topics={sorted(self._topics)})"


def _check_evidence(fact: LearningFact) -> None:
    """Refuse evidence the formula cannot score; ingest validation should already have."""
    match fact.evidence:
        case CompletionEvidence(total_exercises=total, completed_exercises=completed):
            valid = total >= 1 and 0 <= completed <= total
            valid = valid and fact.evidence.difficulty in DIFFICULTY_TENTHS
        case QuizEvidence(total_questions=total, correct_answers=correct, attempts=attempts):
            valid = total >= 1 and 0 <= correct <= total and attempts >= 1
        case QualityEvidence(avg_code_quality=a, correctness=b, efficiency=c):
            valid = all(0.0 <= x <= 1.0 for x in (a, b, c))
        case _:
            valid = True
    if not valid:
        raise ValueError(f"fact {fact.event_id}: invalid evidence {fact.evidence!r}")


def _weak(components: ComponentScores) -> tuple[bool, bool, bool, bool]:
    """Which components are below the threshold, in the order completion, quiz, quality,
    consistency (plain attribute reads: this runs for every daily snapshot)."""
    return (
        components.completion < COMPONENT_THRESHOLD,
        components.quiz < COMPONENT_THRESHOLD,
        components.quality < COMPONENT_THRESHOLD,
        components.consistency < COMPONENT_THRESHOLD,
    )


def _recommendations(
    components: ComponentScores, topics: dict[str, TopicMastery]
) -> tuple[Recommendation, ...]:
    weak_components = [
        rec for rec, weak in zip(_COMPONENT_RECOMMENDATIONS, _weak(components), strict=True) if weak
    ]
    weak_topics = sorted((t.score, name) for name, t in topics.items() if t.score < TOPIC_THRESHOLD)
    return (
        *weak_components,
        *(Recommendation("practice", f"topic:{name}", "high") for _, name in weak_topics),
    )


def _learning_path(components: ComponentScores) -> tuple[str, ...]:
    path = tuple(
        step
        for steps, weak in zip(_COMPONENT_PATHS, _weak(components), strict=True)
        if weak
        for step in steps
    )
    return path or _ADVANCED_PATH


# --- over a collection of facts ------------------------------------------------------------------


def _unique(facts: Iterable[LearningFact]) -> list[LearningFact]:
    """Facts deduplicated by event id, the first of each id winning."""
    by_id: dict[str, LearningFact] = {}
    for fact in facts:
        by_id.setdefault(fact.event_id, fact)
    return list(by_id.values())


def _utc_day(fact: LearningFact) -> date:
    return _utc(fact.occurred_at).date()


def _in_order(facts: Iterable[LearningFact]) -> list[LearningFact]:
    return sorted(_unique(facts), key=lambda f: (_utc(f.occurred_at), f.event_id))


def mastery_as_of(facts: Iterable[LearningFact], as_of: date) -> Mastery:
    """Mastery from the facts dated on or before ``as_of`` (duplicated ids count once)."""
    ledger = MasteryLedger.empty()
    for fact in _unique(facts):
        if _utc_day(fact) <= as_of:
            ledger.add(fact)
    return ledger.mastery(as_of)


def daily_masteries(
    facts: Iterable[LearningFact], since: date | None = None
) -> dict[date, Mastery]:
    """Mastery as of each date with activity, ascending: the daily snapshots of SPEC §5.

    With ``since``, only dates on or after it are computed (earlier facts still count): what a
    late event dated ``since`` changes.
    """
    return DailySnapshots().update(facts, since)


class DailySnapshots:
    """``daily_masteries`` for a student whose facts keep arriving, without replaying them all.

    It keeps the ledger of every fact dated before the latest activity date it has seen. When
    new facts are dated on or after that date (the usual case: today's activity), only the facts
    from that date on are added to a copy of it; a fact dated earlier (a late event) replays
    every fact. The ledger does not depend on the order facts are added in, so the result always
    equals ``daily_masteries(facts, since)``.
    """

    __slots__ = ("_before_latest", "_latest")

    def __init__(self) -> None:
        self._latest: date | None = None
        self._before_latest = MasteryLedger.empty()  # every fact dated before ``_latest``

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
            ledger = MasteryLedger.empty()
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


def carried_forward(mastery: Mastery, as_of: date) -> Mastery:
    """``mastery`` as of a later date with no activity in between (SPEC §5): consistency
    decays by 0.9 a day; every other component, and the evidence, stay as they are."""
    days = (as_of - mastery.as_of).days
    if days < 0:
        raise ValueError(f"cannot carry mastery of {mastery.as_of} back to {as_of}")
    if days == 0:
        return mastery
    decay = 0.9**days if days < _DECAY_HORIZON_DAYS else 0.0
    components = _with_consistency(mastery.components, mastery.components.consistency * decay)
    topics = {
        name: _scored_topic(
            _with_consistency(topic.components, components.consistency), topic.evidence
        )
        for name, topic in mastery.topics.items()
    }
    return _assembled(mastery, as_of, components, topics)


def mastery_from_document(document: dict[str, Any]) -> Mastery:
    """The Mastery a ``to_document(exact=True)`` result stands for, unrounded (from its
    ``exact`` part). Raises ``OutdatedDocumentError`` for a document written by an older
    version, which would be silently wrong (read models are rebuilt from the events)."""
    exact = document["exact"]
    if exact.get("version") != DOCUMENT_VERSION:
        raise OutdatedDocumentError(exact.get("version"))
    components = ComponentScores(**exact["components"])
    topics = {
        name: _scored_topic(
            ComponentScores(
                parts["completion"], parts["quiz"], parts["quality"], components.consistency
            ),
            ComponentCounts(*parts["evidence"]),
        )
        for name, parts in exact["topics"].items()
    }
    last_event_at = document.get("last_event_at")
    evidence = EvidenceCounts(**document["evidence"])
    mastery = Mastery(
        as_of=date.fromisoformat(document["as_of"]),
        score=0.0,
        level=LOWEST_LEVEL,
        components=components,
        breakdown=components,
        evidence=evidence,
        topics=topics,
        event_count=int(document["event_count"]),
        last_event_at=datetime.fromisoformat(last_event_at) if last_event_at else None,
        recommendations=(),
        learning_path=(),
        formula=str(document.get("formula", FORMULA)),
    )
    return _assembled(mastery, mastery.as_of, components, topics)


def _with_consistency(components: ComponentScores, consistency: float) -> ComponentScores:
    return ComponentScores(components.completion, components.quiz, components.quality, consistency)


def _weighted_score(components: ComponentScores) -> float:
    return sum(WEIGHTS[c.value] * components.of(c) for c in Component)


def _scored_topic(components: ComponentScores, evidence: ComponentCounts) -> TopicMastery:
    score = _weighted_score(components)
    return TopicMastery(
        score=score, level=level_for(score), components=components, evidence=evidence
    )


def _assembled(
    mastery: Mastery, as_of: date, components: ComponentScores, topics: dict[str, TopicMastery]
) -> Mastery:
    score = _weighted_score(components)
    breakdown = ComponentScores(*(WEIGHTS[c.value] * components.of(c) for c in Component))
    return Mastery(
        as_of=as_of,
        score=score,
        level=level_for(score),
        components=components,
        breakdown=breakdown,
        evidence=mastery.evidence,
        topics=topics,
        event_count=mastery.event_count,
        last_event_at=mastery.last_event_at,
        recommendations=_recommendations(components, topics),
        learning_path=_learning_path(components),
        formula=mastery.formula,
    )


def timeline(facts: Iterable[LearningFact]) -> list[tuple[LearningFact, Mastery]]:
    """Replay: each fact in (occurred_at, event_id) order with the mastery just after it."""
    ledger = MasteryLedger.empty()
    steps: list[tuple[LearningFact, Mastery]] = []
    for fact in _in_order(facts):
        ledger.add(fact)
        steps.append((fact, ledger.mastery(_utc_day(fact))))
    return steps


# --- prediction ----------------------------------------------------------------------------------


def predict(
    snapshots: Sequence[tuple[date, float]], current_score: float, as_of: date, days: int = 7
) -> Prediction:
    """SPEC §4 prediction from the daily snapshots (date, mastery score).

    The slope is fitted exactly on the scores read as the decimals they were written as, so a
    rise of exactly 0.001 a day is ``stable``. ``intervention_needed`` compares the predicted
    score as exposed (rounded to 3 decimals), so it never contradicts the number shown.
    """
    if not 1 <= days <= 90:
        raise ValueError(f"days must be within 1..90, got {days}")
    points = sorted((day, score) for day, score in snapshots if day <= as_of)
    if len(points) < PREDICTION_MIN_SNAPSHOTS:
        return Prediction(None, 0.0, "insufficient_data", intervention_needed=False, days=days)
    slope = _least_squares_slope(points[-PREDICTION_WINDOW:])
    projected = _decimal(current_score) + slope * days
    predicted = _rounded(float(min(Fraction(1), max(Fraction(0), projected))))
    return Prediction(
        predicted_score=predicted,
        confidence=_rounded(min(0.9, len(points) / 10)),
        trend=_trend(slope),
        intervention_needed=predicted < 0.5,
        days=days,
    )


def _least_squares_slope(points: Sequence[tuple[date, float]]) -> Fraction:
    origin = points[0][0].toordinal()
    xs = [day.toordinal() - origin for day, _ in points]
    ys = [_decimal(score) for _, score in points]
    n = len(points)
    sum_x, sum_y = sum(xs), sum(ys, Fraction(0))
    denominator = n * sum(x * x for x in xs) - sum_x * sum_x
    if denominator == 0:
        return Fraction(0)
    numerator = n * sum((x * y for x, y in zip(xs, ys, strict=True)), Fraction(0)) - sum_x * sum_y
    return numerator / denominator


def _trend(slope: Fraction) -> str:
    if slope > TREND_THRESHOLD:
        return "improving"
    if slope < -TREND_THRESHOLD:
        return "declining"
    return "stable"


class OutdatedDocumentError(ValueError):
    def __init__(self, version: object) -> None:
        super().__init__(
            f"read-model document version {version!r} is not {DOCUMENT_VERSION}: "
            "rebuild the read models (mastery projections rebuild)"
        )
