"""What a batch write answers: one status per event, and why a batch could not be written.

Callers (ingest, Kafka, backfill, the HTTP guard) need only these names, not the write path
that produces them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    REJECTED = "rejected"
    IGNORED = "ignored"  # an input its mapping turns into no event (an xAPI voiding statement)
    ERASED = "erased"  # internal: reported to producers as rejected, code student_erased
    FAILED = "failed"  # internal: the aggregate refused it; rejected, code processing_failed


@dataclass(frozen=True, slots=True)
class WriteResult:
    statuses: list[Status]  # one per input event, in input order
    position: int | None  # highest notification id written (None if nothing was written)


class WriteContentionError(RuntimeError):
    def __init__(self, size: int, attempts: int) -> None:
        super().__init__(f"could not record a batch of {size} events after {attempts} attempts")
