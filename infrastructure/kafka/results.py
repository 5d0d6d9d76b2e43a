"""Output messages on ``mastery.results`` (SPEC §6), built from the aggregate's state.

``mastery.updated`` follows the seeds' schema (``event_id, event_type, timestamp, student_id,
mastery_score, components, recommendations``) plus ``tenant_id``, ``level``, ``position``,
``as_of``, ``breakdown`` and ``formula``. ``mastery.threshold.reached`` reports one level
change with ``from_level``, ``to_level`` and ``direction`` (``up`` / ``down``).

Mastery is as of the student's last activity date (what ``current_mastery`` shows); a student
without learning events counts as ``beginner`` (the level of a score of 0). ``timestamp`` is
when the event store recorded the triggering event, and ``event_id`` is uuid5 of (kind, tenant,
student, position), so a re-published message is byte-for-byte the one published before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import orjson

from domain.mastery import LEVELS, LOWEST_LEVEL, Mastery
from domain.timestamps import format_timestamp
from infrastructure.kafka.producing import OutgoingMessage

UPDATED = "mastery.updated"
THRESHOLD_REACHED = "mastery.threshold.reached"
INITIAL_LEVEL = LOWEST_LEVEL
LEVEL_ORDER = (LOWEST_LEVEL, *(level for _, level in reversed(LEVELS)))


def result_event_id(kind: str, tenant_id: str, student_id: str, position: int) -> str:
    return str(uuid5(NAMESPACE_URL, f"mastery-results:{kind}:{tenant_id}/{student_id}@{position}"))


def student_key(tenant_id: str, student_id: str) -> bytes:
    return f"{tenant_id}/{student_id}".encode()


def mastery_updated(
    tenant_id: str, student_id: str, mastery: Mastery, position: int, recorded_at: datetime
) -> OutgoingMessage:
    document = mastery.to_document(with_topics=False)
    body: dict[str, Any] = {
        "event_id": result_event_id(UPDATED, tenant_id, student_id, position),
        "event_type": UPDATED,
        "timestamp": format_timestamp(recorded_at),
        "tenant_id": tenant_id,
        "student_id": student_id,
        "mastery_score": document["mastery_score"],
        "level": document["level"],
        "components": document["components"],
        "breakdown": document["breakdown"],
        "recommendations": document["recommendations"],
        "as_of": document["as_of"],
        "formula": document["formula"],
        "position": position,
    }
    return OutgoingMessage(student_key(tenant_id, student_id), orjson.dumps(body))


def threshold_reached(
    tenant_id: str,
    student_id: str,
    from_level: str,
    mastery: Mastery,
    position: int,
    recorded_at: datetime,
    learning_event_id: str,
) -> OutgoingMessage:
    direction = "up" if LEVEL_ORDER.index(mastery.level) > LEVEL_ORDER.index(from_level) else "down"
    body: dict[str, Any] = {
        "event_id": result_event_id(THRESHOLD_REACHED, tenant_id, student_id, position),
        "event_type": THRESHOLD_REACHED,
        "timestamp": format_timestamp(recorded_at),
        "tenant_id": tenant_id,
        "student_id": student_id,
        "from_level": from_level,
        "to_level": mastery.level,
        "direction": direction,
        "mastery_score": mastery.to_document(with_topics=False)["mastery_score"],
        "as_of": mastery.as_of.isoformat(),
        "learning_event_id": learning_event_id,
        "position": position,
    }
    return OutgoingMessage(student_key(tenant_id, student_id), orjson.dumps(body))
