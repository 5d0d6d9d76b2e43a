"""An xAPI statement (1.0.3 and 2.0), checked by the specification's rules that matter for
ingest: id, actor, verb, object, result, timestamp, context and version.

``parse_statement`` turns a parsed JSON value into a ``Statement`` or raises the contract's
``InvalidEvent`` with field errors (``loc`` a dotted path into the statement, as the learning
event contract's errors are). Properties the mapping never reads (attachments, authority,
``context.instructor`` ...) are kept as they came and checked only for their JSON type: a
statement an LRS would accept is not refused here for a detail the mastery model cannot use.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from infrastructure.ingest.contract import FieldError, InvalidEvent

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# An absolute IRI: a scheme, a colon, then no white space (RFC 3987's shape, not its grammar).
IRI_PATTERN = r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$"
MBOX_PATTERN = r"^mailto:[^\s@]+@[^\s@]+$"
SHA1_PATTERN = r"^[0-9a-fA-F]{40}$"
VERSION_PATTERN = r"^(1\.0(\.\d+)?|2\.0(\.\d+)?)$"
ISO_DURATION = re.compile(
    r"^P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
    r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$"
)
ISO_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)$"
)
TOP_LEVEL = frozenset(
    {
        "id",
        "actor",
        "verb",
        "object",
        "result",
        "context",
        "timestamp",
        "stored",
        "authority",
        "version",
        "attachments",
        "objectType",
    }
)

Uuid = Annotated[str, StringConstraints(strict=True, pattern=UUID_PATTERN)]
Iri = Annotated[str, StringConstraints(strict=True, pattern=IRI_PATTERN, max_length=2048)]
Text = Annotated[str, StringConstraints(strict=True)]
LanguageMap = dict[Text, Text]
Extensions = dict[Iri, Any]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class _Open(BaseModel):
    """Properties beyond those named are kept (the specification lets profiles add some)."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class Account(_Open):
    home_page: Iri = Field(alias="homePage")
    name: Annotated[str, StringConstraints(strict=True, min_length=1)]


class Actor(_Open):
    """An Agent, or a Group (identified by one IFI, or anonymous with members)."""

    object_type: Literal["Agent", "Group"] = Field("Agent", alias="objectType")
    name: Text | None = None
    mbox: Annotated[str, StringConstraints(strict=True, pattern=MBOX_PATTERN)] | None = None
    mbox_sha1sum: Annotated[str, StringConstraints(strict=True, pattern=SHA1_PATTERN)] | None = None
    openid: Iri | None = None
    account: Account | None = None
    member: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def check_one_identifier(self) -> Actor:
        count = len(self.identifiers())
        if count > 1:
            raise ValueError(
                "must have exactly one identifier of mbox, mbox_sha1sum, openid, account"
            )
        if count == 0 and (self.object_type == "Agent" or not self.member):
            raise ValueError(
                "must have one identifier of mbox, mbox_sha1sum, openid, account "
                "(only a Group with members may have none)"
            )
        return self

    def identifiers(self) -> list[str]:
        return [
            name
            for name in ("mbox", "mbox_sha1sum", "openid", "account")
            if getattr(self, name) is not None
        ]


class Verb(_Open):
    id: Iri
    display: LanguageMap | None = None


class ActivityDefinition(_Open):
    type: Iri | None = None
    name: LanguageMap | None = None
    description: LanguageMap | None = None
    extensions: Extensions | None = None


class Activity(_Open):
    object_type: Literal["Activity"] = Field("Activity", alias="objectType")
    id: Iri
    definition: ActivityDefinition | None = None


class OtherObject(_Open):
    """An object that is not an Activity: an Agent, a Group, a StatementRef, a SubStatement.
    Kept for the mapping to say it maps to nothing; only its kind is checked."""

    object_type: Literal["Agent", "Group", "StatementRef", "SubStatement"] = Field(
        alias="objectType"
    )


class Score(_Open):
    scaled: Annotated[Number, Field(ge=-1.0, le=1.0)] | None = None
    raw: Number | None = None
    min: Number | None = None
    max: Number | None = None

    @model_validator(mode="after")
    def check_raw_within_bounds(self) -> Score:
        if self.min is not None and self.max is not None and not self.min < self.max:
            raise ValueError("min must be less than max")
        if self.raw is not None:
            if self.min is not None and self.raw < self.min:
                raise ValueError("raw must not be less than min")
            if self.max is not None and self.raw > self.max:
                raise ValueError("raw must not be more than max")
        return self


class Result(_Open):
    score: Score | None = None
    success: Annotated[bool, Field(strict=True)] | None = None
    completion: Annotated[bool, Field(strict=True)] | None = None
    response: Text | None = None
    duration: Text | None = None
    extensions: Extensions | None = None

    @field_validator("duration")
    @classmethod
    def check_iso_duration(cls, value: str | None) -> str | None:
        if value is not None and not ISO_DURATION.match(value):
            raise ValueError("must be an ISO 8601 duration, e.g. PT1H30M or PT95.5S")
        return value


ActivityList = list[Activity]
# One activity or a list of them; tried in this order (a smart union would try both).
OneOrMany = Annotated[Activity | ActivityList, Field(union_mode="left_to_right")]


class ContextActivities(_Open):
    parent: OneOrMany | None = None
    grouping: OneOrMany | None = None
    category: OneOrMany | None = None
    other: OneOrMany | None = None

    def of(self, kind: str) -> list[Activity]:
        value = getattr(self, kind)
        if value is None:
            return []
        return [value] if isinstance(value, Activity) else list(value)


class Context(_Open):
    registration: Uuid | None = None
    context_activities: ContextActivities | None = Field(None, alias="contextActivities")
    extensions: Extensions | None = None
    platform: Text | None = None
    language: Text | None = None


class Statement(_Open):
    id: Uuid | None = None
    actor: Actor
    verb: Verb
    object: Annotated[Activity | OtherObject, Field(union_mode="left_to_right")]
    result: Result | None = None
    context: Context | None = None
    timestamp: Text | None = None
    stored: Text | None = None
    version: Annotated[str, StringConstraints(strict=True, pattern=VERSION_PATTERN)] | None = None

    @field_validator("timestamp", "stored")
    @classmethod
    def check_iso_timestamp(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parse_xapi_timestamp(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def check_known_properties(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(str(key) for key in data if key not in TOP_LEVEL)
            if unknown:
                raise ValueError(f"unknown statement properties: {', '.join(unknown)}")
        return data

    @property
    def activity(self) -> Activity | None:
        return self.object if isinstance(self.object, Activity) else None


def parse_xapi_timestamp(value: str) -> datetime:
    """An ISO 8601 timestamp with its offset, in UTC; naive or malformed ones are refused."""
    if not ISO_TIMESTAMP.match(value):
        raise ValueError(
            "must be an ISO 8601 date-time with a UTC offset, e.g. 2026-01-14T10:30:00Z"
        )
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError as exc:
        raise ValueError(f"is not a valid date-time: {exc}") from None
    if moment.tzinfo is None:
        raise ValueError("must have a UTC offset")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the range of representable date-times") from None


def parse_statement(obj: object) -> Statement:
    """``obj`` as a ``Statement``, or ``InvalidEvent`` saying which fields are wrong and why."""
    if not isinstance(obj, dict):
        raise InvalidEvent(
            "validation_error", [FieldError("", "a statement must be a JSON object", "type")]
        )
    try:
        return Statement.model_validate(obj)
    except ValidationError as exc:
        raise InvalidEvent("validation_error", statement_errors(exc)) from None


def statement_errors(exc: ValidationError) -> list[FieldError]:
    """Pydantic's errors with xAPI's own property names as locations; a union's alternatives
    (an object that is neither an Activity nor another kind) reported once, as the Activity's."""
    errors: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for error in exc.errors(include_url=False, include_input=False):
        parts = [str(part) for part in error["loc"] if not _is_union_tag(part)]
        if parts[:1] == ["object"] and "OtherObject" in str(error["loc"]):
            continue
        loc = ".".join(_ALIASES.get(part, part) for part in parts)
        msg = error["msg"].removeprefix("Value error, ")
        if (loc, msg) in seen:
            continue
        seen.add((loc, msg))
        errors.append(FieldError(loc, msg, error["type"]))
    return errors or [FieldError("", "not a valid statement", "validation_error")]


_ALIASES = {"object_type": "objectType", "home_page": "homePage"}
_UNION_TAGS = ("Activity", "OtherObject", "list[Activity]", "function-after[")


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and part.startswith(_UNION_TAGS)
