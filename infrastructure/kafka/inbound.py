"""The edge of the ingest worker: a Kafka message becomes a plain record and an ingest item.

Nothing past this module sees a confluent-kafka ``Message``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from domain.identifiers import check_tenant
from infrastructure.ingest.contract import DEFAULT_TENANT, FieldError, InvalidEvent, parse_json
from infrastructure.ingest.service import RefusedInput

XAPI_CONTENT_TYPE = b"application/xapi+json"
XAPI_VERSION_HEADER = "x-experience-api-version"
TENANT_HEADER = "mastery-tenant"
# A parsed statement and its tenant become an ingest item (infrastructure.xapi.translate).
Translate = Callable[[object, str], object]


@dataclass(frozen=True, slots=True)
class Origin:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """What a learning agent sent, exactly: bytes, key, headers, and where it was read."""

    origin: Origin
    value: bytes | None
    key: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]

    @classmethod
    def of(cls, message: Any) -> InboundMessage:
        """From a confluent-kafka ``Message`` (typed ``Any``: the library ships no stubs)."""
        return cls(
            Origin(str(message.topic()), int(message.partition()), int(message.offset())),
            message.value(),
            message.key(),
            tuple((str(name), value) for name, value in (message.headers() or [])),
        )

    def item(self, translate: Translate | None = None) -> object:
        """The ingest item: the parsed JSON value, or the ``InvalidEvent`` parsing gave. An
        xAPI statement (``content-type: application/xapi+json`` or an
        ``X-Experience-API-Version`` header) goes through ``translate`` first, in the tenant
        the ``mastery-tenant`` header names (``default`` without one)."""
        if self.value is None:
            return InvalidEvent(
                "invalid_json", [FieldError("", "the message has no value (a tombstone)", "json")]
            )
        try:
            parsed = parse_json(self.value)
        except InvalidEvent as invalid:
            return invalid
        if translate is None or not self.is_xapi():
            return parsed
        return self._statement(parsed, translate)

    def is_xapi(self) -> bool:
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == XAPI_VERSION_HEADER:
                return True
            if lowered == "content-type" and _media_type(value) == XAPI_CONTENT_TYPE:
                return True
        return False

    def _statement(self, parsed: object, translate: Translate) -> object:
        if isinstance(parsed, list):
            error = FieldError("", "a message holds one statement, not an array", "type")
            return InvalidEvent("validation_error", [error])
        tenant = self._header(TENANT_HEADER) or DEFAULT_TENANT
        try:
            check_tenant(tenant)
        except ValueError as exc:
            error = FieldError(f"headers.{TENANT_HEADER}", str(exc), "pattern")
            return RefusedInput({}, InvalidEvent("validation_error", [error]))
        return translate(parsed, tenant)

    def _header(self, wanted: str) -> str | None:
        for name, value in self.headers:
            if name.lower() == wanted and value is not None:
                return value.decode("utf-8", errors="replace")
        return None


def _media_type(value: bytes | None) -> bytes | None:
    return None if value is None else value.split(b";")[0].strip().lower()
