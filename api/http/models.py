"""Request and response models of the query API (pydantic v2); the OpenAPI document is
generated from them."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from domain.mastery import Mastery, Prediction

Level = Literal["beginner", "developing", "competent", "proficient", "expert"]
MAX_WAIT_MS = 5000
MAX_HISTORY_DAYS = 3660
DEFAULT_HISTORY_DAYS = 89
GENERATION_DESCRIPTION = (
    "The generation of read models that answered (SPEC §4b): the live one, or the one an "
    "admin named with `?generation=`."
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: object) -> object:
    """Query dates are exactly ``YYYY-MM-DD`` (no timestamps, no times)."""
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- queries (strict: unknown parameters are refused) ---------------------------------------


class NoQuery(_Model):
    pass


class MasteryQuery(_Model):
    as_of: IsoDate | None = Field(None, description="UTC date; default today (UTC).")
    min_position: int | None = Field(
        None, ge=0, le=2**62, description="Wait until the read models reflect this position."
    )
    wait_ms: int = Field(1000, ge=0, le=MAX_WAIT_MS, description="How long to wait (ms).")


class HistoryQuery(_Model):
    model_config = ConfigDict(populate_by_name=True)

    from_: IsoDate | None = Field(
        None,
        alias="from",
        description=f"First date; default to - {DEFAULT_HISTORY_DAYS} days. "
        f"The range spans at most {MAX_HISTORY_DAYS} days.",
    )
    to: IsoDate | None = Field(None, description="Last date; default today (UTC).")
    fill: bool = Field(False, description="One point per day (carried forward), not per activity.")

    @model_validator(mode="after")
    def check_order(self) -> HistoryQuery:
        if self.from_ is not None and self.to is not None and self.from_ > self.to:
            raise ValueError("from must not be after to")
        return self

    def dates(self, today: date) -> tuple[date, date]:
        """The first and last dates asked for, the defaults filled in.

        Raises ValueError when the range spans more than MAX_HISTORY_DAYS, whichever bounds
        were given (``from`` alone reaches to today), or when ``from`` is after the default
        ``to``. A default ``from`` stops at the calendar's first day."""
        end = self.to or today
        first = max(1, end.toordinal() - DEFAULT_HISTORY_DAYS)
        start = self.from_ or date.fromordinal(first)
        if start > end:
            raise ValueError(f"from must not be after to (default today, {end.isoformat()})")
        if (end - start).days > MAX_HISTORY_DAYS:
            raise ValueError(
                f"the range from {start.isoformat()} to {end.isoformat()} spans more than "
                f"{MAX_HISTORY_DAYS} days"
            )
        return start, end


class PredictionQuery(_Model):
    days: int = Field(7, ge=1, le=90, description="Horizon in days.")
    as_of: IsoDate | None = Field(None, description="UTC date; default today (UTC).")


# --- responses --------------------------------------------------------------------------------


class Components(_Model):
    completion: float
    quiz: float
    quality: float
    consistency: float


class ComponentCounts(_Model):
    """How many events of each component."""

    completion: int
    quiz: int
    quality: int
    consistency: int


class Evidence(ComponentCounts):
    """The student's events per component, and on how many UTC dates there was activity."""

    activity_days: int


class TopicOut(_Model):
    """A topic's mastery; its consistency is the student's. A topic with only activity markers
    is listed too, with completion, quiz and quality 0.0."""

    mastery_score: float
    level: Level
    components: Components
    evidence: ComponentCounts = Field(description="The topic's events per component.")


class RecommendationOut(_Model):
    action: str
    area: str
    priority: Literal["high", "medium", "low"]
    topic: str | None = Field(None, description="A topic recommendation's topic (see `area`).")

    @model_validator(mode="before")
    @classmethod
    def topic_of_area(cls, data: Any) -> Any:
        """A topic recommendation's ``area`` is ``topic:<topic>`` (SPEC §4): clients get the
        topic without parsing it."""
        area = data.get("area") if isinstance(data, dict) else None
        if isinstance(area, str) and area.startswith("topic:") and "topic" not in data:
            return {**data, "topic": area.removeprefix("topic:")}
        return data


class SnapshotOut(_Model):
    """Mastery as of a date, without topics."""

    as_of: date
    mastery_score: float
    level: Level
    components: Components
    breakdown: Components
    evidence: Evidence
    event_count: int
    last_event_at: datetime | None
    formula: str
    recommendations: list[RecommendationOut]
    learning_path: list[str]
    no_evidence: list[str]

    @classmethod
    def of(cls, mastery: Mastery) -> SnapshotOut:
        return cls.model_validate(mastery.to_document(with_topics=False))


class MasteryOut(SnapshotOut):
    tenant_id: str
    student_id: str
    topics: dict[str, TopicOut]
    position: int | None = Field(description="Event store position the read model reflects.")
    source: Literal["read_model", "replay"]
    stale: bool = Field(description="True when min_position was not reached within wait_ms.")
    no_data: bool = Field(description="A date before the first event: no advice, scores 0.0.")
    generation: str = Field(description=GENERATION_DESCRIPTION)


class HistoryOut(_Model):
    tenant_id: str
    student_id: str
    from_: date = Field(alias="from")
    to: date
    snapshots: list[SnapshotOut]
    generation: str = Field(description=GENERATION_DESCRIPTION)
    formula: str = Field(description="The formula of the generation that answered.")


class TopicsOut(_Model):
    tenant_id: str
    student_id: str
    as_of: date
    topics: dict[str, TopicOut]
    generation: str = Field(description=GENERATION_DESCRIPTION)
    formula: str = Field(description="The formula of the generation that answered.")


class PredictionOut(_Model):
    predicted_score: float | None
    confidence: float
    trend: Literal["improving", "declining", "stable", "insufficient_data"]
    intervention_needed: bool
    days: int

    @classmethod
    def of(cls, prediction: Prediction) -> PredictionOut:
        return cls.model_validate(prediction.to_document())


class StudentPredictionOut(PredictionOut):
    tenant_id: str
    student_id: str
    as_of: date
    current_score: float
    generation: str = Field(description=GENERATION_DESCRIPTION)
    formula: str = Field(description="The formula of the generation that answered.")


class RecommendationsOut(_Model):
    tenant_id: str
    student_id: str
    as_of: date
    recommendations: list[RecommendationOut]
    learning_path: list[str]
    generation: str = Field(description=GENERATION_DESCRIPTION)
    formula: str = Field(description="The formula of the generation that answered.")


class RosterStudentOut(_Model):
    student_id: str
    mastery_score: float
    level: Level
    prediction: PredictionOut
    at_risk: bool


class ClassMasteryOut(_Model):
    tenant_id: str
    class_id: str
    as_of: date
    students: list[RosterStudentOut]


class FieldErrorOut(_Model):
    loc: str
    msg: str
    type: str


class OutcomeOut(_Model):
    status: Literal["recorded", "duplicate", "conflict", "rejected"]
    event_id: str | None
    code: str | None = None
    errors: list[FieldErrorOut] = []


class IngestOut(_Model):
    outcomes: list[OutcomeOut]
    counts: dict[str, int]
    position: int | None = Field(
        description="Event store position after the write; the store's head when nothing was "
        "written but an event was a duplicate (its original is at or before it); null when "
        "nothing was written and no event was a duplicate."
    )


class ExportedEvent(BaseModel):
    """One event in a subject export (open: the audit record's fields)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    position: int
    event_id: str


class AccessLogEntryOut(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    at: str
    subject: str
    role: str
    route: str
    outcome: str


class SubjectExportOut(_Model):
    """Everything held about one student (GDPR access and portability)."""

    tenant_id: str
    student_id: str
    erased: bool
    exported_at: str
    events: list[ExportedEvent]
    current_mastery: dict[str, Any] | None
    snapshots: list[dict[str, Any]]
    access_log: list[AccessLogEntryOut]


class ErasureOut(_Model):
    tenant_id: str
    student_id: str
    erased: bool
    erased_now: bool  # False: the student had already been erased
    events_kept: int  # events that stay in the log, unreadable


class Problem(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldErrorOut] | None = None


class HealthOut(_Model):
    status: Literal["ok"]


class ReadyOut(_Model):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str]
