"""Predictive validity (``generations evaluate``, SPEC §4b): how well each formula's predictor
foretells a student's next answers, scored by AUC and RMSE over a stream of histories.

A quiz event of k correct answers out of n counts as n answers (k right, n - k wrong) sharing
the one prediction made from the student's earlier events: weights, never n rows.

**AUC** is exact, ties counted half: the accumulator keeps, per distinct prediction value, how
many right and wrong answers got it, and sums over the values in order (integers throughout,
one correctly rounded division at the end). Its memory is bounded: past ``max_values``
distinct values (2^16 overall, 2^10 per topic) the counts fold into ``max_values`` equal bins
of [0, 1] and AUC is that of the binned predictions, which can only differ by treating two
predictions within 1/max_values of each other as tied; ``exact`` says whether it happened. A
fixed histogram alone would tie every close pair from the start; distinct values alone could
grow with the number of answers (``bkt-v1`` gives a new value for almost every history).

**RMSE** is sqrt(Σ (y - p)^2 / answers), with y = 1 for a right answer and 0 for a wrong one,
the sum exact (integers), so both figures are the same whatever order students come in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.facts import LearningFact, QuizEvidence
from domain.mastery.formulas import Formula
from domain.mastery.snapshots import step_key

OVERALL_VALUES = 1 << 16
TOPIC_VALUES = 1 << 10
MIN_TOPIC_ANSWERS = 100
"""A topic is scored on its own from this many answers with both outcomes among them: below
it, AUC's standard error (about 0.05 at 100 answers) would swamp the differences between
formulas."""


class AucCounts:
    """Right and wrong answers per prediction value; AUC from them (see the module doc)."""

    __slots__ = ("_counts", "exact", "max_values")

    def __init__(self, max_values: int = OVERALL_VALUES) -> None:
        self.max_values = max_values
        self.exact = True
        self._counts: dict[float, list[int]] = {}  # value (or bin) -> [right, wrong]

    def add(self, prediction: float, right: int, wrong: int) -> None:
        key = prediction if self.exact else self._bin(prediction)
        counts = self._counts.get(key)
        if counts is None:
            counts = self._counts[key] = [0, 0]
            if self.exact and len(self._counts) > self.max_values:
                self._fold()
                self.add(prediction, right, wrong)
                return
        counts[0] += right
        counts[1] += wrong

    def _bin(self, prediction: float) -> float:
        return float(min(self.max_values - 1, int(prediction * self.max_values)))

    def _fold(self) -> None:
        """From distinct values to bins, keeping every count."""
        self.exact = False
        folded: dict[float, list[int]] = {}
        for value, (right, wrong) in self._counts.items():
            if right or wrong:
                counts = folded.setdefault(self._bin(value), [0, 0])
                counts[0] += right
                counts[1] += wrong
        self._counts = folded

    def __len__(self) -> int:
        """How many values (or bins) are kept: at most ``max_values``."""
        return len(self._counts)

    @property
    def right(self) -> int:
        return sum(c[0] for c in self._counts.values())

    @property
    def wrong(self) -> int:
        return sum(c[1] for c in self._counts.values())

    def auc(self) -> float | None:
        """The probability that a right answer got a higher prediction than a wrong one (ties
        half); None without both a right and a wrong answer."""
        doubled = 0  # 2 x (pairs ranked right + half the tied pairs)
        wrong_below = 0
        for value in sorted(self._counts):
            right, wrong = self._counts[value]
            doubled += right * (2 * wrong_below + wrong)
            wrong_below += wrong
        right_total = self.right
        if not right_total or not wrong_below:
            return None
        return doubled / (2 * right_total * wrong_below)


@dataclass(slots=True)
class SquaredError:
    """Σ (y - p)^2 over answers, summed exactly (each answer's float term as an integer
    multiple of 2^-1074), so the result does not depend on the order students are read in."""

    scaled_total: int = 0
    answers: int = 0

    def add(self, prediction: float, right: int, wrong: int) -> None:
        term = right * (1.0 - prediction) ** 2 + wrong * prediction**2
        numerator, denominator = term.as_integer_ratio()
        self.scaled_total += numerator << (_SCALE - denominator.bit_length() + 1)
        self.answers += right + wrong

    @property
    def total(self) -> float:
        return self.scaled_total / (1 << _SCALE)

    def rmse(self) -> float | None:
        if not self.answers:
            return None
        return math.sqrt(self.scaled_total / (self.answers << _SCALE))


_SCALE = 1074
"""Every finite float is an integer multiple of 2^-1074."""


@dataclass(slots=True)
class Score:
    """One formula's predictions over a set of answers."""

    auc: AucCounts = field(default_factory=AucCounts)
    error: SquaredError = field(default_factory=SquaredError)

    def add(self, prediction: float, right: int, wrong: int) -> None:
        self.auc.add(prediction, right, wrong)
        self.error.add(prediction, right, wrong)

    def to_document(self) -> dict[str, Any]:
        return {
            "answers": self.error.answers,
            "correct": self.auc.right,
            "auc": self.auc.auc(),
            "rmse": self.error.rmse(),
            "auc_exact": self.auc.exact,
        }


@dataclass(slots=True)
class Scoreboard:
    """Every formula's score overall and per topic, fed one student's history at a time."""

    formulas: Sequence[Formula]
    students: int = 0
    quiz_events: int = 0
    overall: dict[str, Score] = field(default_factory=dict)
    topics: dict[str, dict[str, Score]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.overall = {f.name: Score() for f in self.formulas}

    def add_history(self, facts: Iterable[LearningFact]) -> None:
        """One student's facts (any order, each id once): every quiz fact, in (time, event id)
        order, predicted by each formula from the quiz facts before it."""
        quizzes = sorted((f for f in facts if isinstance(f.evidence, QuizEvidence)), key=step_key)
        self.students += 1
        predictors = [(f.name, f.predictor()) for f in self.formulas]
        for fact in quizzes:
            evidence = fact.evidence
            assert isinstance(evidence, QuizEvidence)  # filtered above
            right = evidence.correct_answers
            wrong = evidence.total_questions - right
            by_topic = self.topics.get(fact.topic)
            if by_topic is None:
                by_topic = self.topics[fact.topic] = {
                    f.name: Score(AucCounts(TOPIC_VALUES)) for f in self.formulas
                }
            for name, predictor in predictors:
                prediction = predictor.probability(fact.topic)
                self.overall[name].add(prediction, right, wrong)
                by_topic[name].add(prediction, right, wrong)
                predictor.observe(fact.topic, evidence)
            self.quiz_events += 1

    def to_document(self, min_topic_answers: int = MIN_TOPIC_ANSWERS) -> dict[str, Any]:
        """The result: overall, and per topic with enough answers (both outcomes present)."""
        topics = {}
        for topic in sorted(self.topics):
            scores = self.topics[topic]
            first = next(iter(scores.values()))
            enough = first.error.answers >= min_topic_answers
            if enough and first.auc.right and first.auc.right < first.error.answers:
                topics[topic] = {name: score.to_document() for name, score in scores.items()}
        return {
            "formulas": [f.name for f in self.formulas],
            "students": self.students,
            "quiz_events": self.quiz_events,
            "overall": {name: score.to_document() for name, score in self.overall.items()},
            "min_topic_answers": min_topic_answers,
            "topics": topics,
            "topics_too_small": len(self.topics) - len(topics),
        }
