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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.timestamps import format_timestamp
from infrastructure.ingest.contract import FieldError, InvalidEvent, canonical_json
from infrastructure.ingest.service import IgnoredInput, RefusedInput
from infrastructure.xapi.identity import class_of, student_of, topic_of
from infrastructure.xapi.mapping import Mapping, Rule
from infrastructure.xapi.mapping_file import load_mapping
from infrastructure.xapi.statement import Statement, parse_statement, parse_xapi_timestamp

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


class Translator:
    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping

    @classmethod
    def from_file(cls, path: Path | None) -> Translator:
        return cls(load_mapping(path))

    def translate(self, obj: object, tenant_id: str, now: datetime) -> Translation:
        """Never raises: whatever ``obj`` is, it gets a translation of its own."""
        try:
            return self._translate(obj, tenant_id, now)
        except Exception:
            log.exception("translation raised instead of rejecting a statement")
            given = _given_id(obj)
            return Translation(
                RefusedInput({"event_id": given}, InvalidEvent("validation_error", [UNCHECKABLE])),
                given,
                None,
            )

    def _translate(self, obj: object, tenant_id: str, now: datetime) -> Translation:
        given = _given_id(obj)
        try:
            statement = parse_statement(obj)
        except InvalidEvent as invalid:
            return Translation(RefusedInput({"event_id": given}, invalid), given, None)
        assert isinstance(obj, dict)  # parse_statement accepts objects only
        occurred = _learning_time(statement, now)
        statement_id = (statement.id or _content_id(obj, occurred)).lower()
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
        student = student_of(statement.actor)
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
                activity.id, self.mapping.topic.segments, self.mapping.topic.max_length
            ),
            "data": data,
            "metadata": {
                "source": "xapi",
                "rule": rule.name,
                "verb": statement.verb.id[:MAX_METADATA_IRI],
                "activity": activity.id[:MAX_METADATA_IRI],
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


def _learning_time(statement: Statement, now: datetime) -> str:
    """When the learning happened: ``timestamp``, else the LRS's ``stored``, else now."""
    for value in (statement.timestamp, statement.stored):
        if value is not None:
            return format_timestamp(parse_xapi_timestamp(value))
    return format_timestamp(now)


def _content_id(obj: dict[str, Any], occurred: str) -> str:
    """An id for a statement that came without one: the same statement sent again gets the
    same id (a duplicate, not a second event)."""
    content = canonical_json({**obj, "timestamp": occurred})
    return str(uuid.uuid5(STATEMENT_NAMESPACE, content.decode()))


def _given_id(obj: object) -> str | None:
    value = obj.get("id") if isinstance(obj, dict) else None
    return value if isinstance(value, str) and len(value) <= 128 else None
