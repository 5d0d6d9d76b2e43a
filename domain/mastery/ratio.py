"""Exact rational arithmetic on plain integer pairs.

The daily path (a score for every activity date of every student) keeps exact values as
``Ratio`` pairs rather than ``Fraction`` objects: the same rationals, and the same correctly
rounded ``int / int`` divisions, without normalising on every operation.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from math import gcd

Ratio = tuple[int, int]
"""An exact rational as (numerator, denominator > 0), not necessarily in lowest terms."""

ZERO: Ratio = (0, 1)
ONE: Ratio = (1, 1)


def decimal_ratio(value: float) -> Ratio:
    """The exact value of the decimal a float was written as (0.7 -> 7/10)."""
    return Decimal(repr(value)).as_integer_ratio()


def capped_ratio(numerator: int, denominator: int) -> Ratio:
    """min(1, numerator / denominator), and 0 when there is nothing to divide by."""
    if not denominator:
        return ZERO
    return ONE if numerator >= denominator else (numerator, denominator)


def ratio(numerator: int, denominator: int) -> Ratio:
    """numerator / denominator, and 0 when there is nothing to divide by."""
    return (numerator, denominator) if denominator else ZERO


def mean(values: Sequence[Ratio]) -> Ratio:
    """The exact mean, in lowest terms (so that sums of many means stay small)."""
    if not values:
        return ZERO
    total_n, total_d = 0, 1
    for n, d in values:
        if d == total_d:
            total_n += n
        else:
            total_n, total_d = total_n * d + n * total_d, total_d * d
    total_d *= len(values)
    common = gcd(total_n, total_d)
    return (total_n // common, total_d // common)
