"""Producing with confirmation: a message counts as written once the broker acknowledged it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from confluent_kafka import KafkaError

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


def deliver(producer: Any, topic: str, messages: Sequence[OutgoingMessage]) -> list[int]:
    """Produce ``messages`` and wait for every acknowledgement; the indexes that failed.

    The wait is bounded by the producer's ``message.timeout.ms``: each message is then either
    acknowledged or reported as failed.
    """
    failed: list[int] = []
    for index, message in enumerate(messages):
        _produce(
            producer,
            topic,
            key=message.key,
            value=message.value,
            headers=list(message.headers),
            on_delivery=_on_delivery(failed, index),
        )
    while producer.flush(1.0) > 0:
        pass
    return sorted(failed)


def _produce(producer: Any, topic: str, **message: Any) -> None:
    while True:
        try:
            producer.produce(topic, **message)
            return
        except BufferError:
            producer.poll(0.1)  # the local queue is full: let deliveries drain it


def _on_delivery(failed: list[int], index: int) -> Any:
    def on_delivery(error: KafkaError | None, _message: Any) -> None:
        if error is not None:
            log.warning("delivery_failed", error=str(error))
            failed.append(index)

    return on_delivery
