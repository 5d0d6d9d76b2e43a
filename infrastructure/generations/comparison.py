"""What would change for users between two generations (SPEC §4b, ``generations compare``):
the statistics, accumulated one student at a time. Only what the statistics need is kept: one
float per student for the percentiles, and the 20 largest changes."""

from __future__ import annotations

import heapq
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

LARGEST = 20
MISSING = "(absent)"  # a student one generation has no document for


@dataclass(frozen=True, slots=True)
class Side:
    """A student as one generation answers: score (rounded as exposed), level, at risk."""

    score: float
    level: str
    at_risk: bool


@dataclass(slots=True)
class Comparison:
    a: str
    b: str
    matrix: Counter[tuple[str, str]] = field(default_factory=Counter)
    deltas: list[float] = field(default_factory=list)
    became_at_risk: list[str] = field(default_factory=list)
    no_longer_at_risk: list[str] = field(default_factory=list)
    _largest: list[tuple[float, str, float, float]] = field(default_factory=list)

    def add(self, student: str, a: Side | None, b: Side | None) -> None:
        """One student (``tenant/student``) as each generation answers (None: absent)."""
        self.matrix[(a.level if a else MISSING, b.level if b else MISSING)] += 1
        if a is None or b is None:
            return
        delta = round(b.score - a.score, 6)
        self.deltas.append(delta)
        entry = (abs(delta), student, a.score, b.score)
        if len(self._largest) < LARGEST:
            heapq.heappush(self._largest, entry)
        elif entry > self._largest[0]:
            heapq.heapreplace(self._largest, entry)
        if b.at_risk and not a.at_risk:
            self.became_at_risk.append(student)
        elif a.at_risk and not b.at_risk:
            self.no_longer_at_risk.append(student)

    def to_document(self) -> dict[str, Any]:
        levels = sorted({lvl for pair in self.matrix for lvl in pair})
        return {
            "a": self.a,
            "b": self.b,
            "students": sum(self.matrix.values()),
            "levels": {la: {lb: self.matrix.get((la, lb), 0) for lb in levels} for la in levels},
            "score_delta": delta_statistics(self.deltas),
            "at_risk": {
                "became_at_risk": len(self.became_at_risk),
                "no_longer_at_risk": len(self.no_longer_at_risk),
                "became": self.became_at_risk[:100],
                "no_longer": self.no_longer_at_risk[:100],
            },
            "largest_changes": [
                {"student": s, "a": sa, "b": sb, "delta": round(sb - sa, 6)}
                for _, s, sa, sb in sorted(self._largest, reverse=True)
            ],
        }


def delta_statistics(deltas: list[float]) -> dict[str, float | int]:
    """Mean, p50, p95 and max of the score deltas (b - a); p50/p95/max of their absolute
    values would hide the direction, so the signed deltas are ranked."""
    if not deltas:
        return {"count": 0, "mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0.0, "max_abs": 0.0}
    ranked = sorted(deltas)
    return {
        "count": len(ranked),
        "mean": round(math.fsum(ranked) / len(ranked), 6),
        "p50": _percentile(ranked, 0.50),
        "p95": _percentile(ranked, 0.95),
        "max": ranked[-1],
        "max_abs": max(abs(ranked[0]), abs(ranked[-1])),
    }


def _percentile(ranked: list[float], q: float) -> float:
    """Nearest rank."""
    return ranked[max(0, math.ceil(q * len(ranked)) - 1)]
