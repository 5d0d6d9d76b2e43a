"""Recommendations and the learning path (SPEC §4): what a student should do next, from which
components (and topics) are below their thresholds."""

from __future__ import annotations

from domain.facts import Component
from domain.mastery.rules import COMPONENT_THRESHOLD, TOPIC_THRESHOLD
from domain.mastery.values import ComponentScores, Recommendation, TopicMastery

_RECOMMENDATIONS: dict[Component, tuple[str, str, str]] = {
    Component.COMPLETION: ("practice", "completing exercises", "high"),
    Component.QUIZ: ("review", "concepts", "medium"),
    Component.QUALITY: ("refactor", "code quality", "medium"),
    Component.CONSISTENCY: ("schedule", "daily practice", "low"),
}
_LEARNING_PATHS: dict[Component, tuple[str, ...]] = {
    Component.COMPLETION: ("practice_basic", "exercise_variety", "timed_challenges"),
    Component.QUIZ: ("concept_review", "practice_quizzes", "mock_tests"),
    Component.QUALITY: ("code_reviews", "refactoring_practice", "best_practices"),
    Component.CONSISTENCY: ("daily_goals", "streak_reminders", "study_schedule"),
}
_ADVANCED_PATH = ("challenge_exercises", "advanced_topics")
_COMPONENT_ORDER = (Component.COMPLETION, Component.QUIZ, Component.QUALITY, Component.CONSISTENCY)
_COMPONENT_PATHS = tuple(_LEARNING_PATHS[c] for c in _COMPONENT_ORDER)
_COMPONENT_RECOMMENDATIONS = tuple(Recommendation(*_RECOMMENDATIONS[c]) for c in _COMPONENT_ORDER)


def recommendations(
    components: ComponentScores, topics: dict[str, TopicMastery]
) -> tuple[Recommendation, ...]:
    weak_components = [
        rec for rec, weak in zip(_COMPONENT_RECOMMENDATIONS, _weak(components), strict=True) if weak
    ]
    weak_topics = sorted((t.score, name) for name, t in topics.items() if t.score < TOPIC_THRESHOLD)
    return (
        *weak_components,
        *(Recommendation("practice", f"topic:{name}", "high") for _, name in weak_topics),
    )


def learning_path(components: ComponentScores) -> tuple[str, ...]:
    path = tuple(
        step
        for steps, weak in zip(_COMPONENT_PATHS, _weak(components), strict=True)
        if weak
        for step in steps
    )
    return path or _ADVANCED_PATH


def _weak(components: ComponentScores) -> tuple[bool, bool, bool, bool]:
    """Which components are below the threshold, in the order completion, quiz, quality,
    consistency (plain attribute reads: this runs for every daily snapshot)."""
    return (
        components.completion < COMPONENT_THRESHOLD,
        components.quiz < COMPONENT_THRESHOLD,
        components.quality < COMPONENT_THRESHOLD,
        components.consistency < COMPONENT_THRESHOLD,
    )
