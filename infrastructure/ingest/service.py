"""The one ingest path: validate, then record idempotently in batches.

Every entry point (file backfill, HTTP, Kafka) hands its inputs here as parsed JSON objects (or
as the ``InvalidEvent`` its own parsing produced) and gets one ``Outcome`` per input, in order.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from domain.commands import ValidatedEvent
from infrastructure.event_store.application import MasteryApplication
from infrastructure.event_store.write_results import Status
from infrastructure.ingest.contract import FieldError, InvalidEvent, validate_event

log = logging.getLogger(__name__)

CONFLICT_ERROR = FieldError(
    "event_id", "this event_id was already recorded with different content", "conflict"
)
ERASED_ERROR = FieldError(
    "student_id", "this student has been erased; no new events are accepted", "student_erased"
)
FAILED_ERROR = FieldError(
    "", "the event passed validation but could not be applied; it was not recorded", "failed"
)
UNCHECKABLE_ERROR = FieldError("", "the event could not be validated", "validation_error")


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    event_id: str | None = None
    tenant_id: str | None = None
    student_id: str | None = None
    code: str | None = None  # why it was not accepted: invalid_json, validation_error, conflict…
    errors: tuple[FieldError, ...] = ()
    rule: str | None = None  # the mapping rule that ignored an input

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"status": self.status.value, "event_id": self.event_id}
        if self.code is not None:
            body["code"] = self.code
            body["errors"] = [error.as_dict() for error in self.errors]
        if self.rule is not None:
            body["rule"] = self.rule
        return body


@dataclass(frozen=True, slots=True)
class RefusedInput:
    """An input its entry point refused before validation (another tenant's event, say), kept
    whole so that its outcome still names the ``event_id`` it had."""

    item: object
    reason: InvalidEvent


@dataclass(frozen=True, slots=True)
class IgnoredInput:
    """An input its entry point's mapping turns into no event (an xAPI voiding statement, say):
    it is answered ``ignored`` with the rule and the reason, and nothing is written."""

    event_id: str | None
    tenant_id: str | None
    rule: str
    reason: FieldError


@dataclass(slots=True)
class IngestReport:
    outcomes: list[Outcome] = field(default_factory=list)
    position: int | None = None

    @property
    def counts(self) -> Counter[str]:
        return Counter(outcome.status.value for outcome in self.outcomes)

    @property
    def has_duplicates(self) -> bool:
        return any(outcome.status is Status.DUPLICATE for outcome in self.outcomes)


class IngestService:
    def __init__(
        self,
        application: MasteryApplication,
        *,
        batch_size: int = 2000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.application = application
        self.batch_size = batch_size
        self.clock = clock

    def ingest(self, items: Sequence[object]) -> IngestReport:
        """One outcome per item; an item is a parsed JSON value, an ``InvalidEvent``, a
        ``RefusedInput`` or an ``IgnoredInput``."""
        report = IngestReport()
        for start in range(0, len(items), self.batch_size):
            self.record(self.validate(items[start : start + self.batch_size]), report)
        return report

    def validate(self, items: Sequence[object]) -> ValidatedBatch:
        """The CPU-only half of ingest; callers may run it while a previous batch is recorded."""
        now = self.clock()
        batch = ValidatedBatch()
        for item in items:
            if isinstance(item, RefusedInput):
                batch.outcomes.append(_rejected(item.item, item.reason))
                continue
            if isinstance(item, IgnoredInput):
                batch.outcomes.append(_ignored(item))
                continue
            try:
                if isinstance(item, InvalidEvent):
                    raise item
                event = validate_event(item, now)
            except InvalidEvent as invalid:
                batch.outcomes.append(_rejected(item, invalid))
                continue
            except Exception:
                # A gap in the contract's checks must cost this one input, not the batch.
                log.exception("validation raised instead of rejecting an input")
                unchecked = InvalidEvent("validation_error", [UNCHECKABLE_ERROR])
                batch.outcomes.append(_rejected(item, unchecked))
                continue
            batch.slots.append(len(batch.outcomes))
            batch.outcomes.append(None)
            batch.events.append(event)
        return batch

    def record(self, batch: ValidatedBatch, report: IngestReport | None = None) -> IngestReport:
        """Write a validated batch (one transaction) and add its outcomes to ``report``."""
        report = IngestReport() if report is None else report
        outcomes = list(batch.outcomes)
        if batch.events:
            written = self.application.record_events(batch.events)
            for slot, event, status in zip(
                batch.slots, batch.events, written.statuses, strict=True
            ):
                outcomes[slot] = _outcome(event, status)
            if written.position is not None:
                report.position = max(report.position or 0, written.position)
        report.outcomes.extend(o for o in outcomes if o is not None)
        return report


@dataclass(slots=True)
class ValidatedBatch:
    outcomes: list[Outcome | None] = field(default_factory=list)  # None: awaiting the write
    events: list[ValidatedEvent] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)  # where each event's outcome goes


REFUSALS = {
    Status.ERASED: ("student_erased", ERASED_ERROR),
    Status.FAILED: ("processing_failed", FAILED_ERROR),
}


def _outcome(event: ValidatedEvent, status: Status) -> Outcome:
    if status in REFUSALS:
        code, error = REFUSALS[status]
        return Outcome(
            Status.REJECTED,
            event.event_id,
            event.tenant_id,
            event.student_id,
            code=code,
            errors=(error,),
        )
    conflict = status is Status.CONFLICT
    return Outcome(
        status,
        event.event_id,
        event.tenant_id,
        event.student_id,
        code="conflict" if conflict else None,
        errors=(CONFLICT_ERROR,) if conflict else (),
    )


def _ignored(item: IgnoredInput) -> Outcome:
    return Outcome(
        Status.IGNORED,
        item.event_id,
        item.tenant_id,
        code="ignored",
        errors=(item.reason,),
        rule=item.rule,
    )


def _rejected(item: object, invalid: InvalidEvent) -> Outcome:
    event_id = item.get("event_id") if isinstance(item, dict) else None
    return Outcome(
        Status.REJECTED,
        event_id if isinstance(event_id, str) else None,
        code=invalid.code,
        errors=tuple(invalid.errors),
    )
