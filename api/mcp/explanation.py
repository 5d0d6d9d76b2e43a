"""``explain_mastery``: a mastery answer of the query API put into words.

Everything comes from the mastery document ``GET /v1/students/{id}/mastery`` answers (its
components, breakdown, evidence, level and ``formula``) and from the formula's tables (weights,
level thresholds); nothing is computed a second way. Descriptions are looked up by the
document's ``formula``; a formula this table does not know is described by the registry's
summary, or generically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from api.http.models import MasteryOut
from api.mcp.models import (
    ComponentExplanation,
    ComponentName,
    ExplanationOut,
    FormulaExplanation,
    LevelProgress,
    Lever,
)
from domain.mastery import LEVELS, WEIGHTS, level_for
from domain.mastery.formulas import FORMULAS

COMPONENTS: tuple[ComponentName, ...] = get_args(ComponentName)


@dataclass(frozen=True, slots=True)
class FormulaWords:
    description: str
    measures: dict[str, str]


_COMPLETION = (
    "the share of exercises completed, from each topic's latest completion report, weighted "
    "by difficulty (beginner x0.8, intermediate x1.0, advanced x1.2), at most 1"
)
_QUALITY = "the mean of code quality, correctness and efficiency over the 10 latest code reviews"
_CONSISTENCY = (
    "the current run of consecutive active days over the longest run, decaying by 10% for "
    "each day without activity since the last one"
)
_WEIGHTED = (
    "The mastery score is 0.40 x completion + 0.30 x quiz + 0.20 x quality + 0.10 x "
    "consistency; a component without evidence counts as 0. Levels: expert from 0.90, "
    "proficient from 0.75, competent from 0.60, developing from 0.40, beginner below."
)

FORMULA_WORDS: dict[str, FormulaWords] = {
    "seed-v1": FormulaWords(
        f"Formula seed-v1. {_WEIGHTED} Quiz is the lifetime ratio of correct answers.",
        {
            "completion": _COMPLETION,
            "quiz": "the lifetime ratio of correct answers, each quiz discounted by 10% per "
            "extra attempt (to at most half)",
            "quality": _QUALITY,
            "consistency": _CONSISTENCY,
        },
    ),
    "bkt-v1": FormulaWords(
        f"Formula bkt-v1. {_WEIGHTED} Quiz is a Bayesian Knowledge Tracing estimate of what "
        "the student knows now, not a lifetime ratio.",
        {
            "completion": _COMPLETION,
            "quiz": "the estimated probability that the student knows each quizzed topic now "
            "(Bayesian Knowledge Tracing over the topic's quizzes in time order: slip 0.1, "
            "guess 0.2, learning 0.1), averaged over the topics with quizzes",
            "quality": _QUALITY,
            "consistency": _CONSISTENCY,
        },
    ),
}
GENERIC_MEASURES = {
    "completion": "how much of the assigned exercises the student completed",
    "quiz": "how well the student answers quiz questions",
    "quality": "the quality of the student's code as reviewed",
    "consistency": "how regularly the student is active",
}


def formula_words(name: str) -> tuple[bool, FormulaWords]:
    """Whether the formula is described here, and its words (generic ones otherwise)."""
    if name in FORMULA_WORDS:
        return True, FORMULA_WORDS[name]
    summary = FORMULAS[name].summary if name in FORMULAS else "a weighted sum of four components"
    return False, FormulaWords(
        f"Formula {name}: {summary}. The mastery score is the sum of each component's weight "
        "times its value.",
        GENERIC_MEASURES,
    )


def explanation(mastery: MasteryOut) -> ExplanationOut:
    known, words = formula_words(mastery.formula)
    components = [_component(mastery, name, words.measures[name]) for name in COMPONENTS]
    progress = _progress(mastery.mastery_score, mastery.level)
    lever = _lever(mastery.mastery_score, components)
    formula = FormulaExplanation(
        name=mastery.formula,
        known=known,
        description=words.description,
        weighted_sum=f"{_terms(components)} = {mastery.mastery_score:.3f}",
    )
    return ExplanationOut(
        tenant_id=mastery.tenant_id,
        student_id=mastery.student_id,
        as_of=mastery.as_of,
        mastery_score=mastery.mastery_score,
        level=mastery.level,
        event_count=mastery.event_count,
        no_data=mastery.no_data,
        formula=formula,
        components=components,
        progress=progress,
        biggest_lever=lever,
        summary=_summary(mastery, components, progress, lever),
    )


def _component(mastery: MasteryOut, name: ComponentName, measures: str) -> ComponentExplanation:
    value: float = getattr(mastery.components, name)
    weight = WEIGHTS[name]
    evidence: int = (
        mastery.evidence.activity_days if name == "consistency" else getattr(mastery.evidence, name)
    )
    unit = "active day" if name == "consistency" else f"{name} event"
    counted = f"{evidence} {unit}" + ("" if evidence == 1 else "s")
    headroom = round(1 - value, 3)
    contribution: float = getattr(mastery.breakdown, name)
    return ComponentExplanation(
        component=name,
        value=value,
        weight=weight,
        contribution=contribution,
        evidence=evidence,
        has_evidence=name not in mastery.no_evidence,
        headroom=headroom,
        potential_gain=round(weight * headroom, 3),
        measures=measures,
        in_words=(
            f"{name} {value:.3f} x weight {weight:.2f} = {contribution:.3f}, from {counted}"
            + ("" if name not in mastery.no_evidence else " (no evidence yet: counted as 0)")
        ),
    )


def _progress(score: float, level: str) -> LevelProgress:
    """The level and the one above it: the document's level was decided on the unrounded
    score, so the next level is the one above that level, not above the rounded score."""
    ladder = [(threshold, name) for threshold, name in reversed(LEVELS)]  # lowest first
    above = [name for _, name in ladder]
    index = above.index(level) + 1 if level in above else 0
    if index == len(ladder):
        return LevelProgress(
            level=level,
            next_level=None,
            next_threshold=None,
            distance=None,
            in_words=f"{level} is the top level",
        )
    threshold, name = ladder[index]
    distance = max(round(threshold - score, 3), 0.001)  # 0 only by rounding: just below
    return LevelProgress(
        level=level,
        next_level=name,
        next_threshold=threshold,
        distance=distance,
        in_words=f"{level} now; {name} starts at {threshold:.2f}, {distance:.3f} above the "
        f"score of {score:.3f}",
    )


def _lever(score: float, components: list[ComponentExplanation]) -> Lever | None:
    best = max(components, key=lambda c: c.potential_gain)  # the first of equals: formula order
    if best.potential_gain <= 0:
        return None
    reached = min(round(score + best.potential_gain, 3), 1.0)
    level = level_for(reached)
    return Lever(
        component=best.component,
        gain=best.potential_gain,
        score_if_perfect=reached,
        level_if_perfect=level,
        in_words=(
            f"{best.component} would raise the score most: it is {best.value:.3f} with weight "
            f"{best.weight:.2f}, so bringing it to 1 adds {best.potential_gain:.3f} "
            f"(to {reached:.3f}, {level})"
        ),
    )


def _terms(components: list[ComponentExplanation]) -> str:
    return " + ".join(f"{c.weight:.2f} x {c.value:.3f}" for c in components)


def _summary(
    mastery: MasteryOut,
    components: list[ComponentExplanation],
    progress: LevelProgress,
    lever: Lever | None,
) -> str:
    if mastery.no_data:
        opening = f"No learning events up to {mastery.as_of.isoformat()}: every component is 0."
    else:
        opening = (
            f"Mastery {mastery.mastery_score:.3f} ({mastery.level}) as of "
            f"{mastery.as_of.isoformat()}, from {mastery.event_count} events."
        )
    parts = [opening, f"{mastery.mastery_score:.3f} = {_terms(components)}."]
    parts += [c.in_words[:1].upper() + c.in_words[1:] + "." for c in components]
    parts.append(progress.in_words[:1].upper() + progress.in_words[1:] + ".")
    if lever is not None:
        parts.append(lever.in_words[:1].upper() + lever.in_words[1:] + ".")
    return " ".join(parts)
