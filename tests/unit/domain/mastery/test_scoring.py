"""The weighted-score rule: one set of weights, an exact and a float computation that agree."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.facts import Component
from domain.mastery import WEIGHTS, ComponentCounts, ComponentScores
from domain.mastery.ratio import Ratio
from domain.mastery.rules import WEIGHT_TENTHS, level_for
from domain.mastery.scoring import EvidencePart, scored_topic, weighted_parts, weighted_score
from tests.unit.domain.mastery.strategies import component_scores

# The float path as it was written before the weights were defined once (literal weights):
# the breakdown still is exactly this; the score no longer sums in floats (see below).
_LITERAL_WEIGHTS = {"completion": 0.40, "quiz": 0.30, "quality": 0.20, "consistency": 0.10}


def _literal_weighted_score(components: ComponentScores) -> float:
    return sum(_LITERAL_WEIGHTS[c.value] * components.of(c) for c in Component)


def _literal_breakdown(components: ComponentScores) -> ComponentScores:
    return ComponentScores(*(_LITERAL_WEIGHTS[c.value] * components.of(c) for c in Component))


any_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
ratios = st.builds(lambda d, n: (n, d), st.integers(1, 10_000), st.integers(0, 10_000)).filter(
    lambda r: r[0] <= r[1]
)


def test_the_float_weights_are_the_tenths_as_floats_in_component_order() -> None:
    assert WEIGHTS == _LITERAL_WEIGHTS
    assert list(WEIGHTS) == [c.value for c in Component]
    assert {c.value: Fraction(t, 10) for c, t in WEIGHT_TENTHS.items()} == {
        "completion": Fraction(2, 5),
        "quiz": Fraction(3, 10),
        "quality": Fraction(1, 5),
        "consistency": Fraction(1, 10),
    }
    assert sum(WEIGHT_TENTHS.values()) == 10


def _exact_of_floats(components: ComponentScores) -> Fraction:
    return sum(
        (Fraction(WEIGHT_TENTHS[c], 10) * Fraction(components.of(c)) for c in Component),
        Fraction(0),
    )


@settings(max_examples=500)
@given(component_scores)
def test_the_float_score_is_the_exact_weighted_sum_of_the_floats_correctly_rounded(
    components: ComponentScores,
) -> None:
    assert weighted_score(components) == float(_exact_of_floats(components))
    assert weighted_parts(components) == _literal_breakdown(components)


@settings(max_examples=300)
@given(st.builds(ComponentScores, any_floats, any_floats, any_floats, any_floats))
def test_the_float_score_is_correctly_rounded_on_any_finite_inputs(
    components: ComponentScores,
) -> None:
    # Outside [0, 1] too: the rule is the same arithmetic whatever the values.
    assert repr(weighted_score(components)) == repr(float(_exact_of_floats(components)))
    assert repr(weighted_parts(components)) == repr(_literal_breakdown(components))


def test_the_float_score_differs_from_a_float_sum_where_that_sum_rounds_below() -> None:
    components = ComponentScores(1.0, 1.0, 0.5, 1.0)

    assert _literal_weighted_score(components) == 0.8999999999999999
    assert weighted_score(components) == 0.9


def _exact(components: tuple[Ratio, Ratio, Ratio, Ratio]) -> Fraction:
    return sum(
        (
            Fraction(t, 10) * Fraction(*r)
            for t, r in zip(WEIGHT_TENTHS.values(), components, strict=True)
        ),
        Fraction(0),
    )


@settings(max_examples=500)
@given(ratios, ratios, ratios, ratios)
def test_the_exact_score_is_the_exact_rule_correctly_rounded(
    completion: Ratio, quiz: Ratio, quality: Ratio, consistency: Ratio
) -> None:
    part = EvidencePart.of(completion, quiz, quality)

    assert part.score(consistency) == float(_exact((completion, quiz, quality, consistency)))


@settings(max_examples=500)
@given(ratios, ratios, ratios, ratios)
def test_the_float_score_of_the_same_components_agrees_to_the_last_bits(
    completion: Ratio, quiz: Ratio, quality: Ratio, consistency: Ratio
) -> None:
    part = EvidencePart.of(completion, quiz, quality)
    floats = part.scores(consistency)

    assert floats == ComponentScores(*(n / d for n, d in (completion, quiz, quality, consistency)))
    assert abs(weighted_score(floats) - part.score(consistency)) <= 2e-15
    for exact, approximate in zip(
        _fields(part.breakdown(consistency)), _fields(weighted_parts(floats)), strict=True
    ):
        assert abs(exact - approximate) <= 1e-16


def test_a_score_on_a_threshold_lands_on_it_on_both_paths() -> None:
    # 0.75 exactly: completion 1, quiz 0.5, quality 0.75, consistency 0.5 (0.4 + 0.15 + 0.15
    # + 0.05). Components exact in binary: the float path rounds the same exact sum once.
    part = EvidencePart.of((1, 1), (1, 2), (3, 4))

    assert part.score((1, 2)) == 0.75
    assert level_for(part.score((1, 2))) == "proficient"
    assert weighted_score(part.scores((1, 2))) == 0.75


def test_a_scored_topic_takes_its_level_from_the_float_score() -> None:
    components = ComponentScores(0.8, 0.6, 0.7, 1.0)
    topic = scored_topic(components, ComponentCounts(1, 2, 3, 4))

    assert topic.score == weighted_score(components) == 0.74
    assert topic.level == level_for(topic.score) == "competent"
    assert topic.evidence == ComponentCounts(1, 2, 3, 4)


def _fields(scores: ComponentScores) -> tuple[float, float, float, float]:
    return (scores.completion, scores.quiz, scores.quality, scores.consistency)
