"""A statement becomes an ingest item: a learning event (SPEC §3) for the shared ingest path,
an ``IgnoredInput`` (the mapping's rule says why), or a ``RefusedInput`` (the statement is not
valid xAPI, with its field errors).

The learning event is then validated by the same contract and written by the same idempotent
path as every other input, so what the store compares for a repeated statement id is the
mapped event: two statements that differ only in what the mapping does not read (``stored``,
``authority``, a description, the statement's ``version``) are the same event, a duplicate.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from domain.errors import StudentErasedError, UnknownStudentError
from domain.timestamps import format_timestamp
from infrastructure.event_store.application import MasteryApplication
from infrastructure.ingest.contract import FieldError, InvalidEvent, canonical_json
from infrastructure.ingest.service import IgnoredInput, RefusedInput
from infrastructure.settings import PREFIX, ConfigurationError, Settings
from infrastructure.xapi.identity import class_of, student_of, topic_of
from infrastructure.xapi.mapping import Mapping, Rule
from infrastructure.xapi.mapping_file import MappingFileError, load_mapping
from infrastructure.xapi.statement import Statement, parse_statement

log = logging.getLogger(__name__)

# The namespace of the ids given to statements that came without one (uuid5 of their content).
STATEMENT_NAMESPACE = uuid.UUID("7d0c4c52-3f43-5a43-9c0a-5d1b3c7f1e20")
MAX_METADATA_IRI = 512
NO_RULE = "no-rule"
UNCHECKABLE = FieldError("", "the statement could not be checked", "validation_error")


@dataclass(frozen=True, slots=True)
class Translation:
    """What one statement became, and what the xAPI answer says about it."""

    item: object  # a learning event dict, an IgnoredInput or a RefusedInput
    statement_id: str | None  # its id, given or assigned; None when it had no usable one
    rule: str | None  # the mapping rule that decided (None: the statement was invalid)


# When a statement (by tenant, student and statement id) was recorded, if it was.
StoredTime = Callable[[str, str, str], datetime | None]


class StoreUnavailableError(RuntimeError):
    """Looking up a stored statement failed: the caller's retry or 503, not a rejection."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        self.original = original


class Translator:
    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping

    @classmethod
    def from_file(cls, path: Path | None) -> Translator:
        return cls(load_mapping(path))

    @classmethod
    def from_settings(cls, settings: Settings) -> Translator:
        """The translator of ``MASTERY_XAPI_MAPPING`` (the default when unset); a file that
        cannot be used stops the start with every problem named."""
        try:
            return cls.from_file(settings.xapi_mapping)
        except MappingFileError as exc:
            raise ConfigurationError(f"{PREFIX}XAPI_MAPPING: {exc}") from None

    def translate(
        self,
        obj: object,
        tenant_id: str,
        now: datetime,
        stored_time: StoredTime | None = None,
    ) -> Translation:
        """Whatever ``obj`` is, it gets a translation of its own; only ``stored_time`` failing
        raises (``StoreUnavailableError``).

        A statement without ``timestamp`` (and without ``stored``) is dated now, unless
        ``stored_time`` finds its id already recorded: then it keeps the recorded time, so
        sending it again is a duplicate, as an LRS treats it, not a conflict."""
        try:
            return self._translate(obj, tenant_id, now, stored_time)
        except StoreUnavailableError as failed:
            raise failed.original from None  # the store's own error: a 503, a retried batch
        except Exception:
            log.exception("translation raised instead of rejecting a statement")
            given = _given_id(obj)
            return Translation(
                RefusedInput({"event_id": given}, InvalidEvent("validation_error", [UNCHECKABLE])),
                given,
                None,
            )

    def items_of(
        self, tenant_id: str, now: datetime, stored_time: StoredTime | None = None
    ) -> Callable[[object], object]:
        """Statements of one tenant to ingest items (a file's, a batch's)."""
        return lambda obj: self.translate(obj, tenant_id, now, stored_time).item

    def _translate(
        self, obj: object, tenant_id: str, now: datetime, stored_time: StoredTime | None
    ) -> Translation:
        given = _given_id(obj)
        try:
            statement = parse_statement(obj)
            assert isinstance(obj, dict)  # parse_statement accepts objects only
            occurred = _learning_time(statement, now)
            statement_id = (statement.id or _content_id(obj, occurred)).lower()
        except InvalidEvent as invalid:
            return Translation(RefusedInput({"event_id": given}, invalid), given, None)
        student = student_of(statement.actor)
        if statement.timestamp is None and statement.stored is None and stored_time and student:
            try:
                recorded = stored_time(tenant_id, student, statement_id)
            except Exception as exc:
                raise StoreUnavailableError(exc) from exc
            if recorded is not None:
                occurred = format_timestamp(recorded)
        rule = self.mapping.rule_for(statement)
        if rule is None:
            reason = FieldError("verb.id", "no rule of the mapping matches this statement", NO_RULE)
            return Translation(
                IgnoredInput(statement_id, tenant_id, NO_RULE, reason), statement_id, NO_RULE
            )
        if rule.ignore is not None:
            reason = FieldError("", rule.ignore, "ignored")
            return Translation(
                IgnoredInput(statement_id, tenant_id, rule.name, reason), statement_id, rule.name
            )
        if student is None:
            reason = FieldError("actor", "an anonymous group names no learner", "anonymous-group")
            return Translation(
                IgnoredInput(statement_id, tenant_id, "anonymous-group", reason),
                statement_id,
                "anonymous-group",
            )
        event = self._event(statement, obj, rule, student, statement_id, tenant_id, occurred)
        return Translation(event, statement_id, rule.name)

    def _event(
        self,
        statement: Statement,
        raw: dict[str, Any],
        rule: Rule,
        student: str,
        statement_id: str,
        tenant_id: str,
        occurred: str,
    ) -> dict[str, Any]:
        activity = statement.activity
        assert activity is not None  # rules ignore other objects; an unmatched one is NO_RULE
        verb_id: str = statement.verb["id"]
        activity_id: str = activity["id"]
        data = {
            name: value
            for name, extractor in rule.data.items()
            if (value := extractor.extract(statement, raw)) is not None
        }
        classes = self.mapping.class_
        event: dict[str, Any] = {
            "event_id": statement_id,
            "timestamp": occurred,
            "tenant_id": tenant_id,
            "student_id": student,
            "component": rule.component,
            "topic": topic_of(
                activity_id, self.mapping.topic.segments, self.mapping.topic.max_length
            ),
            "data": data,
            "metadata": {
                "source": "xapi",
                "rule": rule.name,
                "verb": verb_id[:MAX_METADATA_IRI],
                "activity": activity_id[:MAX_METADATA_IRI],
            },
        }
        class_id = class_of(
            statement.context,
            classes.extension,
            classes.activity_types,
            classes.context_activities,
        )
        if class_id is not None:
            event["class_id"] = class_id
        return event


def stored_times(application: MasteryApplication) -> StoredTime:
    """The recorded time of a student's event, from the event store (the student's history is
    read: only statements sent without a timestamp ask)."""

    def stored_time(tenant_id: str, student_id: str, event_id: str) -> datetime | None:
        try:
            for event in application.learning_events(tenant_id, student_id):
                if event.event_id == event_id:
                    return event.occurred_at
        except (UnknownStudentError, StudentErasedError):
            return None
        return None

    return stored_time


def _learning_time(statement: Statement, now: datetime) -> str:
    """When the learning happened: ``timestamp``, else the LRS's ``stored``, else now."""
    return format_timestamp(statement.occurred or now)


def _content_id(obj: dict[str, Any], occurred: str) -> str:
    """An id for a statement that came without one: the same statement sent again gets the
    same id (a duplicate, not a second event)."""
    try:
        content = canonical_json({**obj, "timestamp": occurred})
    except orjson.JSONEncodeError:  # nested deeper than JSON encoders go (255 levels)
        error = FieldError("", "the statement is nested too deeply to be identified", "depth")
        raise InvalidEvent("validation_error", [error]) from None
    return str(uuid.uuid5(STATEMENT_NAMESPACE, content.decode()))


def _given_id(obj: object) -> str | None:
    value = obj.get("id") if isinstance(obj, dict) else None
    return value if isinstance(value, str) and len(value) <= 128 else None
