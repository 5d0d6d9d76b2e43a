"""Exact arithmetic on integer pairs: the values the write path scores from."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.mastery.ratio import ONE, ZERO, Ratio, capped_ratio, decimal_ratio, mean, ratio


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.7, (7, 10)), (0.1, (1, 10)), (1.0, (1, 1)), (0.0, (0, 1)), (0.125, (1, 8))],
)
def test_a_float_is_read_as_the_decimal_it_was_written_as(value: float, expected: Ratio) -> None:
    assert decimal_ratio(value) == expected


def test_a_ratio_over_nothing_is_zero_and_a_capped_one_stops_at_one() -> None:
    assert ratio(3, 0) == ZERO
    assert ratio(3, 4) == (3, 4)
    assert capped_ratio(3, 0) == ZERO
    assert capped_ratio(5, 4) == ONE
    assert capped_ratio(4, 4) == ONE
    assert capped_ratio(3, 4) == (3, 4)


def test_the_mean_of_nothing_is_zero() -> None:
    assert mean([]) == ZERO


pairs = st.tuples(st.integers(0, 10**6), st.integers(1, 10**6))


@given(st.lists(pairs, min_size=1, max_size=20))
def test_the_mean_is_exact_and_in_lowest_terms(values: list[Ratio]) -> None:
    numerator, denominator = mean(values)

    expected = sum((Fraction(n, d) for n, d in values), Fraction(0)) / len(values)
    assert Fraction(numerator, denominator) == expected
    assert (numerator, denominator) == (expected.numerator, expected.denominator)
