"""Hypothesis strategies for learning facts and component scores, shared by the tests of the
mastery package's modules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import strategies as st

from domain.facts import (
    ActivityEvidence,
    Evidence,
    LearningFact,
    QualityEvidence,
)
from domain.mastery import ComponentScores
from tests.unit.domain.test_mastery import completion_evidence, quiz_evidence

DAY_1 = date(2026, 1, 1)


def at(day_index: int, hour: int = 12) -> datetime:
    """Noon (or ``hour``) UTC of day ``day_index``, day 0 being 2026-01-01."""
    return datetime.combine(DAY_1 + timedelta(days=day_index), datetime.min.time(), UTC).replace(
        hour=hour
    )


unit_floats = st.one_of(
    st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.6, 0.7, 0.75, 0.9, 1.0]),
    st.floats(0.0, 1.0),
)

component_scores = st.builds(ComponentScores, unit_floats, unit_floats, unit_floats, unit_floats)


evidences: st.SearchStrategy[Evidence] = st.one_of(
    completion_evidence(),
    quiz_evidence(),
    st.builds(QualityEvidence, unit_floats, unit_floats, unit_floats),
    st.builds(ActivityEvidence, st.none()),
)

learning_facts = st.builds(
    LearningFact,
    event_id=st.text(alphabet="abcdef0123", min_size=1, max_size=5),
    occurred_at=st.builds(at, st.integers(0, 20), st.sampled_from([0, 12, 23])),
    topic=st.sampled_from(["general", "python.loops", "sql"]),
    evidence=evidences,
)

fact_lists = st.lists(learning_facts, min_size=1, max_size=30, unique_by=lambda f: f.event_id)


def last_day(facts: list[LearningFact]) -> date:
    return max(f.occurred_at.date() for f in facts)
