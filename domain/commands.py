"""Commands: what an ingest path asks the domain to do once an input has passed the contract.

Every ingest path (HTTP, files, Kafka) parses and validates at its edge and builds the same
plain command, so the event store records one shape whatever the input came through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.timestamps import format_timestamp

EVENT_TYPE = "mastery.calculation.requested"


@dataclass(frozen=True, slots=True)
class ValidatedEvent:
    """A learning event that passed the contract, normalized. Satisfies ``LearningEventFields``."""

    tenant_id: str
    student_id: str
    event_id: str
    occurred_at: datetime
    class_id: str | None
    topic: str
    component: str
    data: dict[str, Any]
    metadata: dict[str, Any] | None
    content_hash: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.tenant_id, self.event_id)

    def to_json_object(self) -> dict[str, Any]:
        """The normalized event in the input contract's own shape."""
        return {
            "event_id": self.event_id,
            "event_type": EVENT_TYPE,
            "timestamp": format_timestamp(self.occurred_at),
            "tenant_id": self.tenant_id,
            "student_id": self.student_id,
            "class_id": self.class_id,
            "component": self.component,
            "topic": self.topic,
            "data": self.data,
            "metadata": self.metadata,
        }
