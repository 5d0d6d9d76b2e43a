"""Prediction (SPEC §4): where a student's mastery is heading, from the daily snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any

from domain.mastery.ratio import decimal_ratio
from domain.mastery.rules import (
    PREDICTION_MIN_SNAPSHOTS,
    PREDICTION_WINDOW,
    TREND_THRESHOLD,
    rounded,
)


@dataclass(frozen=True, slots=True)
class Prediction:
    predicted_score: float | None
    confidence: float
    trend: str
    intervention_needed: bool
    days: int

    def to_document(self) -> dict[str, Any]:
        return {
            "predicted_score": self.predicted_score,
            "confidence": self.confidence,
            "trend": self.trend,
            "intervention_needed": self.intervention_needed,
            "days": self.days,
        }


def predict(
    snapshots: Sequence[tuple[date, float]], current_score: float, as_of: date, days: int = 7
) -> Prediction:
    """SPEC §4 prediction from the daily snapshots (date, mastery score).

    The slope is fitted exactly on the scores read as the decimals they were written as, so a
    rise of exactly 0.001 a day is ``stable``. ``intervention_needed`` compares the predicted
    score as exposed (rounded to 3 decimals), so it never contradicts the number shown.
    """
    if not 1 <= days <= 90:
        raise ValueError(f"days must be within 1..90, got {days}")
    points = sorted((day, score) for day, score in snapshots if day <= as_of)
    if len(points) < PREDICTION_MIN_SNAPSHOTS:
        return Prediction(None, 0.0, "insufficient_data", intervention_needed=False, days=days)
    slope = _least_squares_slope(points[-PREDICTION_WINDOW:])
    projected = _decimal(current_score) + slope * days
    predicted = rounded(float(min(Fraction(1), max(Fraction(0), projected))))
    return Prediction(
        predicted_score=predicted,
        confidence=rounded(min(0.9, len(points) / 10)),
        trend=_trend(slope),
        intervention_needed=predicted < 0.5,
        days=days,
    )


def _decimal(value: float) -> Fraction:
    return Fraction(*decimal_ratio(value))


def _least_squares_slope(points: Sequence[tuple[date, float]]) -> Fraction:
    origin = points[0][0].toordinal()
    xs = [day.toordinal() - origin for day, _ in points]
    ys = [_decimal(score) for _, score in points]
    n = len(points)
    sum_x, sum_y = sum(xs), sum(ys, Fraction(0))
    denominator = n * sum(x * x for x in xs) - sum_x * sum_x
    if denominator == 0:
        return Fraction(0)
    numerator = n * sum((x * y for x, y in zip(xs, ys, strict=True)), Fraction(0)) - sum_x * sum_y
    return numerator / denominator


def _trend(slope: Fraction) -> str:
    if slope > TREND_THRESHOLD:
        return "improving"
    if slope < -TREND_THRESHOLD:
        return "declining"
    return "stable"
