"""The tools' inputs (typed parameters with their constraints and descriptions, from which the
SDK writes each tool's input schema) and the answers that are the MCP server's own; the others
are the query API's models (``api.http.models``), so a tool answers what the route answers."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, WithJsonSchema

from api.http.directory_models import ClassSummaryOut
from api.http.event_schema import AnyEvent
from api.http.models import (
    IsoDate,
    Level,
    RecommendationOut,
    RecommendationsOut,
    RosterStudentOut,
    _Model,
)
from domain.identifiers import IDENTIFIER_PATTERN

ComponentName = Literal["completion", "quiz", "quality", "consistency"]

# --- inputs -----------------------------------------------------------------------------------

StudentId = Annotated[
    str,
    Field(
        pattern=IDENTIFIER_PATTERN,
        description="The student's id (1-128 characters of A-Z a-z 0-9 . _ -), in the token's "
        "tenant.",
    ),
]
ClassId = Annotated[
    str,
    Field(
        pattern=IDENTIFIER_PATTERN,
        description="The class id (1-128 characters of A-Z a-z 0-9 . _ -), in the token's tenant.",
    ),
]
AsOf = Annotated[
    IsoDate | None,
    Field(description="A UTC calendar date YYYY-MM-DD; default today (UTC)."),
]
Days = Annotated[int, Field(ge=1, le=90, description="How many days ahead to predict (1-90).")]


def _inlined(schema: Any, definitions: dict[str, Any]) -> Any:
    """``schema`` with every ``$ref`` to its ``$defs`` replaced by the definition itself: a
    tool's parameter schema is a part of the tool's, where the refs would not resolve."""
    if isinstance(schema, dict):
        reference = schema.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/$defs/"):
            return _inlined(definitions[reference.removeprefix("#/$defs/")], definitions)
        return {k: _inlined(v, definitions) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inlined(item, definitions) for item in schema]
    return schema


def _event_schema() -> dict[str, Any]:
    schema = TypeAdapter(AnyEvent).json_schema(mode="validation")
    inlined: dict[str, Any] = _inlined(schema, schema.get("$defs", {}))
    inlined.pop("discriminator", None)  # OpenAPI's keyword; its mapping names the $defs
    inlined["description"] = (
        "One learning event of input contract v1 (SPEC §3), exactly as POST /v1/events takes "
        "it; `component` selects the shape of `data`. Without `tenant_id` it is the token's "
        "tenant; naming another tenant is rejected."
    )
    return inlined


# The event travels to the ingest path as it was written (its content decides duplicate or
# conflict), so the parameter is taken as a plain object; the published schema is the
# contract's, and the contract's validation gives a rejected event its field errors.
LearningEventArgument = Annotated[dict[str, Any], WithJsonSchema(_event_schema())]


# --- answers ----------------------------------------------------------------------------------


class NextStepsOut(RecommendationsOut):
    """``GET /v1/students/{id}/recommendations``, with the first of each list picked out."""

    next: RecommendationOut | None = Field(
        description="The recommendation to act on first (the list is in priority order)."
    )
    next_activity: str | None = Field(description="The first step of the learning path.")


class ClassOverviewOut(_Model):
    """A class at a glance: its summary as ``GET /v1/classes`` lists it, and its roster as
    ``GET /v1/classes/{id}/mastery`` answers it."""

    tenant_id: str
    class_id: str
    as_of: date
    summary: ClassSummaryOut
    students: list[RosterStudentOut]


class ComponentExplanation(_Model):
    component: ComponentName
    value: float = Field(description="The component's score in [0, 1].")
    weight: float = Field(description="Its weight in the mastery score.")
    contribution: float = Field(description="weight x value: its part of the mastery score.")
    evidence: int = Field(
        description="Events of this component (for consistency: days with any activity)."
    )
    has_evidence: bool = Field(description="False: no evidence yet, so the value counts as 0.")
    headroom: float = Field(description="1 - value: how far the component is from perfect.")
    potential_gain: float = Field(
        description="weight x headroom: how much the mastery score would rise were this "
        "component perfect."
    )
    measures: str = Field(description="What the component measures, in words.")
    in_words: str


class FormulaExplanation(_Model):
    name: str = Field(description="The formula named by the mastery document.")
    known: bool = Field(description="False: a formula this server has no description of.")
    description: str
    weighted_sum: str = Field(description="The score as the formula computes it, in numbers.")


class LevelProgress(_Model):
    level: Level
    next_level: Level | None = Field(description="Null at the top level.")
    next_threshold: float | None = Field(description="The score the next level starts at.")
    distance: float | None = Field(description="How much the score must rise to reach it.")
    in_words: str


class Lever(_Model):
    """The single component that would raise the score most for the same effort."""

    component: ComponentName
    gain: float = Field(description="The rise of the mastery score were it perfect.")
    score_if_perfect: float
    level_if_perfect: Level
    in_words: str


class ExplanationOut(_Model):
    tenant_id: str
    student_id: str
    as_of: date
    mastery_score: float
    level: Level
    event_count: int
    no_data: bool = Field(description="True before the student's first event.")
    formula: FormulaExplanation
    components: list[ComponentExplanation] = Field(
        description="In the formula's order: completion, quiz, quality, consistency."
    )
    progress: LevelProgress
    biggest_lever: Lever | None = Field(description="Null when every component is perfect.")
    summary: str = Field(description="The whole explanation in a few sentences.")
