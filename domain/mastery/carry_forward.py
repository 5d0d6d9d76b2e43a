"""The float read path: a stored mastery read back from its document and carried to a later
date without its facts (SPEC §5). Every API request for current mastery takes this path.

It works on the unrounded floats a document keeps, with the weighted-score rule of
``scoring.weighted_score``; it never rounds before the document does.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from domain.mastery.recommendations import learning_path, recommendations
from domain.mastery.rules import DECAY_HORIZON_DAYS, FORMULA, LOWEST_LEVEL, level_for
from domain.mastery.scoring import scored_topic, weighted_parts, weighted_score
from domain.mastery.values import (
    DOCUMENT_VERSION,
    ComponentCounts,
    ComponentScores,
    EvidenceCounts,
    Mastery,
    TopicMastery,
)


def carried_forward(mastery: Mastery, as_of: date) -> Mastery:
    """``mastery`` as of a later date with no activity in between (SPEC §5): consistency
    decays by 0.9 a day; every other component, and the evidence, stay as they are."""
    days = (as_of - mastery.as_of).days
    if days < 0:
        raise ValueError(f"cannot carry mastery of {mastery.as_of} back to {as_of}")
    if days == 0:
        return mastery
    decay = 0.9**days if days < DECAY_HORIZON_DAYS else 0.0
    components = _with_consistency(mastery.components, mastery.components.consistency * decay)
    topics = {
        name: scored_topic(
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
        name: scored_topic(
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


class OutdatedDocumentError(ValueError):
    def __init__(self, version: object) -> None:
        super().__init__(
            f"read-model document version {version!r} is not {DOCUMENT_VERSION}: "
            "rebuild the read models (mastery projections rebuild)"
        )


def _with_consistency(components: ComponentScores, consistency: float) -> ComponentScores:
    return ComponentScores(components.completion, components.quiz, components.quality, consistency)


def _assembled(
    mastery: Mastery, as_of: date, components: ComponentScores, topics: dict[str, TopicMastery]
) -> Mastery:
    score = weighted_score(components)
    return Mastery(
        as_of=as_of,
        score=score,
        level=level_for(score),
        components=components,
        breakdown=weighted_parts(components),
        evidence=mastery.evidence,
        topics=topics,
        event_count=mastery.event_count,
        last_event_at=mastery.last_event_at,
        recommendations=recommendations(components, topics),
        learning_path=learning_path(components),
        formula=mastery.formula,
    )
