"""The mastery formula seed-v1 (SPEC §4): worked examples for every rule, and its properties."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.facts import (
    ActivityEvidence,
    CompletionEvidence,
    Difficulty,
    Evidence,
    LearningFact,
    QualityEvidence,
    QuizEvidence,
)
from domain.mastery import (
    FORMULA,
    WEIGHTS,
    ComponentCounts,
    ComponentScores,
    DailySnapshots,
    Mastery,
    MasteryLedger,
    OutdatedDocumentError,
    Recommendation,
    carried_forward,
    daily_masteries,
    level_for,
    mastery_as_of,
    mastery_from_document,
    timeline,
)

DAY_1 = date(2026, 1, 1)


def day(n: int) -> date:
    """Day ``n`` of the examples, day 1 being 2026-01-01."""
    return DAY_1 + timedelta(days=n - 1)


def at(n: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(day(n), datetime.min.time(), UTC).replace(hour=hour, minute=minute)


def fact(event_id: str, when: datetime, evidence: Evidence, topic: str = "general") -> LearningFact:
    return LearningFact(event_id=event_id, occurred_at=when, topic=topic, evidence=evidence)


def completion(
    event_id: str,
    when: datetime,
    completed: int,
    total: int,
    difficulty: Difficulty = "intermediate",
    topic: str = "general",
) -> LearningFact:
    return fact(event_id, when, CompletionEvidence(total, completed, difficulty), topic)


def quiz(
    event_id: str,
    when: datetime,
    correct: int,
    total: int,
    attempts: int = 1,
    topic: str = "general",
) -> LearningFact:
    return fact(event_id, when, QuizEvidence(total, correct, attempts), topic)


def quality(
    event_id: str,
    when: datetime,
    avg_code_quality: float,
    correctness: float | None = None,
    efficiency: float | None = None,
    topic: str = "general",
) -> LearningFact:
    evidence = QualityEvidence(
        avg_code_quality,
        avg_code_quality if correctness is None else correctness,
        avg_code_quality if efficiency is None else efficiency,
    )
    return fact(event_id, when, evidence, topic)


def activity(event_id: str, when: datetime, topic: str = "general") -> LearningFact:
    return fact(event_id, when, ActivityEvidence(), topic)


# --- strategies ----------------------------------------------------------------------------------

moments = st.builds(
    lambda days, hour, minute, zone: at(1 + days, hour, minute).astimezone(zone),
    st.integers(0, 15),
    st.sampled_from([0, 12, 23]),
    st.sampled_from([0, 30]),
    st.sampled_from([UTC, timezone(timedelta(hours=5)), timezone(timedelta(hours=-8))]),
)
unit_values = st.one_of(
    st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.7, 0.75, 0.9, 1.0]),
    st.floats(0.0, 1.0),
)


@st.composite
def completion_evidence(draw: st.DrawFn) -> CompletionEvidence:
    total = draw(st.integers(1, 40))
    difficulty: Difficulty = draw(st.sampled_from(["beginner", "intermediate", "advanced"]))
    return CompletionEvidence(total, draw(st.integers(0, total)), difficulty)


@st.composite
def quiz_evidence(draw: st.DrawFn) -> QuizEvidence:
    total = draw(st.integers(1, 40))
    return QuizEvidence(total, draw(st.integers(0, total)), draw(st.integers(1, 12)))


evidences: st.SearchStrategy[Evidence] = st.one_of(
    completion_evidence(),
    quiz_evidence(),
    st.builds(QualityEvidence, unit_values, unit_values, unit_values),
    st.builds(ActivityEvidence, st.one_of(st.none(), st.just("login"))),
)

learning_facts = st.builds(
    LearningFact,
    event_id=st.text(alphabet="abcdefgh0123", min_size=1, max_size=5),
    occurred_at=moments,
    topic=st.sampled_from(["general", "python.loops", "sql", "git"]),
    evidence=evidences,
)

fact_lists = st.lists(learning_facts, max_size=40, unique_by=lambda f: f.event_id)


def mastery_of(*facts: LearningFact, as_of: date | None = None) -> Mastery:
    last = max((f.occurred_at.astimezone(UTC).date() for f in facts), default=DAY_1)
    return mastery_as_of(facts, as_of or last)


def components(m: Mastery) -> tuple[float, float, float, float]:
    c = m.components
    return (c.completion, c.quiz, c.quality, c.consistency)


# --- completion ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completed", "total", "difficulty", "expected"),
    [
        (20, 25, "intermediate", 0.8),
        (10, 10, "beginner", 0.8),
        (7, 10, "intermediate", 0.7),
        (5, 10, "advanced", 0.6),
        (9, 10, "advanced", 1.0),  # 1.08, capped at 1
        (0, 5, "beginner", 0.0),
    ],
)
def test_completion_is_completed_times_multiplier_over_total_capped_at_one(
    completed: int, total: int, difficulty: Difficulty, expected: float
) -> None:
    m = mastery_of(completion("e1", at(1), completed, total, difficulty))

    assert m.components.completion == expected
    assert m.topics["general"].components.completion == expected


def test_topic_completion_uses_the_latest_completion_fact_only() -> None:
    facts = [
        completion("old", at(1), 10, 10, topic="sql"),
        completion("new", at(2), 3, 10, topic="sql"),
    ]
    assert mastery_of(*facts).topics["sql"].components.completion == 0.3
    assert mastery_of(*reversed(facts)).topics["sql"].components.completion == 0.3


def test_latest_breaks_a_timestamp_tie_by_event_id() -> None:
    facts = [
        completion("a2", at(1), 8, 10),
        completion("a1", at(1), 2, 10),
    ]
    assert mastery_of(*facts).components.completion == 0.8
    assert mastery_of(*reversed(facts)).components.completion == 0.8


def test_student_completion_sums_each_topics_latest_fact() -> None:
    m = mastery_of(
        completion("a-old", at(1), 0, 99, topic="a"),
        completion("a", at(2), 20, 25, "intermediate", topic="a"),
        completion("b", at(2), 10, 20, "beginner", topic="b"),
    )
    # (20 * 1.0 + 10 * 0.8) / (25 + 20) = 28 / 45
    assert m.components.completion == 28 / 45
    assert m.topics["a"].components.completion == 0.8
    assert m.topics["b"].components.completion == 0.4


def test_student_completion_is_capped_at_one_over_the_sum() -> None:
    m = mastery_of(
        completion("a", at(1), 10, 10, "advanced", topic="a"),
        completion("b", at(1), 9, 10, "advanced", topic="b"),
    )
    assert m.components.completion == 1.0  # (12 + 10.8) / 20 = 1.14


def test_student_completion_is_not_capped_per_topic_before_summing() -> None:
    m = mastery_of(
        completion("a", at(1), 10, 10, "advanced", topic="a"),
        completion("b", at(1), 0, 10, topic="b"),
    )
    assert m.topics["a"].components.completion == 1.0
    assert m.components.completion == 0.6  # (12 + 0) / 20


# --- quiz ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [(1, 1.0), (2, 0.9), (5, 0.6), (6, 0.5), (7, 0.5), (100, 0.5)],
)
def test_quiz_confidence_drops_a_tenth_per_extra_attempt_down_to_one_half(
    attempts: int, expected: float
) -> None:
    m = mastery_of(quiz("q", at(1), 10, 10, attempts))

    assert m.components.quiz == expected


def test_quiz_is_weighted_correct_over_all_questions_of_all_quizzes() -> None:
    m = mastery_of(
        quiz("q1", at(1), 8, 10, topic="a"),
        quiz("q2", at(2), 5, 10, attempts=3, topic="a"),
        quiz("q3", at(2), 0, 20, topic="b"),
    )
    # topic a: (8 * 1.0 + 5 * 0.8) / 20; student: (8 + 4 + 0) / 40
    assert m.topics["a"].components.quiz == 0.6
    assert m.topics["b"].components.quiz == 0.0
    assert m.components.quiz == 0.3


# --- quality -------------------------------------------------------------------------------------


def test_quality_of_a_fact_is_the_mean_of_its_three_measures() -> None:
    m = mastery_of(quality("x", at(1), 0.9, 0.6, 0.6))

    assert m.components.quality == 0.7
    assert Recommendation("refactor", "code quality", "medium") not in m.recommendations


def test_quality_is_the_mean_over_the_ten_latest_facts() -> None:
    facts = [quality(f"old{i}", at(1, hour=i), 0.0, topic="a") for i in range(2)]
    facts += [quality(f"new{i}", at(2, hour=i), 1.0, topic="a") for i in range(10)]
    random.Random(7).shuffle(facts)

    m = mastery_of(*facts)

    assert m.components.quality == 1.0
    assert m.topics["a"].components.quality == 1.0
    assert m.evidence.quality == 12


def test_student_quality_window_spans_topics_while_each_topic_keeps_its_own() -> None:
    facts = [quality(f"a{i}", at(1, hour=i), 1.0, topic="a") for i in range(10)]
    facts.append(quality("b", at(2), 0.0, topic="b"))

    m = mastery_of(*facts)

    assert m.components.quality == 0.9  # nine 1.0 of topic a and the 0.0 of topic b
    assert m.topics["a"].components.quality == 1.0
    assert m.topics["b"].components.quality == 0.0


def test_quality_window_breaks_timestamp_ties_by_event_id() -> None:
    facts = [quality("k0", at(1), 0.0), quality("k1", at(1), 1.0)]
    facts += [quality(f"n{i}", at(2, hour=i), 1.0) for i in range(9)]

    assert mastery_of(*facts).components.quality == 1.0  # k0 is the oldest, dropped
    assert mastery_of(*reversed(facts)).components.quality == 1.0


# --- consistency ---------------------------------------------------------------------------------


def test_no_facts_give_zero_consistency() -> None:
    m = MasteryLedger.empty().mastery(DAY_1)

    assert components(m) == (0.0, 0.0, 0.0, 0.0)
    assert m.score == 0.0
    assert m.no_evidence == ("completion", "quiz", "quality", "consistency")


def test_one_active_day_is_full_consistency_decaying_a_tenth_per_idle_day() -> None:
    facts = [activity("a", at(1))]

    assert mastery_of(*facts).components.consistency == 1.0
    assert mastery_of(*facts, as_of=day(2)).components.consistency == 0.9
    assert mastery_of(*facts, as_of=day(4)).components.consistency == 0.729


def test_consistency_is_current_run_over_longest_run() -> None:
    facts = [
        quiz("d1", at(1), 1, 1),
        completion("d2", at(2), 1, 1),
        quality("d3", at(3), 1.0),
        activity("d5", at(5)),
        activity("d6", at(6)),
        activity("d6-again", at(6, hour=20)),
    ]
    m = mastery_of(*facts)

    assert m.components.consistency == 2 / 3
    assert m.evidence.activity_days == 5
    assert mastery_of(*facts, as_of=day(8)).components.consistency == 0.54  # 2/3 * 0.81


def test_consistency_is_one_when_the_current_run_is_the_longest() -> None:
    facts = [activity("d1", at(1))] + [activity(f"d{n}", at(n)) for n in (3, 4, 5)]

    assert mastery_of(*facts).components.consistency == 1.0


def test_activity_dates_are_utc_dates() -> None:
    late_evening_utc = datetime(2026, 1, 2, 1, 0, tzinfo=timezone(timedelta(hours=5)))
    facts = [activity("tz", late_evening_utc), activity("next", at(2))]

    assert mastery_of(*facts, as_of=day(1)).evidence.activity_days == 1
    m = mastery_of(*facts, as_of=day(2))
    assert m.evidence.activity_days == 2
    assert m.components.consistency == 1.0
    assert m.last_event_at == at(2)


def test_consistency_far_in_the_future_is_zero() -> None:
    m = mastery_of(activity("a", at(1)), as_of=date(2099, 1, 1))

    assert m.components.consistency == 0.0


# --- score, breakdown, levels --------------------------------------------------------------------


def worked_example() -> list[LearningFact]:
    return [
        completion("c", at(1), 20, 25, topic="python.loops"),
        quiz("q", at(2), 6, 10, topic="python.loops"),
        quality("x", at(2), 0.9, 0.6, 0.6, topic="python.loops"),
    ]


def test_mastery_is_the_weighted_sum_and_breakdown_each_weighted_part() -> None:
    m = mastery_of(*worked_example())

    assert components(m) == (0.8, 0.6, 0.7, 1.0)
    assert m.breakdown == ComponentScores(0.32, 0.18, 0.14, 0.1)
    assert m.score == 0.74  # 0.32 + 0.18 + 0.14 + 0.10
    assert m.level == "competent"
    assert m.topics["python.loops"].score == 0.74
    assert m.formula == FORMULA == "seed-v1"
    assert WEIGHTS == {"completion": 0.40, "quiz": 0.30, "quality": 0.20, "consistency": 0.10}


def test_topic_mastery_uses_the_students_consistency() -> None:
    m = mastery_of(*worked_example(), as_of=day(4))

    assert m.components.consistency == 0.81
    assert m.score == 0.721
    assert m.topics["python.loops"].components.consistency == 0.81
    assert m.topics["python.loops"].score == 0.721


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (1.0, "expert"),
        (0.9, "expert"),
        (0.8999, "proficient"),
        (0.75, "proficient"),
        (0.7499, "competent"),
        (0.6, "competent"),
        (0.5999, "developing"),
        (0.4, "developing"),
        (0.3999, "beginner"),
        (0.0, "beginner"),
    ],
)
def test_level_boundaries(score: float, level: str) -> None:
    assert level_for(score) == level


@pytest.mark.parametrize(
    ("facts", "score", "level"),
    [
        # 0.4 * 1 + 0.3 * 1 + 0.2 * 0.5 + 0.1 * 1: naive float sums give 0.8999999999999999
        (
            [completion("c", at(1), 10, 10), quiz("q", at(1), 10, 10), quality("x", at(1), 0.5)],
            0.9,
            "expert",
        ),
        # 0.4 * 0.6 + 0.3 * 0.7 + 0.2 * 1 + 0.1 * 1: naive float sums give 0.7499999999999999
        (
            [completion("c", at(1), 6, 10), quiz("q", at(1), 7, 10), quality("x", at(1), 1.0)],
            0.75,
            "proficient",
        ),
        ([completion("c", at(1), 10, 10), quality("x", at(1), 0.5)], 0.6, "competent"),
        ([completion("c", at(1), 15, 20)], 0.4, "developing"),
        ([completion("c", at(1), 10, 20)], 0.3, "beginner"),
    ],
)
def test_a_score_exactly_on_a_level_boundary_reaches_that_level(
    facts: list[LearningFact], score: float, level: str
) -> None:
    m = mastery_of(*facts)

    assert m.score == score
    assert m.level == level


# --- recommendations and learning path -----------------------------------------------------------

COMPLETION_REC = Recommendation("practice", "completing exercises", "high")
QUIZ_REC = Recommendation("review", "concepts", "medium")
QUALITY_REC = Recommendation("refactor", "code quality", "medium")
CONSISTENCY_REC = Recommendation("schedule", "daily practice", "low")


def strong(completed: int = 10, correct: int = 10, q: float = 1.0) -> list[LearningFact]:
    return [
        completion("c", at(1), completed, 10, topic="t"),
        quiz("q", at(1), correct, 10, topic="t"),
        quality("x", at(1), q, topic="t"),
    ]


@pytest.mark.parametrize(
    ("facts", "as_of", "recommendation", "path"),
    [
        (
            strong(completed=5),
            day(1),
            COMPLETION_REC,
            ("practice_basic", "exercise_variety", "timed_challenges"),
        ),
        (strong(correct=5), day(1), QUIZ_REC, ("concept_review", "practice_quizzes", "mock_tests")),
        (
            strong(q=0.5),
            day(1),
            QUALITY_REC,
            ("code_reviews", "refactoring_practice", "best_practices"),
        ),
        (
            strong(),
            day(5),  # 0.9^4 = 0.6561
            CONSISTENCY_REC,
            ("daily_goals", "streak_reminders", "study_schedule"),
        ),
    ],
)
def test_a_component_below_070_gets_its_recommendation_and_path(
    facts: list[LearningFact], as_of: date, recommendation: Recommendation, path: tuple[str, ...]
) -> None:
    m = mastery_of(*facts, as_of=as_of)

    assert m.recommendations == (recommendation,)
    assert m.learning_path == path


def test_components_at_070_get_no_recommendation() -> None:
    m = mastery_of(
        completion("c", at(1), 7, 10),
        quiz("q", at(1), 7, 10),
        quality("x", at(1), 0.7),
    )

    assert components(m) == (0.7, 0.7, 0.7, 1.0)
    assert m.recommendations == ()
    assert m.learning_path == ("challenge_exercises", "advanced_topics")


def test_nothing_below_070_gives_the_advanced_path() -> None:
    m = mastery_of(*strong())

    assert m.recommendations == ()
    assert m.learning_path == ("challenge_exercises", "advanced_topics")
    assert m.level == "expert"


def test_without_evidence_every_component_is_recommended_in_order() -> None:
    m = MasteryLedger.empty().mastery(DAY_1)

    assert m.recommendations == (COMPLETION_REC, QUIZ_REC, QUALITY_REC, CONSISTENCY_REC)
    assert m.learning_path == (
        "practice_basic",
        "exercise_variety",
        "timed_challenges",
        "concept_review",
        "practice_quizzes",
        "mock_tests",
        "code_reviews",
        "refactoring_practice",
        "best_practices",
        "daily_goals",
        "streak_reminders",
        "study_schedule",
    )


def test_topics_below_060_are_recommended_weakest_first_then_by_name() -> None:
    m = mastery_of(
        quiz("qb", at(1), 1, 10, topic="b"),
        quiz("qa", at(1), 1, 10, topic="a"),
        quiz("qc", at(1), 0, 10, topic="c"),
        *strong(),
    )

    assert m.topics["c"].score == 0.1
    assert m.topics["a"].score == m.topics["b"].score == 0.13
    assert m.recommendations == (
        QUIZ_REC,  # (1 + 1 + 0 + 10) / 40 = 0.3
        Recommendation("practice", "topic:c", "high"),
        Recommendation("practice", "topic:a", "high"),
        Recommendation("practice", "topic:b", "high"),
    )


def test_a_topic_at_060_is_not_recommended_one_below_is() -> None:
    m = mastery_of(
        completion("c1", at(1), 10, 10, topic="at"),
        quality("x1", at(1), 0.5, topic="at"),
        completion("c2", at(1), 10, 10, topic="below"),
        quality("x2", at(1), 0.45, topic="below"),
    )

    assert m.topics["at"].score == 0.6
    assert m.topics["below"].score == 0.59
    assert Recommendation("practice", "topic:below", "high") in m.recommendations
    assert Recommendation("practice", "topic:at", "high") not in m.recommendations


def test_a_topic_with_only_activity_markers_is_listed_with_zeros_and_no_evidence() -> None:
    m = mastery_of(
        activity("a1", at(1), topic="git"),
        activity("a2", at(2), topic="git"),
        quiz("q", at(2), 10, 10, topic="sql"),
    )

    git = m.topics["git"]
    assert set(m.topics) == {"git", "sql"}
    assert git.components == ComponentScores(0.0, 0.0, 0.0, 1.0)  # the student's consistency
    assert git.score == 0.1
    assert git.level == "beginner"
    assert git.evidence == ComponentCounts(completion=0, quiz=0, quality=0, consistency=2)
    assert m.topics["sql"].evidence == ComponentCounts(0, 1, 0, 0)
    assert m.evidence.consistency == 2


def test_an_activity_marker_does_not_change_its_topics_other_components() -> None:
    scored = [completion("c", at(1), 8, 10, topic="sql"), quiz("q", at(1), 5, 10, topic="sql")]

    with_marker = mastery_of(*scored, activity("a", at(1), topic="sql"))

    assert with_marker.topics["sql"].components == mastery_of(*scored).topics["sql"].components
    assert with_marker.topics["sql"].evidence == ComponentCounts(1, 1, 0, 1)


def test_topic_evidence_counts_every_fact_of_the_topic_per_component() -> None:
    facts = [
        completion("c1", at(1), 1, 10, topic="sql"),
        completion("c2", at(2), 2, 10, topic="sql"),  # supersedes c1, both are counted
        *(quality(f"x{i}", at(2, hour=i), 0.5, topic="sql") for i in range(12)),  # window 10
        quiz("q1", at(2), 1, 1, topic="git"),
        activity("a1", at(2), topic="sql"),
        activity("a2", at(2), topic="git"),
    ]

    m = mastery_of(*facts)

    assert m.topics["sql"].evidence == ComponentCounts(2, 0, 12, 1)
    assert m.topics["git"].evidence == ComponentCounts(0, 1, 0, 1)
    assert m.to_document()["topics"]["sql"]["evidence"] == {
        "completion": 2,
        "quiz": 0,
        "quality": 12,
        "consistency": 1,
    }


def test_a_weak_topic_with_only_activity_markers_is_recommended_weakest_first() -> None:
    m = mastery_of(
        completion("c", at(1), 10, 10, topic="sql"),
        quiz("q1", at(1), 10, 10, topic="sql"),
        quality("x", at(1), 1.0, topic="sql"),
        quiz("q2", at(1), 1, 10, topic="python"),
        activity("a", at(1), topic="git"),
    )

    assert m.topics["sql"].score == 1.0
    assert m.topics["git"].score == 0.1  # only the student's consistency
    assert m.topics["python"].score == 0.13
    assert [r for r in m.recommendations if r.area.startswith("topic:")] == [
        Recommendation("practice", "topic:git", "high"),
        Recommendation("practice", "topic:python", "high"),
    ]


# --- evidence and the document -------------------------------------------------------------------


def test_evidence_counts_every_fact_per_component() -> None:
    m = mastery_of(
        completion("c1", at(1), 1, 10),
        completion("c2", at(2), 2, 10),
        quiz("q1", at(1), 1, 1),
        quiz("q2", at(1), 1, 1, topic="sql"),
        quiz("q3", at(2), 1, 1),
        activity("a1", at(2)),
    )

    assert m.evidence.completion == 2
    assert m.evidence.quiz == 3
    assert m.evidence.quality == 0
    assert m.evidence.consistency == 1
    assert m.evidence.activity_days == 2
    assert m.event_count == 6
    assert m.no_evidence == ("quality",)


def test_consistency_has_evidence_whenever_there_is_any_activity() -> None:
    m = mastery_of(quiz("q", at(1), 1, 1))

    assert m.no_evidence == ("completion", "quality")
    assert m.components.consistency == 1.0


def test_document_is_rounded_json_ready_and_complete() -> None:
    m = mastery_of(*worked_example())

    assert m.to_document() == {
        "as_of": "2026-01-02",
        "mastery_score": 0.74,
        "level": "competent",
        "components": {"completion": 0.8, "quiz": 0.6, "quality": 0.7, "consistency": 1.0},
        "breakdown": {"completion": 0.32, "quiz": 0.18, "quality": 0.14, "consistency": 0.1},
        "evidence": {
            "completion": 1,
            "quiz": 1,
            "quality": 1,
            "consistency": 0,
            "activity_days": 2,
        },
        "topics": {
            "python.loops": {
                "mastery_score": 0.74,
                "level": "competent",
                "components": {"completion": 0.8, "quiz": 0.6, "quality": 0.7, "consistency": 1.0},
                "evidence": {"completion": 1, "quiz": 1, "quality": 1, "consistency": 0},
            }
        },
        "event_count": 3,
        "last_event_at": "2026-01-02T12:00:00Z",
        "formula": "seed-v1",
        "recommendations": [{"action": "review", "area": "concepts", "priority": "medium"}],
        "learning_path": ["concept_review", "practice_quizzes", "mock_tests"],
        "no_evidence": [],
    }
    assert json.loads(json.dumps(m.to_document())) == m.to_document()


def test_document_rounds_to_three_decimals_and_can_leave_out_topics() -> None:
    m = mastery_of(quiz("q", at(1), 2, 3))
    document = m.to_document(with_topics=False)

    assert m.components.quiz == 2 / 3
    assert document["components"]["quiz"] == 0.667
    assert document["mastery_score"] == 0.3  # 0.3 * 2/3 + 0.1
    assert "topics" not in document


def test_a_document_read_back_and_carried_forward_keeps_topics_and_their_evidence() -> None:
    facts = [*worked_example(), activity("a", at(2), topic="git")]
    snapshot = mastery_of(*facts).to_document(with_topics=False, exact=True)

    restored = carried_forward(mastery_from_document(json.loads(json.dumps(snapshot))), day(4))

    expected = mastery_of(*facts, as_of=day(4))
    assert restored.to_document() == expected.to_document()
    assert restored.topics["git"].evidence == ComponentCounts(0, 0, 0, 1)
    assert Recommendation("practice", "topic:git", "high") in restored.recommendations


def test_a_document_written_before_topic_evidence_is_refused() -> None:
    document = mastery_of(*worked_example()).to_document(exact=True)
    components = document["exact"]["components"]
    older = {
        **document,
        "exact": {"components": components, "topics": {"python.loops": components}},
    }

    with pytest.raises(OutdatedDocumentError, match="rebuild"):
        mastery_from_document(older)


def test_empty_document_says_nothing_happened() -> None:
    document = MasteryLedger.empty().mastery(DAY_1).to_document()

    assert document["last_event_at"] is None
    assert document["event_count"] == 0
    assert document["topics"] == {}
    assert document["level"] == "beginner"


# --- the ledger ----------------------------------------------------------------------------------


def test_ledger_cannot_answer_for_a_date_before_its_latest_fact() -> None:
    ledger = MasteryLedger.empty()
    ledger.add(activity("a", at(3)))

    assert ledger.last_activity_date == day(3)
    with pytest.raises(ValueError, match="precedes"):
        ledger.mastery(day(2))


def test_ledger_refuses_naive_times_and_impossible_evidence() -> None:
    ledger = MasteryLedger.empty()

    with pytest.raises(ValueError, match="naive"):
        ledger.add(activity("a", datetime(2026, 1, 1, 12)))
    with pytest.raises(ValueError, match="invalid evidence"):
        ledger.add(completion("c", at(1), 11, 10))
    with pytest.raises(ValueError, match="invalid evidence"):
        ledger.add(quiz("q", at(1), 1, 0))
    assert ledger == MasteryLedger.empty()


def test_ledger_stays_bounded() -> None:
    ledger = MasteryLedger.empty()
    for i in range(50):
        ledger.add(quality(f"x{i}", at(1 + i % 5, hour=i % 24), 0.5, topic="a"))
        ledger.add(completion(f"c{i}", at(1 + i % 5, hour=i % 24), 1, 10, topic="a"))

    state = ledger.to_state()

    assert len(state["quality"]) == 10
    assert len(state["topics"]["a"]["quality"]) == 10
    assert state["topics"]["a"]["completion"][1] == "c44"  # day 5 at 20:00, the latest
    assert len(state["activity_dates"]) == 5
    assert ledger.mastery(day(5)).event_count == 100


def test_ledger_state_is_json_and_round_trips() -> None:
    ledger = MasteryLedger.empty()
    for f in worked_example():
        ledger.add(f)

    state = json.loads(json.dumps(ledger.to_state()))
    restored = MasteryLedger.from_state(state)

    assert restored == ledger
    assert restored.mastery(day(9)) == ledger.mastery(day(9))


def test_ledger_refuses_an_unknown_state_version() -> None:
    with pytest.raises(ValueError, match="version"):
        MasteryLedger.from_state({**MasteryLedger.empty().to_state(), "version": 99})


def test_ledger_refuses_a_state_written_before_topics_counted_activity_markers() -> None:
    """Version 1 left marker-only topics out and kept no topic counts: it cannot be read."""
    version_1 = {
        "version": 1,
        "counts": {"completion": 0, "quiz": 1, "quality": 0, "consistency": 1},
        "last_event_at": "2026-01-01T12:00:00+00:00",
        "activity_dates": ["2026-01-01"],
        "quality": [],
        "topics": {"sql": {"completion": None, "quiz": [10, 1], "quality": []}},
    }

    with pytest.raises(ValueError, match="version 1"):
        MasteryLedger.from_state(version_1)


def test_ledger_state_keeps_topic_counts_and_marker_only_topics() -> None:
    ledger = ledger_of([quiz("q", at(1), 1, 1, topic="sql"), activity("a", at(1), topic="git")])

    state = json.loads(json.dumps(ledger.to_state()))

    assert state["topics"]["git"]["counts"] == {
        "completion": 0,
        "quiz": 0,
        "quality": 0,
        "consistency": 1,
    }
    assert MasteryLedger.from_state(state).mastery(day(1)).topics["git"].evidence == (
        ComponentCounts(0, 0, 0, 1)
    )


# --- over a collection of facts ------------------------------------------------------------------


def test_mastery_as_of_ignores_later_facts() -> None:
    facts = [quiz("q1", at(1), 10, 10), quiz("q3", at(3), 0, 10)]

    m = mastery_as_of(facts, day(2))

    assert m.components.quiz == 1.0
    assert m.components.consistency == 0.9
    assert m.event_count == 1


def test_mastery_as_of_counts_a_duplicated_event_id_once_first_wins() -> None:
    facts = [quiz("q", at(1), 10, 10), quiz("q", at(1), 0, 10), quiz("q", at(1), 10, 10)]

    m = mastery_as_of(facts, day(1))

    assert m.components.quiz == 1.0
    assert m.event_count == 1


def test_daily_masteries_has_one_snapshot_per_active_date() -> None:
    facts = [quiz("q1", at(1), 10, 10), quiz("q3", at(3), 0, 10), activity("a3", at(3, 20))]

    snapshots = daily_masteries(reversed(facts))

    assert list(snapshots) == [day(1), day(3)]
    assert snapshots[day(1)].components.quiz == 1.0
    assert snapshots[day(3)].components.quiz == 0.5
    assert snapshots[day(3)].components.consistency == 1.0  # runs {1} and {3}: 1 / 1
    assert snapshots[day(3)].event_count == 3


def test_timeline_replays_facts_in_time_then_id_order() -> None:
    facts = [
        quiz("b", at(2), 0, 10),
        quiz("a", at(2), 10, 10),
        completion("c", at(1), 5, 10),
    ]

    steps = timeline(facts)

    assert [f.event_id for f, _ in steps] == ["c", "a", "b"]
    assert [m.as_of for _, m in steps] == [day(1), day(2), day(2)]
    assert [m.event_count for _, m in steps] == [1, 2, 3]
    assert [m.components.quiz for _, m in steps] == [0.0, 1.0, 0.5]


# --- properties ----------------------------------------------------------------------------------

fast = settings(max_examples=40, deadline=None)


def utc_day(f: LearningFact) -> date:
    return f.occurred_at.astimezone(UTC).date()


def last_day(facts: list[LearningFact]) -> date:
    return max(map(utc_day, facts), default=DAY_1)


def all_scores(m: Mastery) -> list[float]:
    scores = [m.score, *components(m), *(getattr(m.breakdown, k) for k in WEIGHTS)]
    for t in m.topics.values():
        scores += [t.score, t.components.completion, t.components.quiz, t.components.quality]
    return scores


@fast
@given(fact_lists, st.integers(0, 30))
def test_every_score_is_within_zero_and_one_and_levels_follow_scores(
    facts: list[LearningFact], idle_days: int
) -> None:
    m = mastery_as_of(facts, last_day(facts) + timedelta(days=idle_days))

    assert all(0.0 <= s <= 1.0 for s in all_scores(m))
    assert m.level == level_for(m.score)
    assert all(t.level == level_for(t.score) for t in m.topics.values())


@fast
@given(fact_lists, st.randoms(use_true_random=False))
def test_mastery_does_not_depend_on_the_order_of_facts(
    facts: list[LearningFact], rnd: random.Random
) -> None:
    shuffled = facts.copy()
    rnd.shuffle(shuffled)
    as_of = last_day(facts) + timedelta(days=1)

    assert mastery_as_of(shuffled, as_of) == mastery_as_of(facts, as_of)
    assert daily_masteries(shuffled) == daily_masteries(facts)
    assert ledger_of(shuffled) == ledger_of(facts)


@fast
@given(fact_lists.filter(bool), st.data())
def test_a_duplicate_event_id_changes_nothing(
    facts: list[LearningFact], data: st.DataObject
) -> None:
    original = data.draw(st.sampled_from(facts))
    conflicting = replace(original, evidence=ActivityEvidence("other"))
    position = data.draw(st.integers(0, len(facts)))
    with_duplicates = [*facts[:position], original, *facts[position:], conflicting]
    as_of = last_day(facts)

    assert mastery_as_of(with_duplicates, as_of) == mastery_as_of(facts, as_of)


def ledger_of(facts: list[LearningFact]) -> MasteryLedger:
    ledger = MasteryLedger.empty()
    for f in facts:
        ledger.add(f)
    return ledger


@fast
@given(fact_lists, st.randoms(use_true_random=False))
def test_topic_evidence_counts_each_topics_facts_in_any_order(
    facts: list[LearningFact], rnd: random.Random
) -> None:
    shuffled = facts.copy()
    rnd.shuffle(shuffled)
    as_of = last_day(facts)

    m = mastery_as_of(facts, as_of)

    assert m.to_document()["topics"] == mastery_as_of(shuffled, as_of).to_document()["topics"]
    assert set(m.topics) == {f.topic for f in facts}
    for name, topic in m.topics.items():
        of_topic = [f for f in facts if f.topic == name]
        counts = topic.evidence.to_document()
        assert sum(counts.values()) == len(of_topic)
        assert counts == {c: sum(f.component == c for f in of_topic) for c in counts}
    for component in ("completion", "quiz", "quality", "consistency"):
        per_topic = sum(getattr(t.evidence, component) for t in m.topics.values())
        assert per_topic == getattr(m.evidence, component)


@fast
@given(fact_lists, st.integers(0, 3))
def test_ledger_state_round_trips_through_json(facts: list[LearningFact], idle_days: int) -> None:
    ledger = ledger_of(facts)
    as_of = last_day(facts) + timedelta(days=idle_days)

    restored = MasteryLedger.from_state(json.loads(json.dumps(ledger.to_state())))

    assert restored == ledger
    assert restored.to_state() == ledger.to_state()
    assert restored.mastery(as_of) == ledger.mastery(as_of)
    restored.add(activity("after-restore", at(17)))
    ledger.add(activity("after-restore", at(17)))
    assert restored.mastery(day(17)) == ledger.mastery(day(17))


@fast
@given(fact_lists)
def test_incremental_ledger_equals_mastery_as_of(facts: list[LearningFact]) -> None:
    as_of = last_day(facts)

    assert ledger_of(facts).mastery(as_of) == mastery_as_of(facts, as_of)


@fast
@given(fact_lists)
def test_daily_snapshots_equal_mastery_as_of_each_date(facts: list[LearningFact]) -> None:
    snapshots = daily_masteries(facts)

    assert list(snapshots) == sorted({utc_day(f) for f in facts})
    for as_of, snapshot in snapshots.items():
        assert snapshot == mastery_as_of(facts, as_of)


@fast
@given(fact_lists.filter(bool))
def test_timeline_ends_at_the_mastery_of_all_facts(facts: list[LearningFact]) -> None:
    steps = timeline(facts)

    assert len(steps) == len(facts)
    fact, last = steps[-1]
    assert last == mastery_as_of(facts, utc_day(fact))
    for fact, step in steps:
        assert step == mastery_as_of(
            [f for f in facts if (f.occurred_at, f.event_id) <= fact.order_key], step.as_of
        )


# --- an independent oracle -----------------------------------------------------------------------


def oracle_scores(facts: list[LearningFact], as_of: date) -> dict[str, Fraction]:
    """SPEC §4 written out plainly with Fractions, straight from the text: the formula's
    integer arithmetic must give these exact values, correctly rounded to floats."""
    known = sorted(
        (f for f in facts if utc_day(f) <= as_of), key=lambda f: (f.occurred_at, f.event_id)
    )
    multiplier = {
        "beginner": Fraction(8, 10),
        "intermediate": Fraction(1),
        "advanced": Fraction(12, 10),
    }
    latest_completion: dict[str, CompletionEvidence] = {}
    quiz_sum, quiz_total = Fraction(0), 0
    qualities: list[Fraction] = []
    for f in known:
        match f.evidence:
            case CompletionEvidence() as c:
                latest_completion[f.topic] = c
            case QuizEvidence() as q:
                quiz_sum += q.correct_answers * max(
                    Fraction(1, 2), 1 - Fraction(q.attempts - 1, 10)
                )
                quiz_total += q.total_questions
            case QualityEvidence() as q:
                measures = (q.avg_code_quality, q.correctness, q.efficiency)
                qualities.append(sum(map(Fraction, map(repr, measures)), Fraction(0)) / 3)
    weighted = sum(
        (c.completed_exercises * multiplier[c.difficulty] for c in latest_completion.values()),
        Fraction(0),
    )
    total = sum(c.total_exercises for c in latest_completion.values())
    dates = sorted({utc_day(f) for f in known})
    runs: list[int] = []
    for previous, current in zip([None, *dates], dates, strict=False):
        if previous is not None and (current - previous).days == 1:
            runs[-1] += 1
        else:
            runs.append(1)
    scores = {
        "completion": min(Fraction(1), weighted / total) if total else Fraction(0),
        "quiz": quiz_sum / quiz_total if quiz_total else Fraction(0),
        "quality": sum(qualities[-10:], Fraction(0)) / len(qualities[-10:])
        if qualities
        else Fraction(0),
        "consistency": Fraction(runs[-1], max(runs)) * Fraction(9, 10) ** (as_of - dates[-1]).days
        if dates
        else Fraction(0),
    }
    scores["mastery"] = sum(
        (Fraction(str(WEIGHTS[name])) * scores[name] for name in WEIGHTS), Fraction(0)
    )
    return scores


@fast
@given(fact_lists, st.integers(0, 40))
def test_scores_are_the_exact_formula_correctly_rounded(
    facts: list[LearningFact], idle_days: int
) -> None:
    as_of = last_day(facts) + timedelta(days=idle_days)
    expected = oracle_scores(facts, as_of)

    m = mastery_as_of(facts, as_of)

    assert components(m) == tuple(float(expected[name]) for name in WEIGHTS)
    assert m.score == float(expected["mastery"])
    for as_of_day, snapshot in daily_masteries(facts).items():
        assert snapshot.score == float(oracle_scores(facts, as_of_day)["mastery"])


@fast
@given(fact_lists.filter(bool))
def test_a_copied_ledger_is_independent_of_its_original(facts: list[LearningFact]) -> None:
    ledger = ledger_of(facts[:-1])
    twin = ledger.copy()
    twin.add(facts[-1])

    assert ledger == ledger_of(facts[:-1])
    assert twin == ledger_of(facts)
    assert twin.mastery(last_day(facts)) == ledger_of(facts).mastery(last_day(facts))


facts_over_a_few_days = st.lists(
    st.builds(
        LearningFact,
        event_id=st.text(alphabet="abcdefgh0123", min_size=1, max_size=5),
        occurred_at=st.builds(
            lambda d, h: at(1 + d, h), st.integers(0, 4), st.sampled_from([0, 23])
        ),
        topic=st.sampled_from(["general", "sql"]),
        evidence=evidences,
    ),
    max_size=30,
    unique_by=lambda f: f.event_id,
)


@settings(max_examples=150, deadline=None)
@given(facts_over_a_few_days, st.lists(st.integers(0, 30), max_size=6))
def test_daily_snapshots_resumed_equal_a_full_replay(
    facts: list[LearningFact], cuts: list[int]
) -> None:
    """Facts arrive in chunks, in no particular date order (so some chunks are late): each
    update equals replaying every fact so far."""
    daily = DailySnapshots()
    seen: list[LearningFact] = []
    start = 0
    for end in sorted({min(cut, len(facts)) for cut in cuts} | {len(facts)}):
        chunk, start = facts[start:end], end
        if not chunk:
            continue
        seen += chunk
        since = min(map(utc_day, chunk))
        assert daily.update(seen, since) == daily_masteries(seen, since=since)
    assert DailySnapshots().update(seen) == daily_masteries(seen)
