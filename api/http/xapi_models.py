"""The answers of ``/xapi``: the About document, and the outcome document a client asking for
``application/vnd.mastery.xapi-outcomes+json`` gets instead of the bare list of ids."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.http.models import FieldErrorOut

OUTCOMES_MEDIA_TYPE = "application/vnd.mastery.xapi-outcomes+json"
OUTCOMES_EXTENSION = "https://mastery-engine.invalid/xapi/extensions/outcomes-media-type"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AboutOut(_Model):
    version: list[str] = Field(description="The xAPI versions this endpoint accepts.")
    extensions: dict[str, Any] = {}


class StatementOutcomeOut(_Model):
    statement_id: str | None = Field(
        description="The statement's id, or the one assigned to a statement sent without "
        "one; null when an invalid statement had no usable id."
    )
    status: Literal["recorded", "duplicate", "conflict", "rejected", "ignored"]
    event_id: str | None = Field(description="The learning event's id (the statement id).")
    rule: str | None = Field(
        description="The mapping rule that decided; null for a statement that is not valid."
    )
    code: str | None = None
    errors: list[FieldErrorOut] = []


class StatementsOut(_Model):
    statements: list[str | None] = Field(description="What xAPI answers: the ids, in order.")
    outcomes: list[StatementOutcomeOut]
    counts: dict[str, int]
    position: int | None = Field(
        description="Event store position after the write, as POST /v1/events answers it."
    )
