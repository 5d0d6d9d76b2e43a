"""The registry of mastery formulas (SPEC §4): each a named, versioned, pure policy.

A formula decides how a student's facts become mastery; read models record the formula that
produced them, so a new one is rolled out as a generation of read models built beside the live
one (SPEC §4b). ``seed-v1`` is the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from domain.mastery.rules import FORMULA as SEED_V1_NAME


class UnknownFormulaError(ValueError):
    """A formula name no formula in the registry has."""

    def __init__(self, name: str) -> None:
        known = ", ".join(sorted(FORMULAS))
        super().__init__(f"unknown formula {name!r}; known formulas: {known}")
        self.name = name


@dataclass(frozen=True, slots=True)
class Formula:
    """A mastery formula: its name and a one-line summary for people."""

    name: str
    summary: str


SEED_V1 = Formula(
    SEED_V1_NAME,
    "40% completion, 30% quiz (lifetime ratio of correct answers), 20% code quality, "
    "10% consistency",
)

FORMULAS: Mapping[str, Formula] = MappingProxyType({SEED_V1.name: SEED_V1})
DEFAULT_FORMULA = SEED_V1


def formula_named(name: str) -> Formula:
    """The registered formula called ``name``; ``UnknownFormulaError`` otherwise."""
    try:
        return FORMULAS[name]
    except KeyError:
        raise UnknownFormulaError(name) from None
