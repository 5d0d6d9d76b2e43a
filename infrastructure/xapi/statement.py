"""An xAPI statement (1.0.3 and 2.0), checked by the specification's rules that matter for
ingest: id, actor, verb, object, result, timestamp, context and version.

``parse_statement`` turns a parsed JSON value into a ``Statement`` or raises the contract's
``InvalidEvent`` with field errors (``loc`` a dotted path into the statement, as the learning
event contract's errors are). Properties the mapping never reads (attachments, authority,
``context.instructor`` ...) are not checked beyond JSON: a statement an LRS would accept is
not refused here for a detail the mastery model cannot use.

The shapes are pydantic-validated ``TypedDict``s: validation runs in pydantic-core and yields
plain dicts, about five times cheaper than model instances (``bench/xapi.py``); the few rules
a JSON Schema cannot say (one identifier per agent, a raw score within its bounds, a real
date) are checked after it, in ``_check_rules``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NotRequired, cast

from pydantic import (
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import TypedDict

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

# Nested objects may hold more than is checked (profiles add properties); only the statement's
# own top level is closed.
OPEN = ConfigDict(extra="ignore")

Uuid = Annotated[str, StringConstraints(strict=True, pattern=UUID_PATTERN)]
Iri = Annotated[str, StringConstraints(strict=True, pattern=IRI_PATTERN, max_length=2048)]
Text = Annotated[str, StringConstraints(strict=True)]
LanguageMap = dict[Text, Text]
Extensions = dict[Iri, Any]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Timestamp = Annotated[str, StringConstraints(strict=True, pattern=ISO_TIMESTAMP.pattern)]


@with_config(OPEN)
class Account(TypedDict):
    homePage: Iri
    name: Annotated[str, StringConstraints(strict=True, min_length=1)]


@with_config(OPEN)
class Actor(TypedDict, total=False):
    """An Agent, or a Group (identified by one IFI, or anonymous with members)."""

    objectType: Literal["Agent", "Group"]
    name: Text
    mbox: Annotated[str, StringConstraints(strict=True, pattern=MBOX_PATTERN)]
    mbox_sha1sum: Annotated[str, StringConstraints(strict=True, pattern=SHA1_PATTERN)]
    openid: Iri
    account: Account
    member: list[dict[str, Any]]


@with_config(OPEN)
class Verb(TypedDict):
    id: Iri
    display: NotRequired[LanguageMap]


@with_config(OPEN)
class ActivityDefinition(TypedDict, total=False):
    type: Iri
    name: LanguageMap
    description: LanguageMap
    extensions: Extensions


@with_config(OPEN)
class Activity(TypedDict):
    objectType: NotRequired[Literal["Activity"]]
    id: Iri
    definition: NotRequired[ActivityDefinition]


@with_config(OPEN)
class OtherObject(TypedDict):
    """An object that is not an Activity: an Agent, a Group, a StatementRef, a SubStatement.
    Kept for the mapping to say it maps to nothing; only its kind is checked."""

    objectType: Literal["Agent", "Group", "StatementRef", "SubStatement"]


@with_config(OPEN)
class Score(TypedDict, total=False):
    scaled: Annotated[Number, Field(ge=-1.0, le=1.0)]
    raw: Number
    min: Number
    max: Number


@with_config(OPEN)
class Result(TypedDict, total=False):
    score: Score
    success: Annotated[bool, Field(strict=True)]
    completion: Annotated[bool, Field(strict=True)]
    response: Text
    duration: Text
    extensions: Extensions


# One activity or a list of them; tried in this order (a smart union would try both).
OneOrMany = Annotated[Activity | list[Activity], Field(union_mode="left_to_right")]


@with_config(OPEN)
class ContextActivities(TypedDict, total=False):
    parent: OneOrMany
    grouping: OneOrMany
    category: OneOrMany
    other: OneOrMany


@with_config(OPEN)
class Context(TypedDict, total=False):
    registration: Uuid
    contextActivities: ContextActivities
    extensions: Extensions
    platform: Text
    language: Text


class StatementIn(TypedDict):
    """A statement: only xAPI's properties (an unknown one is refused, as an LRS does)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    id: NotRequired[Uuid]
    actor: Actor
    verb: Verb
    object: Annotated[Activity | OtherObject, Field(union_mode="left_to_right")]
    result: NotRequired[Result]
    context: NotRequired[Context]
    timestamp: NotRequired[Timestamp]
    stored: NotRequired[Timestamp]
    version: NotRequired[Annotated[str, StringConstraints(strict=True, pattern=VERSION_PATTERN)]]
    authority: NotRequired[dict[str, Any]]
    attachments: NotRequired[list[Any]]
    objectType: NotRequired[Literal["Statement"]]


STATEMENT = TypeAdapter(StatementIn)


class Statement:
    """A checked statement: its properties as the validated JSON objects, read once (the
    mapping reads them for every rule it tries)."""

    __slots__ = (
        "activity",
        "activity_type",
        "actor",
        "context",
        "data",
        "id",
        "object_type",
        "occurred",
        "result",
        "stored",
        "timestamp",
        "verb",
    )

    def __init__(self, data: dict[str, Any], occurred: datetime | None = None) -> None:
        self.data = data
        self.id: str | None = data.get("id")
        self.actor: dict[str, Any] = data["actor"]
        self.verb: dict[str, Any] = data["verb"]
        target: dict[str, Any] = data["object"]
        self.object_type: str = target.get("objectType", "Activity")
        self.activity: dict[str, Any] | None = target if self.object_type == "Activity" else None
        definition = target.get("definition", {}) if self.activity is not None else {}
        self.activity_type: str | None = definition.get("type")
        self.result: dict[str, Any] = data.get("result", {})
        self.context: dict[str, Any] = data.get("context", {})
        self.timestamp: str | None = data.get("timestamp")
        self.stored: str | None = data.get("stored")
        self.occurred = occurred  # ``timestamp``, else ``stored``, in UTC; None without both


def context_activities(context: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    value = context.get("contextActivities", {}).get(kind)
    if value is None:
        return []
    return [value] if isinstance(value, dict) else list(value)


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
        data = cast(dict[str, Any], STATEMENT.validate_python(obj))
    except ValidationError as exc:
        raise InvalidEvent("validation_error", statement_errors(exc)) from None
    errors, occurred = _check_rules(data)
    if errors:
        raise InvalidEvent("validation_error", errors)
    return Statement(data, occurred)


def _check_rules(data: dict[str, Any]) -> tuple[list[FieldError], datetime | None]:
    """What the shapes above cannot say; and when the learning happened."""
    errors: list[FieldError] = []
    occurred: datetime | None = None
    actor = data["actor"]
    identifiers = [name for name in IDENTIFIERS if name in actor]
    if len(identifiers) > 1:
        errors.append(FieldError("actor", ONE_IDENTIFIER, "value_error"))
    elif not identifiers and (
        actor.get("objectType", "Agent") == "Agent" or not actor.get("member")
    ):
        errors.append(FieldError("actor", NO_IDENTIFIER, "value_error"))
    score = data.get("result", {}).get("score")
    if score is not None and (problem := _score_problem(score)):
        errors.append(FieldError("result.score", problem, "value_error"))
    duration = data.get("result", {}).get("duration")
    if duration is not None and not ISO_DURATION.match(duration):
        message = "must be an ISO 8601 duration, e.g. PT1H30M or PT95.5S"
        errors.append(FieldError("result.duration", message, "value_error"))
    for name in ("timestamp", "stored"):
        if name in data:
            try:
                moment = parse_xapi_timestamp(data[name])
            except ValueError as exc:
                errors.append(FieldError(name, str(exc), "value_error"))
                continue
            occurred = occurred or moment
    return errors, occurred


def _score_problem(score: dict[str, float]) -> str | None:
    low, high, raw = score.get("min"), score.get("max"), score.get("raw")
    if low is not None and high is not None and not low < high:
        return "min must be less than max"
    if raw is not None and low is not None and raw < low:
        return "raw must not be less than min"
    if raw is not None and high is not None and raw > high:
        return "raw must not be more than max"
    return None


IDENTIFIERS = ("mbox", "mbox_sha1sum", "openid", "account")
ONE_IDENTIFIER = "must have exactly one identifier of mbox, mbox_sha1sum, openid, account"
NO_IDENTIFIER = (
    "must have one identifier of mbox, mbox_sha1sum, openid, account "
    "(only a Group with members may have none)"
)


def statement_errors(exc: ValidationError) -> list[FieldError]:
    """Pydantic's errors with dotted locations; of a union's alternatives (an object that is
    neither an Activity nor another kind) only the Activity's are reported."""
    errors: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for error in exc.errors(include_url=False, include_input=False):
        if any(isinstance(part, str) and part.startswith("OtherObject") for part in error["loc"]):
            continue
        parts = [str(part) for part in error["loc"] if not _is_union_tag(part)]
        loc = ".".join(parts)
        msg = error["msg"].removeprefix("Value error, ")
        if (loc, msg) in seen:
            continue
        seen.add((loc, msg))
        errors.append(FieldError(loc, msg, error["type"]))
    return errors or [FieldError("", "not a valid statement", "validation_error")]


_UNION_TAGS = ("Activity", "OtherObject", "list[Activity]", "function-after[", "list[")


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and part.startswith(_UNION_TAGS)
