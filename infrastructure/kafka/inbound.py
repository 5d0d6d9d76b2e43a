"""The edge of the ingest worker: a Kafka message becomes a plain record and an ingest item.

Nothing past this module sees a confluent-kafka ``Message``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infrastructure.ingest.contract import FieldError, InvalidEvent, parse_json


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

    def item(self) -> object:
        """The ingest item: the parsed JSON value, or the ``InvalidEvent`` parsing gave."""
        if self.value is None:
            return InvalidEvent(
                "invalid_json", [FieldError("", "the message has no value (a tombstone)", "json")]
            )
        try:
            return parse_json(self.value)
        except InvalidEvent as invalid:
            return invalid
