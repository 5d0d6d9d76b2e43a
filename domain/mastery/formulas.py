"""The registry of mastery formulas (SPEC §4): each a named, versioned, pure policy.

A formula decides how a student's facts become mastery; read models record the formula that
produced them, so a new one is rolled out as a generation of read models built beside the live
one (SPEC §4b). ``seed-v1`` is the default, and the only formula of the write side (the
aggregate's ledger); the others matter for read models, replays and ``generations evaluate``.

Formulas differ today in their quiz component, a ``QuizRule``:

- ``LifetimeRatio`` (``seed-v1``): Σ correct x confidence / Σ questions, kept by the ledger as
  exact integer sums (its fast path: nothing here is called per fact);
- ``TracedQuiz`` (``bkt-v1``): a per-topic fold over the topic's quiz events in (time, event id)
  order (``knowledge_tracing.KnowledgeTrack``); the student's quiz is the mean over the topics
  with quiz evidence. Scores stay exact: each topic's value is a float whose own value enters
  the exact weighted sum.

Each rule also makes its *predictor* of the next answer (SPEC §4), which ``generations
evaluate`` scores against the store's history.

**Adding a formula** touches this module and its tests only: write its ``QuizRule`` here if the
quiz rule is new (a ``track`` the ledger keeps per topic, and a ``predictor``), or reuse one
with other parameters, and add a ``Formula`` to ``FORMULAS``. The ledger, the projection, the
replay, the queries and evaluate take any registered formula. (A formula changing another
component than quiz would first need that component to become a rule like ``QuizRule``.)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from domain.facts import QuizEvidence
from domain.mastery.knowledge_tracing import (
    BKT_V1_PARAMETERS,
    KnowledgeTracing,
    KnowledgeTrack,
)
from domain.mastery.rules import FORMULA as SEED_V1_NAME
from domain.mastery.rules import quiz_confidence_tenths

NO_EVIDENCE_PROBABILITY = 0.5
"""``seed-v1``'s prediction for a topic without quiz evidence yet (SPEC §4)."""


class UnknownFormulaError(ValueError):
    """A formula name no formula in the registry has."""

    def __init__(self, name: str) -> None:
        known = ", ".join(sorted(FORMULAS))
        super().__init__(f"unknown formula {name!r}; known formulas: {known}")
        self.name = name


class Predictor(Protocol):
    """A formula's predictor for one student: fed their quiz events in (time, event id) order,
    it gives the probability of a correct answer to a question of a topic before each one."""

    def probability(self, topic: str) -> float: ...

    def observe(self, topic: str, evidence: QuizEvidence) -> None: ...


class QuizRule(ABC):
    """How a formula scores the quiz component, and predicts the next answer.

    ``tracked`` False: the ledger's exact lifetime ratio (``seed-v1``'s rule, its fast path).
    ``tracked`` True: the ledger keeps a ``track()`` per topic with quiz events and scores a
    topic's quiz as the track's value, the student's as the mean over those topics.
    """

    tracked: bool = False

    def track(self) -> KnowledgeTrack:
        raise NotImplementedError(f"{type(self).__name__} keeps no per-topic track")

    @abstractmethod
    def predictor(self) -> Predictor: ...


class LifetimeRatio(QuizRule):
    """SPEC §4 ``seed-v1``: quiz_t = Σ correct x conf / Σ total, conf in tenths."""

    def predictor(self) -> Predictor:
        return _RatioPredictor()


@dataclass(frozen=True, slots=True)
class TracedQuiz(QuizRule):
    """SPEC §4 ``bkt-v1``: Bayesian Knowledge Tracing per topic."""

    model: KnowledgeTracing
    tracked: bool = field(default=True, init=False)

    def track(self) -> KnowledgeTrack:
        return KnowledgeTrack(self.model)

    def predictor(self) -> Predictor:
        return _TracingPredictor(self.model)


class _RatioPredictor:
    """quiz_t from the topic's earlier quiz events; 0.5 before the first."""

    __slots__ = ("_sums",)

    def __init__(self) -> None:
        self._sums: dict[str, tuple[int, int]] = {}  # topic -> (Σ correct x conf tenths, Σ n)

    def probability(self, topic: str) -> float:
        weighted, total = self._sums.get(topic, (0, 0))
        return weighted / (10 * total) if total else NO_EVIDENCE_PROBABILITY

    def observe(self, topic: str, evidence: QuizEvidence) -> None:
        weighted, total = self._sums.get(topic, (0, 0))
        conf = quiz_confidence_tenths(evidence.attempts)
        self._sums[topic] = (
            weighted + evidence.correct_answers * conf,
            total + evidence.total_questions,
        )


class _TracingPredictor:
    """p_t (1 - S) + (1 - p_t) G, p_t from the topic's earlier quiz events (P0 before any)."""

    __slots__ = ("_model", "_states")

    def __init__(self, model: KnowledgeTracing) -> None:
        self._model = model
        self._states: dict[str, float] = {}  # topic -> log(1 - p_t)

    def probability(self, topic: str) -> float:
        state = self._states.get(topic, self._model.initial)
        return self._model.correct_probability(self._model.known(state))

    def observe(self, topic: str, evidence: QuizEvidence) -> None:
        state = self._states.get(topic, self._model.initial)
        self._states[topic] = self._model.updated(
            state, evidence.correct_answers, evidence.total_questions
        )


@dataclass(frozen=True, slots=True)
class Formula:
    """A mastery formula: its name, a one-line summary for people, and its quiz rule."""

    name: str
    summary: str
    quiz: QuizRule = field(default_factory=LifetimeRatio, compare=False)

    def predictor(self) -> Predictor:
        """A fresh predictor of the next answer, for one student's history."""
        return self.quiz.predictor()


SEED_V1 = Formula(
    SEED_V1_NAME,
    "40% completion, 30% quiz (lifetime ratio of correct answers), 20% code quality, "
    "10% consistency",
)
BKT_V1 = Formula(
    "bkt-v1",
    "as seed-v1, but quiz is what Bayesian Knowledge Tracing says the student knows now "
    "(per topic; P0 0.3, slip 0.1, guess 0.2, learn 0.1)",
    TracedQuiz(BKT_V1_PARAMETERS),
)

FORMULAS: Mapping[str, Formula] = MappingProxyType({f.name: f for f in (SEED_V1, BKT_V1)})
DEFAULT_FORMULA = SEED_V1


def formula_named(name: str) -> Formula:
    """The registered formula called ``name``; ``UnknownFormulaError`` otherwise."""
    try:
        return FORMULAS[name]
    except KeyError:
        raise UnknownFormulaError(name) from None
