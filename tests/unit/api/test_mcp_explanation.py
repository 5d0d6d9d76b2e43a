"""``explain_mastery`` in words, from a mastery document: the numbers are the document's, the
biggest lever is the largest weight x headroom, the next level is the one above the
document's own, and a formula the table does not know is still described."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from api.http.models import MasteryOut
from api.mcp.explanation import explanation
from domain.mastery import mastery_as_of


def document(**changes: Any) -> MasteryOut:
    base = {
        **mastery_as_of([], date(2026, 1, 14)).to_document(),
        "tenant_id": "acme",
        "student_id": "s1",
        "position": 7,
        "source": "read_model",
        "generation": "main",
        "stale": False,
        "no_data": False,
        "event_count": 9,
        "components": {"completion": 0.9, "quiz": 0.5, "quality": 0.8, "consistency": 1.0},
        "breakdown": {"completion": 0.36, "quiz": 0.15, "quality": 0.16, "consistency": 0.1},
        "evidence": {
            "completion": 2,
            "quiz": 4,
            "quality": 3,
            "consistency": 0,
            "activity_days": 5,
        },
        "no_evidence": [],
        "mastery_score": 0.77,
        "level": "proficient",
    }
    return MasteryOut.model_validate({**base, **changes})


def test_each_component_is_the_documents_own_with_its_weight_and_headroom() -> None:
    explained = explanation(document())
    parts = {p.component: p for p in explained.components}
    assert [p.component for p in explained.components] == [
        "completion",
        "quiz",
        "quality",
        "consistency",
    ]
    assert parts["quiz"].value == 0.5 and parts["quiz"].weight == 0.3
    assert parts["quiz"].contribution == 0.15 and parts["quiz"].evidence == 4
    assert parts["quiz"].headroom == 0.5 and parts["quiz"].potential_gain == 0.15
    assert parts["consistency"].evidence == 5  # active days, not activity markers
    assert parts["consistency"].potential_gain == 0.0
    assert explained.formula.weighted_sum == (
        "0.40 x 0.900 + 0.30 x 0.500 + 0.20 x 0.800 + 0.10 x 1.000 = 0.770"
    )


def test_the_biggest_lever_is_the_largest_weight_times_headroom() -> None:
    lever = explanation(document()).biggest_lever
    assert lever is not None
    assert (lever.component, lever.gain, lever.score_if_perfect) == ("quiz", 0.15, 0.92)
    assert lever.level_if_perfect == "expert"
    assert lever.in_words.startswith("quiz would raise the score most")


def test_equal_gains_go_to_the_first_component_of_the_formula() -> None:
    # completion 0.4 x 0.5 = 0.2 and quality 0.2 x 1.0 = 0.2: completion comes first.
    explained = explanation(
        document(components={"completion": 0.5, "quiz": 1.0, "quality": 0.0, "consistency": 1.0})
    )
    assert explained.biggest_lever is not None
    assert explained.biggest_lever.component == "completion"


def test_everything_perfect_has_no_lever_and_expert_no_next_level() -> None:
    perfect = {"completion": 1.0, "quiz": 1.0, "quality": 1.0, "consistency": 1.0}
    explained = explanation(
        document(components=perfect, breakdown=perfect, mastery_score=1.0, level="expert")
    )
    assert explained.biggest_lever is None
    assert explained.progress.next_level is None and explained.progress.distance is None
    assert explained.progress.in_words == "expert is the top level"


@pytest.mark.parametrize(
    ("score", "level", "next_level", "distance"),
    [
        (0.0, "beginner", "developing", 0.4),
        (0.612, "competent", "proficient", 0.138),
        (0.75, "competent", "proficient", 0.001),  # 0.7499.. shown as 0.750: just below
        (0.899, "proficient", "expert", 0.001),
    ],
)
def test_the_next_level_is_the_one_above_the_documents_level(
    score: float, level: str, next_level: str, distance: float
) -> None:
    progress = explanation(document(mastery_score=score, level=level)).progress
    assert (progress.next_level, progress.distance) == (next_level, distance)


def test_a_component_without_evidence_says_so() -> None:
    explained = explanation(document(no_evidence=["quality"]))
    quality = next(p for p in explained.components if p.component == "quality")
    assert quality.has_evidence is False
    assert "no evidence yet" in quality.in_words


def test_an_unknown_formula_is_described_generically() -> None:
    explained = explanation(document(formula="future-v9"))
    assert explained.formula.name == "future-v9" and explained.formula.known is False
    assert explained.formula.description.startswith("Formula future-v9:")
    assert explained.components[1].measures == "how well the student answers quiz questions"


def test_bkt_v1_describes_its_quiz_component() -> None:
    explained = explanation(document(formula="bkt-v1"))
    assert explained.formula.known is True
    assert "Bayesian Knowledge Tracing" in explained.components[1].measures


def test_before_the_first_event_the_summary_says_there_is_no_data() -> None:
    empty = mastery_as_of([], date(2026, 1, 14)).to_document()
    explained = explanation(
        MasteryOut.model_validate(
            {
                **empty,
                "tenant_id": "acme",
                "student_id": "s1",
                "position": None,
                "source": "replay",
                "generation": "main",
                "stale": False,
                "no_data": True,
            }
        )
    )
    assert explained.summary.startswith("No learning events up to 2026-01-14")
    assert explained.biggest_lever is not None
    assert explained.biggest_lever.component == "completion"
    assert explained.biggest_lever.gain == 0.4
