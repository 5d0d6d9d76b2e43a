"""The mastery model, formula ``seed-v1`` (SPEC §4): a pure function of facts and a date.

Exactness. Every score is computed as an exact rational number and turned into a float once,
correctly rounded. Completion and quiz are ratios of integer sums (difficulty multipliers and
quiz confidences in tenths); a quality input is read as the decimal it was written as (the
shortest ``repr`` of the float, which is the JSON text), so three inputs of 0.7 give a quality
of exactly 0.7; consistency is (current / longest) * (9/10)^days. Rational arithmetic is
associative, so results are bit-identical whatever order the facts arrive in, and a score that
lies exactly on a threshold (0.75, 0.70, ...) is never pushed below it by float noise.
Thresholds (levels, recommendations, learning path) compare those correctly rounded floats, so
``level_for(m.score) == m.level`` always holds.

The modules, from the bottom: ``rules`` (the tables), ``ratio`` (exact arithmetic), ``values``
(what a mastery is made of, and its documents), ``scoring`` (the one weighted-score rule, exact
and float), ``recommendations``, ``knowledge_tracing`` (BKT in log space) and ``formulas`` (the
registry: ``seed-v1``, ``bkt-v1``, their quiz rules and predictors), the ledger (``samples``,
``topic_ledger``, ``activity``, ``ledger``), ``snapshots`` (over a collection of facts),
``carry_forward`` (the float read path), ``prediction`` and ``predictive_validity`` (AUC and
RMSE of the predictors, for ``generations evaluate``). This package keeps the names its
importers use; every function over facts takes a ``formula``, ``seed-v1`` by default.
"""

from domain.mastery.carry_forward import (
    OutdatedDocumentError,
    carried_forward,
    mastery_from_document,
)
from domain.mastery.ledger import MasteryLedger
from domain.mastery.prediction import Prediction, predict
from domain.mastery.rules import (
    FORMULA,
    LEVELS,
    LOWEST_LEVEL,
    PREDICTION_WINDOW,
    WEIGHTS,
    level_for,
)
from domain.mastery.snapshots import (
    DailySnapshots,
    Replayer,
    Step,
    StepKey,
    daily_masteries,
    mastery_as_of,
    replay_steps,
    step_key,
    timeline,
)
from domain.mastery.values import (
    DOCUMENT_VERSION,
    ComponentCounts,
    ComponentScores,
    EvidenceCounts,
    Mastery,
    Recommendation,
    TopicMastery,
)

__all__ = [
    "DOCUMENT_VERSION",
    "FORMULA",
    "LEVELS",
    "LOWEST_LEVEL",
    "PREDICTION_WINDOW",
    "WEIGHTS",
    "ComponentCounts",
    "ComponentScores",
    "DailySnapshots",
    "EvidenceCounts",
    "Mastery",
    "MasteryLedger",
    "OutdatedDocumentError",
    "Prediction",
    "Recommendation",
    "Replayer",
    "Step",
    "StepKey",
    "TopicMastery",
    "carried_forward",
    "daily_masteries",
    "level_for",
    "mastery_as_of",
    "mastery_from_document",
    "predict",
    "replay_steps",
    "step_key",
    "timeline",
]
