"""Bayesian Knowledge Tracing (SPEC §4, formula ``bkt-v1``), computed in log space.

The state of a skill is kept as log(1 - p), the log of the probability that the skill is *not*
known. Learning bounds p below by T (p' = post + (1 - post) T >= T), so 1 - p lies in (0, 1 - T]
and log(1 - p) never reaches 0; it goes towards minus infinity as evidence of knowing piles up
and stays finite (k correct answers of n add at most n * log((1 - S) / G) to a log odds, which
for n = 1,000,000 is about 1.5e6: nowhere near a float's range). Every product of the update is
a sum of logs, so a quiz of a million questions never underflows; p = -expm1(log(1 - p)) is
then 1.0 to the float's precision, the correct limit.

Update by one quiz event (k correct of n; ``attempts`` does not enter):
a = p (1-S)^k S^(n-k), b = (1-p) G^k (1-G)^(n-k), post = a / (a + b),
p <- post + (1 - post) T, i.e. 1 - p <- (1 - post)(1 - T).
With d = log a - log b, log(1 - post) = -softplus(d).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.mastery.ratio import Ratio

SampleKey = tuple[datetime, str]
"""Where a quiz event stands: its UTC time, then its event id (SPEC §4's "order")."""


@dataclass(frozen=True, slots=True)
class KnowledgeTracing:
    """The four BKT parameters, each strictly between 0 and 1, and the logs the update uses."""

    prior: float
    slip: float
    guess: float
    learn: float
    _log_correct: float = field(init=False, repr=False, compare=False)
    _log_wrong: float = field(init=False, repr=False, compare=False)
    _log_unlearned: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("prior", "slip", "guess", "learn"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"BKT {name} must lie strictly between 0 and 1, not {value!r}")
        # log likelihood ratio (known vs not known) of one correct and of one wrong answer
        object.__setattr__(self, "_log_correct", math.log(1 - self.slip) - math.log(self.guess))
        object.__setattr__(self, "_log_wrong", math.log(self.slip) - math.log1p(-self.guess))
        object.__setattr__(self, "_log_unlearned", math.log1p(-self.learn))

    @property
    def initial(self) -> float:
        """log(1 - P0): the state before any evidence."""
        return math.log1p(-self.prior)

    def updated(self, log_unknown: float, correct: int, total: int) -> float:
        """log(1 - p) after a quiz event of ``correct`` right answers out of ``total``."""
        log_known = math.log1p(-math.exp(log_unknown))
        d = (
            log_known
            - log_unknown
            + correct * self._log_correct
            + (total - correct) * self._log_wrong
        )
        return -_softplus(d) + self._log_unlearned

    @staticmethod
    def known(log_unknown: float) -> float:
        """p, the probability that the skill is known, from log(1 - p)."""
        return -math.expm1(log_unknown)

    def correct_probability(self, known: float) -> float:
        """The probability of a correct answer: p (1 - S) + (1 - p) G."""
        return known * (1 - self.slip) + (1 - known) * self.guess


BKT_V1_PARAMETERS = KnowledgeTracing(prior=0.3, slip=0.1, guess=0.2, learn=0.1)


def _softplus(x: float) -> float:
    """log(1 + e^x) without overflow for large x nor loss for very negative x."""
    if x > 0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


class KnowledgeTrack:
    """One topic's quiz events in (time, event id) order and the state after each of them.

    A late event (one that sorts before events already taken) changes the fold from its place
    on: the states before it are kept and the rest are recomputed. The result depends only on
    the set of events, whatever order they are added in (the fold always runs in key order from
    a state computed the same way).
    """

    __slots__ = ("_after", "_answers", "_keys", "model")

    def __init__(self, model: KnowledgeTracing) -> None:
        self.model = model
        self._keys: list[SampleKey] = []
        self._answers: list[tuple[int, int]] = []  # (correct, total), in key order
        self._after: list[float] = []  # log(1 - p) after each event

    def copy(self) -> KnowledgeTrack:
        twin = KnowledgeTrack(self.model)
        twin._keys, twin._answers, twin._after = (
            list(self._keys),
            list(self._answers),
            list(self._after),
        )
        return twin

    def add(self, key: SampleKey, correct: int, total: int) -> None:
        index = bisect.bisect_right(self._keys, key)
        self._keys.insert(index, key)
        self._answers.insert(index, (correct, total))
        del self._after[index:]
        state = self._after[-1] if self._after else self.model.initial
        for k, n in self._answers[index:]:
            state = self.model.updated(state, k, n)
            self._after.append(state)

    @property
    def log_unknown(self) -> float:
        return self._after[-1] if self._after else self.model.initial

    def known(self) -> float:
        """p after every event taken (P0 before any)."""
        return self.model.known(self.log_unknown)

    def ratio(self) -> Ratio:
        """p as an exact rational (a float's own value), for the exact weighted score."""
        return self.known().as_integer_ratio()

    def __len__(self) -> int:
        return len(self._keys)

    def to_state(self) -> list[list[Any]]:
        return [
            [at.isoformat(), event_id, k, n]
            for (at, event_id), (k, n) in zip(self._keys, self._answers, strict=True)
        ]
