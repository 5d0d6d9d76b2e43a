"""The weighted score (SPEC §4): 0.4 completion + 0.3 quiz + 0.2 quality + 0.1 consistency.

One rule, ``rules.WEIGHT_TENTHS``, computed two ways. ``EvidencePart`` scores exact ratios (the
write path: a score is the exact value correctly rounded once). ``weighted_score`` scores floats
already rounded (the read path: a stored mastery carried to a later date), also rounding their
exact weighted sum once; it may differ from the exact score in the last bits only where the
components themselves were rounded.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.facts import Component
from domain.mastery.ratio import Ratio
from domain.mastery.rules import WEIGHT_TENTHS, WEIGHTS, level_for
from domain.mastery.values import ComponentCounts, ComponentScores, TopicMastery

_EVIDENCE_COMPONENTS = (Component.COMPLETION, Component.QUIZ, Component.QUALITY)


@dataclass(frozen=True, slots=True)
class EvidencePart:
    """Completion, quiz and quality of a topic or student, with their exact weighted sum.

    They change only when a fact is added, while consistency changes with the date; keeping
    this part lets a mastery per date cost one exact addition instead of a dozen.
    """

    weighted_sum: Ratio
    floats: tuple[float, float, float]
    weighted_floats: tuple[float, float, float]

    @classmethod
    def of(cls, completion: Ratio, quiz: Ratio, quality: Ratio) -> EvidencePart:
        # Integer arithmetic over a common denominator. int / int is correctly rounded, as
        # float(Fraction) is, so every float below is the exact value correctly rounded.
        (cn, cd), (qn, qd), (ln, ld) = completion, quiz, quality
        wc, wq, wl = (WEIGHT_TENTHS[c] for c in _EVIDENCE_COMPONENTS)
        weighted_sum = (
            wc * cn * qd * ld + wq * qn * cd * ld + wl * ln * cd * qd,
            10 * cd * qd * ld,
        )
        return cls(
            weighted_sum,
            (cn / cd, qn / qd, ln / ld),
            (wc * cn / (10 * cd), wq * qn / (10 * qd), wl * ln / (10 * ld)),
        )

    def score(self, consistency: Ratio) -> float:
        """The weighted score, correctly rounded from its exact value (one int / int)."""
        wn, wd = self.weighted_sum
        cn, cd = consistency
        weight = WEIGHT_TENTHS[Component.CONSISTENCY]
        return (wn * 10 * cd + weight * cn * wd) / (wd * 10 * cd)

    def scores(self, consistency: Ratio) -> ComponentScores:
        return ComponentScores(*self.floats, consistency[0] / consistency[1])

    def breakdown(self, consistency: Ratio) -> ComponentScores:
        weight = WEIGHT_TENTHS[Component.CONSISTENCY]
        weighted_consistency = weight * consistency[0] / (10 * consistency[1])
        return ComponentScores(*self.weighted_floats, weighted_consistency)

    def topic_mastery(self, consistency: Ratio, evidence: ComponentCounts) -> TopicMastery:
        score = self.score(consistency)
        return TopicMastery(
            score=score,
            level=level_for(score),
            components=self.scores(consistency),
            evidence=evidence,
        )


# The weight table unpacked in component order, for the read path every API request takes.
_TENTHS = tuple(WEIGHT_TENTHS[c] for c in Component)
_WEIGHTS = tuple(WEIGHTS[c.value] for c in Component)


def weighted_score(components: ComponentScores) -> float:
    """The weighted score of float components: the exact weighted sum of the floats' own
    values, correctly rounded once, as the exact path rounds its score. A float sum would
    round four times: 0.4 + 0.3 + 0.1 + 0.1 gives 0.8999999999999999, and a mastery exactly
    on a level's threshold would read back one level lower than it was written."""
    tc, tq, tl, tk = _TENTHS
    c, cd = components.completion.as_integer_ratio()
    q, qd = components.quiz.as_integer_ratio()
    quality, ld = components.quality.as_integer_ratio()
    k, kd = components.consistency.as_integer_ratio()
    d = max(cd, qd, ld, kd)  # powers of two: each divides the largest
    numerator = (
        tc * c * (d // cd) + tq * q * (d // qd) + tl * quality * (d // ld) + tk * k * (d // kd)
    )
    return numerator / (10 * d)  # int / int is correctly rounded


def weighted_parts(components: ComponentScores) -> ComponentScores:
    """Each component times its weight: a mastery's ``breakdown``."""
    wc, wq, wl, wk = _WEIGHTS
    return ComponentScores(
        wc * components.completion,
        wq * components.quiz,
        wl * components.quality,
        wk * components.consistency,
    )


def scored_topic(components: ComponentScores, evidence: ComponentCounts) -> TopicMastery:
    score = weighted_score(components)
    return TopicMastery(
        score=score, level=level_for(score), components=components, evidence=evidence
    )
