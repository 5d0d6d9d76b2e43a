"""The samples a ledger keeps of completion and quality facts, ordered by (time, event id).

A topic's latest completion fact and the 10 latest quality facts decide completion and quality
whatever order facts arrive in; these samples carry what is needed to pick them and to write
them into the ledger's state.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.facts import DIFFICULTY_TENTHS
from domain.mastery.ratio import Ratio, decimal_ratio
from domain.mastery.rules import QUALITY_WINDOW

OrderKey = tuple[datetime, str]


@dataclass(frozen=True, slots=True)
class CompletionSample:
    at: datetime
    event_id: str
    completed: int
    total: int
    difficulty: str

    @property
    def key(self) -> OrderKey:
        return (self.at, self.event_id)

    @property
    def weighted_tenths(self) -> int:
        return self.completed * DIFFICULTY_TENTHS[self.difficulty]

    def to_state(self) -> list[Any]:
        return [self.at.isoformat(), self.event_id, self.completed, self.total, self.difficulty]

    @classmethod
    def from_state(cls, state: list[Any]) -> CompletionSample:
        at, event_id, completed, total, difficulty = state
        return cls(datetime.fromisoformat(at), event_id, completed, total, difficulty)


@dataclass(frozen=True, slots=True)
class QualitySample:
    at: datetime
    event_id: str
    avg_code_quality: float
    correctness: float
    efficiency: float
    value: Ratio = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        (an, ad), (bn, bd), (cn, cd) = map(
            decimal_ratio, (self.avg_code_quality, self.correctness, self.efficiency)
        )
        object.__setattr__(
            self, "value", (an * bd * cd + bn * ad * cd + cn * ad * bd, 3 * ad * bd * cd)
        )

    @property
    def key(self) -> OrderKey:
        return (self.at, self.event_id)

    def to_state(self) -> list[Any]:
        return [
            self.at.isoformat(),
            self.event_id,
            self.avg_code_quality,
            self.correctness,
            self.efficiency,
        ]

    @classmethod
    def from_state(cls, state: list[Any]) -> QualitySample:
        at, event_id, avg_code_quality, correctness, efficiency = state
        return cls(datetime.fromisoformat(at), event_id, avg_code_quality, correctness, efficiency)


def keep_latest(window: list[QualitySample], sample: QualitySample) -> None:
    """Insert into an ascending window and drop the oldest beyond ``QUALITY_WINDOW``."""
    bisect.insort(window, sample, key=lambda s: s.key)
    if len(window) > QUALITY_WINDOW:
        del window[0]
