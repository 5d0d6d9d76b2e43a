"""The rule tables of formula ``seed-v1`` (SPEC §4): weights, thresholds, levels and windows.

Every computation reads its numbers from here, so the exact path (integer ratios) and the float
read path apply the same rule.
"""

from __future__ import annotations

from fractions import Fraction

from domain.facts import Component

FORMULA = "seed-v1"

WEIGHT_TENTHS: dict[Component, int] = {
    Component.COMPLETION: 4,
    Component.QUIZ: 3,
    Component.QUALITY: 2,
    Component.CONSISTENCY: 1,
}
"""The weight of each component, in tenths: the one definition of the weighted score. The exact
path multiplies by these integers; the float path reads them as ``WEIGHTS``."""

WEIGHTS: dict[str, float] = {c.value: tenths / 10 for c, tenths in WEIGHT_TENTHS.items()}
"""``WEIGHT_TENTHS`` as floats by component name. ``n / 10`` is correctly rounded, so these are
the very floats the literals 0.40, 0.30, 0.20 and 0.10 stand for."""

QUALITY_WINDOW = 10
COMPONENT_THRESHOLD = 0.70
TOPIC_THRESHOLD = 0.60
LEVELS: tuple[tuple[float, str], ...] = (
    (0.90, "expert"),
    (0.75, "proficient"),
    (0.60, "competent"),
    (0.40, "developing"),
)
LOWEST_LEVEL = "beginner"
PREDICTION_WINDOW = 14
PREDICTION_MIN_SNAPSHOTS = 3
TREND_THRESHOLD = Fraction(1, 1000)

DAILY_DECAY = (9, 10)
"""Consistency decays by 0.9 a day, kept as an exact (numerator, denominator)."""
DECAY_HORIZON_DAYS = 7_100
"""(9/10)^7100 is below the smallest positive float; past this many idle days consistency
is 0."""


def level_for(score: float) -> str:
    """The level of an unrounded score."""
    for threshold, level in LEVELS:
        if score >= threshold:
            return level
    return LOWEST_LEVEL


def quiz_confidence_tenths(attempts: int) -> int:
    """A quiz event's confidence, conf = max(0.5, 1 - 0.1 * (attempts - 1)), in tenths."""
    return max(5, 10 - (attempts - 1))


def rounded(value: float) -> float:
    """A score as documents show it: to 3 decimals."""
    return round(value, 3)
