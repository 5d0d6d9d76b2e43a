"""The values a mastery is made of, and the documents they are written as.

Scores are kept unrounded; ``to_document`` rounds them for display (``rules.rounded``) and the
``exact`` part of a document keeps them unrounded, so that a later date can be derived without
rounding drift (``carry_forward.mastery_from_document``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from domain.facts import Component
from domain.mastery.rules import FORMULA, rounded
from domain.timestamps import format_timestamp

DOCUMENT_VERSION = 2
"""Version of a read-model document's ``exact`` part; 2 added activity-marker-only topics and
topic evidence. ``mastery_from_document`` refuses other versions."""


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
        # ``rules.rounded`` written out: this runs for every score of every daily snapshot.
        return {
            "completion": round(self.completion, 3),
            "quiz": round(self.quiz, 3),
            "quality": round(self.quality, 3),
            "consistency": round(self.consistency, 3),
        }

    def unrounded(self) -> dict[str, float]:
        return {
            "completion": self.completion,
            "quiz": self.quiz,
            "quality": self.quality,
            "consistency": self.consistency,
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
class EvidenceCounts(ComponentCounts):
    """How many facts of each component, and on how many distinct UTC dates there was activity:
    a student's evidence, written as a topic's with ``activity_days`` added."""

    activity_days: int

    def to_document(self) -> dict[str, int]:
        # Named, not super(): a slots dataclass is a new class, which zero-argument super() misses.
        document = ComponentCounts.to_document(self)
        document["activity_days"] = self.activity_days
        return document


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
            "mastery_score": rounded(self.score),
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
            "mastery_score": rounded(self.score),
            "level": self.level,
            "components": self.components.to_document(),
            "breakdown": self.breakdown.to_document(),
            "evidence": self.evidence.to_document(),
        }
        if with_topics:
            document["topics"] = {name: t.to_document() for name, t in self.topics.items()}
        document.update(
            event_count=self.event_count,
            last_event_at=format_timestamp(self.last_event_at) if self.last_event_at else None,
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
            "components": self.components.unrounded(),
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
