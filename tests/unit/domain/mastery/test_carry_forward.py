"""The float read path: a mastery read back from its read-model document and carried to a later
date. Every API request for current mastery takes it (``carried_forward``,
``mastery_from_document``)."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.facts import CompletionEvidence, LearningFact, QualityEvidence, QuizEvidence
from domain.mastery import (
    FORMULA,
    ComponentCounts,
    ComponentScores,
    EvidenceCounts,
    Mastery,
    MasteryLedger,
    OutdatedDocumentError,
    carried_forward,
    level_for,
    mastery_as_of,
    mastery_from_document,
)
from domain.mastery.scoring import weighted_score
from tests.unit.domain.mastery.strategies import DAY_1, at, fact_lists, last_day


def read_back(mastery: Mastery) -> Mastery:
    """The mastery as the API reads it: its exact document through JSON, then parsed."""
    return mastery_from_document(json.loads(json.dumps(mastery.to_document(exact=True))))


def worked_example() -> list[LearningFact]:
    return [
        LearningFact("c", at(0), "python.loops", CompletionEvidence(25, 20)),
        LearningFact("q", at(1), "python.loops", QuizEvidence(10, 6)),
        LearningFact("l", at(1), "sql", QualityEvidence(0.7, 0.7, 0.7)),
    ]


def all_scores(mastery: Mastery) -> list[float]:
    values = [mastery.score, *_fields(mastery.components), *_fields(mastery.breakdown)]
    for topic in mastery.topics.values():
        values += [topic.score, *_fields(topic.components)]
    return values


def _fields(scores: ComponentScores) -> tuple[float, float, float, float]:
    return (scores.completion, scores.quiz, scores.quality, scores.consistency)


# --- mastery_from_document -----------------------------------------------------------------------


@settings(max_examples=150)
@given(fact_lists)
def test_a_document_reads_back_to_the_same_unrounded_values(facts: list[LearningFact]) -> None:
    mastery = mastery_as_of(facts, last_day(facts))
    document = mastery.to_document(exact=True)

    restored = read_back(mastery)

    assert restored.as_of == mastery.as_of
    assert restored.components == mastery.components
    assert restored.evidence == mastery.evidence
    assert restored.event_count == mastery.event_count
    assert restored.last_event_at == mastery.last_event_at
    assert restored.formula == mastery.formula == FORMULA
    assert {name: t.components for name, t in restored.topics.items()} == {
        name: t.components for name, t in mastery.topics.items()
    }
    assert {name: t.evidence for name, t in restored.topics.items()} == {
        name: t.evidence for name, t in mastery.topics.items()
    }
    assert restored.to_document(exact=True)["exact"] == document["exact"]


@settings(max_examples=150)
@given(fact_lists)
def test_a_read_back_score_is_the_float_rule_within_the_last_bits_of_the_exact_one(
    facts: list[LearningFact],
) -> None:
    mastery = mastery_as_of(facts, last_day(facts))

    restored = read_back(mastery)

    assert restored.score == weighted_score(restored.components)
    assert abs(restored.score - mastery.score) <= 2e-15
    assert restored.level == level_for(restored.score)
    for name, topic in restored.topics.items():
        assert abs(topic.score - mastery.topics[name].score) <= 2e-15
        assert topic.level == level_for(topic.score)


def test_a_document_read_back_shows_what_was_written() -> None:
    mastery = mastery_as_of(worked_example(), DAY_1 + timedelta(days=1))

    restored = read_back(mastery)

    assert restored.to_document() == mastery.to_document()
    assert restored.evidence == EvidenceCounts(1, 1, 1, 0, 2)
    assert restored.topics["sql"].evidence == ComponentCounts(0, 0, 1, 0)
    assert restored.last_event_at == datetime(2026, 1, 2, 12, tzinfo=UTC)


def test_a_document_without_topics_rendered_still_restores_them() -> None:
    mastery = mastery_as_of(worked_example(), DAY_1 + timedelta(days=1))
    document = json.loads(json.dumps(mastery.to_document(with_topics=False, exact=True)))

    restored = mastery_from_document(document)

    assert sorted(restored.topics) == ["python.loops", "sql"]
    assert restored.recommendations == mastery.recommendations


def test_an_empty_mastery_reads_back_with_no_time_and_no_topics() -> None:
    restored = read_back(MasteryLedger.empty().mastery(DAY_1))

    assert restored.last_event_at is None
    assert restored.topics == {}
    assert restored.score == 0.0
    assert restored.level == "beginner"
    assert restored.no_evidence == ("completion", "quiz", "quality", "consistency")


def test_a_document_without_a_formula_is_read_as_this_formula() -> None:
    document = mastery_as_of(worked_example(), DAY_1 + timedelta(days=1)).to_document(exact=True)
    del document["formula"]

    assert mastery_from_document(document).formula == "seed-v1"


@pytest.mark.parametrize(
    ("exact", "message"),
    [
        (
            {"version": 1},
            "read-model document version 1 is not 2: "
            "rebuild the read models (mastery projections rebuild)",
        ),
        (
            {},
            "read-model document version None is not 2: "
            "rebuild the read models (mastery projections rebuild)",
        ),
        (
            {"version": "2"},
            "read-model document version '2' is not 2: "
            "rebuild the read models (mastery projections rebuild)",
        ),
    ],
)
def test_a_document_of_another_version_is_refused(exact: dict[str, Any], message: str) -> None:
    document = mastery_as_of(worked_example(), DAY_1 + timedelta(days=1)).to_document(exact=True)
    document["exact"] = exact

    with pytest.raises(OutdatedDocumentError) as refused:
        mastery_from_document(document)

    assert str(refused.value) == message
    assert isinstance(refused.value, ValueError)


def test_a_document_with_no_exact_part_is_a_key_error() -> None:
    document = mastery_as_of(worked_example(), DAY_1).to_document()

    with pytest.raises(KeyError, match="exact"):
        mastery_from_document(document)


def test_a_mastery_exactly_on_a_level_boundary_keeps_its_level_when_read_back() -> None:
    facts = [
        LearningFact("c", at(0), "general", CompletionEvidence(10, 10)),
        LearningFact("q", at(0), "general", QuizEvidence(4, 4)),
        LearningFact("l", at(0), "general", QualityEvidence(0.5, 0.5, 0.5)),
    ]
    mastery = mastery_as_of(facts, DAY_1)

    assert (mastery.score, mastery.level) == (0.9, "expert")
    assert read_back(mastery).level == "expert"


# --- carried_forward -----------------------------------------------------------------------------


def test_carrying_to_the_same_date_returns_the_mastery_itself() -> None:
    mastery = read_back(mastery_as_of(worked_example(), DAY_1 + timedelta(days=1)))

    assert carried_forward(mastery, mastery.as_of) is mastery


def test_a_mastery_cannot_be_carried_back() -> None:
    mastery = mastery_as_of(worked_example(), date(2026, 1, 3))

    with pytest.raises(ValueError, match=r"^cannot carry") as refused:
        carried_forward(mastery, date(2026, 1, 2))

    assert str(refused.value) == "cannot carry mastery of 2026-01-03 back to 2026-01-02"


def test_carrying_forward_decays_consistency_only() -> None:
    mastery = read_back(mastery_as_of(worked_example(), DAY_1 + timedelta(days=1)))

    later = carried_forward(mastery, mastery.as_of + timedelta(days=3))

    assert later.as_of == date(2026, 1, 5)
    assert later.components == ComponentScores(0.8, 0.6, 0.7, 1.0 * 0.9**3)
    assert later.evidence == mastery.evidence
    assert later.event_count == mastery.event_count
    assert later.last_event_at == mastery.last_event_at
    assert later.score == weighted_score(later.components)
    assert later.breakdown.consistency == 0.1 * 0.9**3
    for topic in later.topics.values():
        assert topic.components.consistency == later.components.consistency
    assert later.to_document()["components"] == {
        "completion": 0.8,
        "quiz": 0.6,
        "quality": 0.7,
        "consistency": 0.729,
    }


@settings(max_examples=100)
@given(fact_lists, st.integers(1, 60))
def test_carried_forward_agrees_with_the_facts_replayed_on_that_date(
    facts: list[LearningFact], idle_days: int
) -> None:
    as_of = last_day(facts)
    later = as_of + timedelta(days=idle_days)

    carried = carried_forward(read_back(mastery_as_of(facts, as_of)), later)
    replayed = mastery_as_of(facts, later)

    assert carried.as_of == replayed.as_of == later
    assert _fields(carried.components)[:3] == _fields(replayed.components)[:3]
    assert math.isclose(
        carried.components.consistency, replayed.components.consistency, rel_tol=1e-13
    )
    assert abs(carried.score - replayed.score) <= 1e-13
    assert carried.evidence == replayed.evidence
    assert carried.event_count == replayed.event_count
    assert sorted(carried.topics) == sorted(replayed.topics)


@settings(max_examples=60)
@given(fact_lists, st.lists(st.integers(0, 20_000), min_size=1, max_size=8))
def test_carried_scores_stay_within_zero_and_one_and_consistency_only_falls(
    facts: list[LearningFact], idle_days: list[int]
) -> None:
    mastery = read_back(mastery_as_of(facts, last_day(facts)))
    previous = mastery.components.consistency

    for days in sorted(idle_days):
        carried = carried_forward(mastery, mastery.as_of + timedelta(days=days))
        assert all(0.0 <= value <= 1.0 for value in all_scores(carried))
        assert carried.level == level_for(carried.score)
        assert carried.components.consistency <= previous
        previous = carried.components.consistency


@pytest.mark.parametrize("idle_days", [1, 2, 10, 365, 7_099])
def test_carried_consistency_is_the_stored_one_times_0_9_per_idle_day(idle_days: int) -> None:
    mastery = read_back(mastery_as_of(worked_example(), DAY_1 + timedelta(days=1)))
    stored = mastery.components.consistency

    carried = carried_forward(mastery, mastery.as_of + timedelta(days=idle_days))

    assert carried.components.consistency == stored * 0.9**idle_days


@pytest.mark.parametrize("idle_days", [7_100, 7_101, 100_000])
def test_past_the_decay_horizon_consistency_is_zero(idle_days: int) -> None:
    mastery = read_back(mastery_as_of(worked_example(), DAY_1 + timedelta(days=1)))

    carried = carried_forward(mastery, mastery.as_of + timedelta(days=idle_days))

    assert carried.components.consistency == 0.0
    assert carried.breakdown.consistency == 0.0
    assert "schedule" in [r.action for r in carried.recommendations]
