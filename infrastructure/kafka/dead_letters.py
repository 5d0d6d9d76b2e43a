"""The dead-letter topic: every input message that cannot be accepted, kept verbatim (SPEC §6).

A record is a JSON object::

    {"dlq_id": uuid5 of the origin, "event_type": "mastery.dead_letter",
     "origin": {"topic", "partition", "offset"},
     "value": base64 of the original bytes (null for a tombstone),
     "key": base64 or null, "headers": [{"key": str, "value": base64 or null}],
     "event_id": str or null, "tenant_id": str or null,
     "error": {"code", "detail", "errors": [{"loc", "msg", "type"}]},
     "dead_lettered_at": RFC 3339}

The DLQ message keeps the original key (so it lands beside its siblings) and carries the
error code in the ``mastery-error-code`` header. A crash between the DLQ write and the offset
commit writes the same record again; ``dlq_id`` lets a reader drop the repeat.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import NAMESPACE_URL, uuid5

import orjson

from domain.timestamps import format_timestamp
from infrastructure.ingest.contract import FieldError
from infrastructure.kafka.inbound import InboundMessage
from infrastructure.kafka.producing import OutgoingMessage

DLQ_CODES = ("invalid_json", "validation_error", "conflict", "processing_failed")
# Input-contract codes outside SPEC §6's list map onto it; the field errors keep the detail.
_CODE_ALIASES = {"too_large": "validation_error", "student_erased": "validation_error"}


@dataclass(frozen=True, slots=True)
class DeadLetter:
    message: InboundMessage
    code: str
    errors: tuple[FieldError, ...]
    event_id: str | None = None
    tenant_id: str | None = None

    @property
    def dlq_code(self) -> str:
        code = _CODE_ALIASES.get(self.code, self.code)
        return code if code in DLQ_CODES else "processing_failed"

    @property
    def detail(self) -> str:
        return "; ".join(f"{e.loc}: {e.msg}" if e.loc else e.msg for e in self.errors)

    @property
    def dlq_id(self) -> str:
        origin = self.message.origin
        return str(
            uuid5(NAMESPACE_URL, f"mastery-dlq:{origin.topic}/{origin.partition}/{origin.offset}")
        )

    def record(self, now: datetime | None = None) -> bytes:
        origin = self.message.origin
        moment = format_timestamp(now or datetime.now(UTC))
        return orjson.dumps(
            {
                "dlq_id": self.dlq_id,
                "event_type": "mastery.dead_letter",
                "origin": {
                    "topic": origin.topic,
                    "partition": origin.partition,
                    "offset": origin.offset,
                },
                "value": _b64(self.message.value),
                "key": _b64(self.message.key),
                "headers": [{"key": k, "value": _b64(v)} for k, v in self.message.headers],
                "event_id": self.event_id,
                "tenant_id": self.tenant_id,
                "error": {
                    "code": self.dlq_code,
                    "detail": self.detail,
                    "errors": [error.as_dict() for error in self.errors],
                },
                "dead_lettered_at": moment,
            }
        )

    def outgoing(self) -> OutgoingMessage:
        """The DLQ message: the original key, the record, the error code as a header."""
        return OutgoingMessage(
            self.message.key, self.record(), (("mastery-error-code", self.dlq_code.encode()),)
        )


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode("ascii")
