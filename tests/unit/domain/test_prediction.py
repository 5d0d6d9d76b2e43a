"""SPEC §4 prediction: a least-squares trend over the latest daily snapshots."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.mastery import Prediction, predict

DAY_1 = date(2026, 1, 1)


def day(n: int) -> date:
    return DAY_1 + timedelta(days=n - 1)


def series(*scores: float, first: int = 1) -> list[tuple[date, float]]:
    return [(day(first + i), score) for i, score in enumerate(scores)]


INSUFFICIENT = Prediction(None, 0.0, "insufficient_data", intervention_needed=False, days=7)


def test_fewer_than_three_snapshots_is_insufficient_data() -> None:
    assert predict(series(0.1, 0.2), 0.2, day(2)) == INSUFFICIENT
    assert predict([], 0.0, day(1)) == INSUFFICIENT
    assert predict(series(0.1, 0.2), 0.2, day(2)).to_document() == {
        "predicted_score": None,
        "confidence": 0.0,
        "trend": "insufficient_data",
        "intervention_needed": False,
        "days": 7,
    }


def test_only_snapshots_up_to_as_of_count() -> None:
    snapshots = series(0.1, 0.2, 0.3, 0.9, 0.9)

    assert predict(snapshots, 0.2, day(2)) == INSUFFICIENT
    p = predict(snapshots, 0.3, day(3), days=2)
    assert p == Prediction(0.5, 0.3, "improving", intervention_needed=False, days=2)


def test_improving_trend_is_extrapolated_from_the_current_score() -> None:
    p = predict(series(0.50, 0.51, 0.52), 0.52, day(3))

    assert p == Prediction(0.59, 0.3, "improving", intervention_needed=False, days=7)


def test_prediction_is_clamped_to_one_and_to_zero() -> None:
    up = predict(series(0.5, 0.6, 0.7), 0.7, day(3))
    down = predict(series(0.6, 0.5, 0.4), 0.4, day(3))

    assert up == Prediction(1.0, 0.3, "improving", intervention_needed=False, days=7)
    assert down == Prediction(0.0, 0.3, "declining", intervention_needed=True, days=7)


@pytest.mark.parametrize(
    ("scores", "trend"),
    [
        ((0.5, 0.5, 0.5), "stable"),
        ((0.500, 0.501, 0.502), "stable"),  # exactly +0.001 a day
        ((0.502, 0.501, 0.500), "stable"),  # exactly -0.001 a day
        ((0.5, 0.5011, 0.5022), "improving"),
        ((0.5022, 0.5011, 0.5), "declining"),
    ],
)
def test_trend_thresholds_are_a_thousandth_a_day(scores: tuple[float, ...], trend: str) -> None:
    assert predict(series(*scores), scores[-1], day(3)).trend == trend


def test_slope_is_the_least_squares_fit_over_day_numbers() -> None:
    # x = 0, 1, 2 and y = 0, 0, 0.3: slope = (1 * 0.1 + 1 * 0.2) / 2 = 0.15
    assert predict(series(0.0, 0.0, 0.3), 0.3, day(3), days=2).predicted_score == 0.6
    # dates with a gap: x = 0, 1, 3 on the line y = 0.1 + 0.1x
    gappy = [(day(1), 0.1), (day(2), 0.2), (day(4), 0.4)]
    assert predict(gappy, 0.4, day(4), days=1).predicted_score == 0.5


def test_only_the_latest_fourteen_snapshots_are_fitted() -> None:
    snapshots = series(0.0, 0.0, *[0.5] * 14)

    p = predict(snapshots, 0.5, day(16))

    assert p == Prediction(0.5, 0.9, "stable", intervention_needed=False, days=7)
    assert predict(snapshots[:4], 0.5, day(16)).trend == "improving"


@pytest.mark.parametrize(("n", "confidence"), [(3, 0.3), (5, 0.5), (8, 0.8), (9, 0.9), (20, 0.9)])
def test_confidence_is_a_tenth_per_snapshot_capped_at_090(n: int, confidence: float) -> None:
    assert predict(series(*[0.7] * n), 0.7, day(n)).confidence == confidence


@pytest.mark.parametrize(
    ("current", "intervention"), [(0.5, False), (0.4996, False), (0.499, True), (0.2, True)]
)
def test_intervention_is_needed_below_a_predicted_half(current: float, intervention: bool) -> None:
    p = predict(series(0.5, 0.5, 0.5), current, day(3))

    assert p.intervention_needed is intervention


def test_snapshot_order_does_not_matter() -> None:
    snapshots = series(0.3, 0.1, 0.4, 0.15, 0.9)

    assert predict(snapshots[::-1], 0.5, day(5)) == predict(snapshots, 0.5, day(5))


@pytest.mark.parametrize("days", [0, -1, 91])
def test_days_outside_1_to_90_are_refused(days: int) -> None:
    with pytest.raises(ValueError, match="days"):
        predict(series(0.5, 0.5, 0.5), 0.5, day(3), days=days)


@pytest.mark.parametrize("days", [1, 90])
def test_days_bounds_are_accepted(days: int) -> None:
    assert predict(series(0.5, 0.5, 0.5), 0.5, day(3), days=days).days == days


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), max_size=20),
    st.floats(0.0, 1.0),
    st.integers(1, 90),
)
def test_prediction_stays_in_range(scores: list[float], current: float, days: int) -> None:
    p = predict(series(*scores), current, day(len(scores) or 1), days)

    assert 0.0 <= p.confidence <= 0.9
    if p.predicted_score is None:
        assert len(scores) < 3
    else:
        assert 0.0 <= p.predicted_score <= 1.0
        assert p.intervention_needed is (p.predicted_score < 0.5)
