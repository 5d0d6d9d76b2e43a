"""What the store check knows of the stored rows, as ``check_reader.py`` reads them.

A stored event becomes a ``StoredFact`` (what the rules need of it, its state left behind once
decoded); an id row of ``mastery_event_ids`` becomes an ``IdRow``. The rules of
``invariants.py`` and the plan of ``repair_plan.py`` work on these alone, without a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID


class FactKind(StrEnum):
    ENROLLED = "enrolled"
    LEARNING = "learning"
    OTHER = "other"
    UNREADABLE = "unreadable"


@dataclass(frozen=True, slots=True)
class IdRow:
    tenant_id: str
    event_id: str
    content_hash: str  # hex
    originator_id: UUID
    originator_version: int


@dataclass(frozen=True, slots=True)
class StoredFact:
    """What the check knows of one stored event, its state left behind once decoded."""

    originator_id: UUID
    version: int
    notification_id: int
    kind: FactKind
    event_id: str | None = None  # learning events
    content_hash: str | None = None  # learning events
    tenant_id: str | None = None  # enrolment
    student_id: str | None = None  # enrolment
    detail: str = ""  # why it is unreadable
    id_rows: tuple[IdRow, ...] = ()  # the id rows that point at this event


@dataclass(frozen=True, slots=True)
class Location:
    originator_id: UUID
    version: int
    notification_id: int


@dataclass(frozen=True, slots=True)
class Target:
    """Where the id row of an event_id points, and what is stored there."""

    row: IdRow
    location: Location | None  # None: nothing is stored there
    tenant_id: str | None  # of the aggregate stored there
    event_id: str | None  # the event_id the event stored there carries


def event_id_of(fact: StoredFact) -> str:
    """The event_id of a learning event's fact (which always carries one)."""
    assert fact.event_id is not None
    return fact.event_id


def content_hash_of(fact: StoredFact) -> str:
    """The content hash of a learning event's fact (which always carries one)."""
    assert fact.content_hash is not None
    return fact.content_hash
