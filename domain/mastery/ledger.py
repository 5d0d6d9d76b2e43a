"""The ledger: an order-independent, bounded accumulator of a student's facts, and the exact
mastery it gives as of a date. It is the StudentMastery aggregate's state."""

from __future__ import annotations

from datetime import UTC, date, datetime
from fractions import Fraction
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
from domain.mastery.activity import ActivityRuns
from domain.mastery.formulas import DEFAULT_FORMULA, Formula
from domain.mastery.ratio import ZERO, Ratio, capped_ratio, mean, ratio
from domain.mastery.recommendations import learning_path, recommendations
from domain.mastery.rules import level_for, quiz_confidence_tenths
from domain.mastery.samples import CompletionSample, QualitySample, keep_latest
from domain.mastery.scoring import EvidencePart
from domain.mastery.topic_ledger import TopicLedger
from domain.mastery.values import EvidenceCounts, Mastery, TopicMastery

# 2: topics include activity-marker-only topics and keep event counts per component.
_STATE_VERSION = 2


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

    Under a formula whose quiz rule is tracked (``bkt-v1``), each topic with quiz facts also
    keeps its quiz track (every quiz fact of the topic, in order: a late fact refolds from its
    place), and the student's quiz is the exact mean of the topics' values, kept as a running
    exact sum. ``seed-v1`` (the aggregate's) keeps none of it.
    """

    __slots__ = (
        "_activity",
        "_completion_total",
        "_completion_weighted_tenths",
        "_counts",
        "_evidence_memo",
        "_formula",
        "_last_event_at",
        "_quality",
        "_quality_memo",
        "_quiz_total",
        "_quiz_weighted_tenths",
        "_topics",
        "_traced_sum",
        "_traced_topics",
    )

    def __init__(self, formula: Formula = DEFAULT_FORMULA) -> None:
        self._formula = formula
        self._topics: dict[str, TopicLedger] = {}
        self._quality: list[QualitySample] = []
        self._activity = ActivityRuns()
        self._counts: dict[Component, int] = dict.fromkeys(Component, 0)
        self._last_event_at: datetime | None = None
        self._completion_weighted_tenths = 0  # Σ over topics' latest completion facts
        self._completion_total = 0
        self._quiz_weighted_tenths = 0
        self._quiz_total = 0
        self._evidence_memo: EvidencePart | None = None  # derived; reset by every add
        self._quality_memo: Ratio | None = None  # derived; reset by every quality fact
        self._traced_sum = Fraction(0)  # Σ over topics with a quiz track of the track's value
        self._traced_topics = 0  # how many topics have a quiz track

    @classmethod
    def empty(cls, formula: Formula = DEFAULT_FORMULA) -> MasteryLedger:
        return cls(formula)

    @property
    def formula(self) -> Formula:
        return self._formula

    def copy(self) -> MasteryLedger:
        """An independent ledger in the same state (adding to one leaves the other as it is)."""
        twin = MasteryLedger(self._formula)
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
        twin._traced_sum = self._traced_sum
        twin._traced_topics = self._traced_topics
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
        at = utc(fact.occurred_at)
        _check_evidence(fact)
        match fact.evidence:
            case CompletionEvidence() as evidence:
                self._add_completion(fact.topic, at, fact.event_id, evidence)
            case QuizEvidence() as evidence:
                self._add_quiz(fact.topic, at, fact.event_id, evidence)
            case QualityEvidence() as evidence:
                self._add_quality(fact.topic, at, fact.event_id, evidence)
            case ActivityEvidence():
                self._add_marker(fact.topic)
        self._counts[fact.component] += 1
        self._activity.add(at.date())
        if self._last_event_at is None or at > self._last_event_at:
            self._last_event_at = at

    def _topic(self, topic: str) -> TopicLedger:
        """The topic's ledger, for a fact that may change completion, quiz or quality (of the
        topic and of the student)."""
        ledger = self._topics.get(topic)
        if ledger is None:
            ledger = self._topics[topic] = TopicLedger()
        else:
            ledger.memo = None
            ledger.evidence_memo = None
        self._evidence_memo = None
        return ledger

    def _add_marker(self, topic: str) -> None:
        """An activity marker changes only its topic's counts (and the student's activity)."""
        ledger = self._topics.get(topic)
        if ledger is None:
            self._topics[topic] = TopicLedger(consistency_count=1)
        else:
            ledger.consistency_count += 1
            ledger.memo = None

    def _add_completion(
        self, topic: str, at: datetime, event_id: str, evidence: CompletionEvidence
    ) -> None:
        sample = CompletionSample(
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

    def _add_quiz(self, topic: str, at: datetime, event_id: str, evidence: QuizEvidence) -> None:
        weighted = evidence.correct_answers * quiz_confidence_tenths(evidence.attempts)
        ledger = self._topic(topic)
        ledger.quiz_count += 1
        ledger.quiz_weighted_tenths += weighted
        ledger.quiz_total += evidence.total_questions
        self._quiz_weighted_tenths += weighted
        self._quiz_total += evidence.total_questions
        if self._formula.quiz.tracked:
            self._add_traced(ledger, at, event_id, evidence)

    def _add_traced(
        self, ledger: TopicLedger, at: datetime, event_id: str, evidence: QuizEvidence
    ) -> None:
        track = ledger.quiz_track
        if track is None:
            track = ledger.quiz_track = self._formula.quiz.track()
            self._traced_topics += 1
            before = Fraction(0)
        else:
            before = Fraction(track.known())
        track.add((at, event_id), evidence.correct_answers, evidence.total_questions)
        self._traced_sum += Fraction(track.known()) - before

    def _add_quality(
        self, topic: str, at: datetime, event_id: str, evidence: QualityEvidence
    ) -> None:
        sample = QualitySample(
            at, event_id, evidence.avg_code_quality, evidence.correctness, evidence.efficiency
        )
        ledger = self._topic(topic)
        ledger.quality_count += 1
        keep_latest(ledger.quality, sample)
        ledger.quality_memo = None
        keep_latest(self._quality, sample)
        self._quality_memo = None

    def mastery(self, as_of: date) -> Mastery:
        """Mastery as of ``as_of``, which must not precede the latest fact's date."""
        self._check_as_of(as_of)
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
            recommendations=recommendations(components, topics),
            learning_path=learning_path(components),
            formula=self._formula.name,
        )

    def score(self, as_of: date) -> float:
        """The overall score as of ``as_of`` alone, equal to ``mastery(as_of).score``: a replay
        step needs it after every fact, without the topics and recommendations ``mastery``
        builds for each of them (which would make a replay cost events x topics)."""
        self._check_as_of(as_of)
        return self._evidence_part().score(self._activity.consistency(as_of))

    def topic_mastery(self, topic: str, as_of: date) -> TopicMastery:
        """One topic's mastery as of ``as_of``, equal to ``mastery(as_of).topics[topic]``."""
        self._check_as_of(as_of)
        return self._topics[topic].mastery(self._activity.consistency(as_of))

    def _check_as_of(self, as_of: date) -> None:
        latest = self._activity.latest
        if latest is not None and as_of < latest:
            raise ValueError(
                f"as_of {as_of.isoformat()} precedes the latest fact's date {latest.isoformat()}"
            )

    def _quality_mean(self) -> Ratio:
        if self._quality_memo is None:
            self._quality_memo = mean([s.value for s in self._quality])
        return self._quality_memo

    def _evidence_part(self) -> EvidencePart:
        if self._evidence_memo is None:
            self._evidence_memo = EvidencePart.of(
                completion=capped_ratio(
                    self._completion_weighted_tenths, 10 * self._completion_total
                ),
                quiz=self._quiz(),
                quality=self._quality_mean(),
            )
        return self._evidence_memo

    def _quiz(self) -> Ratio:
        if not self._formula.quiz.tracked:
            return ratio(self._quiz_weighted_tenths, 10 * self._quiz_total)
        if not self._traced_topics:
            return ZERO
        return (self._traced_sum.numerator, self._traced_sum.denominator * self._traced_topics)

    def to_state(self) -> dict[str, Any]:
        """A canonical JSON-compatible form: equal ledgers give equal states. (A ledger of
        another formula than seed-v1 names it and lists each topic's quiz track; only seed-v1
        ledgers are stored, as the aggregate's state.)"""
        state = self._seed_state()
        if self._formula.name != DEFAULT_FORMULA.name:
            state["formula"] = self._formula.name
            state["quiz_tracks"] = {
                name: topic.quiz_track.to_state()
                for name, topic in sorted(self._topics.items())
                if topic.quiz_track is not None
            }
        return state

    def _seed_state(self) -> dict[str, Any]:
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
        if "formula" in state:
            raise ValueError(f"only {DEFAULT_FORMULA.name} ledgers are read from a state")
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
            (QualitySample.from_state(s) for s in state["quality"]), key=lambda s: s.key
        )
        for name, topic_state in state["topics"].items():
            topic = TopicLedger.from_state(topic_state)
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


def utc(moment: datetime) -> datetime:
    """A fact's time in UTC; a naive time is refused (its date would depend on the machine)."""
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: facts need a UTC time")
    return moment.astimezone(UTC)
