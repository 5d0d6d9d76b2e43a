"""Learning facts: the evidence a student's mastery is derived from.

A fact is one accepted learning event reduced to what the formula needs. Facts are plain,
immutable values; the formula in ``domain.mastery`` is a pure function of a set of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

DEFAULT_TOPIC = "general"

Difficulty = Literal["beginner", "intermediate", "advanced"]

# Difficulty multipliers in tenths, so completion can be computed in exact integers.
DIFFICULTY_TENTHS: dict[str, int] = {"beginner": 8, "intermediate": 10, "advanced": 12}


class Component(StrEnum):
    COMPLETION = "completion"
    QUIZ = "quiz"
    QUALITY = "quality"
    CONSISTENCY = "consistency"


@dataclass(frozen=True, slots=True)
class CompletionEvidence:
    total_exercises: int
    completed_exercises: int
    difficulty: Difficulty = "intermediate"


@dataclass(frozen=True, slots=True)
class QuizEvidence:
    total_questions: int
    correct_answers: int
    attempts: int = 1
    time_spent_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class QualityEvidence:
    avg_code_quality: float
    correctness: float
    efficiency: float


@dataclass(frozen=True, slots=True)
class ActivityEvidence:
    activity: str | None = None


Evidence = CompletionEvidence | QuizEvidence | QualityEvidence | ActivityEvidence

COMPONENT_OF: dict[type[Any], Component] = {
    CompletionEvidence: Component.COMPLETION,
    QuizEvidence: Component.QUIZ,
    QualityEvidence: Component.QUALITY,
    ActivityEvidence: Component.CONSISTENCY,
}


@dataclass(frozen=True, slots=True)
class LearningFact:
    """One accepted learning event, as the formula sees it.

    ``occurred_at`` is timezone-aware UTC. Facts are identified by ``event_id``: two facts with
    the same id are the same fact.
    """

    event_id: str
    occurred_at: datetime
    topic: str
    evidence: Evidence

    @property
    def component(self) -> Component:
        return COMPONENT_OF[type(self.evidence)]

    @property
    def day(self) -> date:
        return self.occurred_at.date()

    @property
    def order_key(self) -> tuple[datetime, str]:
        """ "Latest" orders facts by (timestamp, event_id) — SPEC §4."""
        return (self.occurred_at, self.event_id)


def evidence_from_data(component: str, data: dict[str, Any]) -> Evidence:
    """Build the evidence value of a component from an already-validated ``data`` object."""
    match Component(component):
        case Component.COMPLETION:
            return CompletionEvidence(**data)
        case Component.QUIZ:
            return QuizEvidence(**data)
        case Component.QUALITY:
            return QualityEvidence(**data)
        case Component.CONSISTENCY:
            return ActivityEvidence(**data)
