"""librdkafka configurations derived from the settings, one function per client role.

Every client also gets ``MASTERY_KAFKA_CONFIG``'s properties (SASL, TLS, tuning): they may
override the engine's tuning, never what its guarantees rest on (the settings refuse those).
"""

from __future__ import annotations

from typing import Any

from infrastructure.settings import PREFIX, ConfigurationError, Settings


def bootstrap_servers(settings: Settings) -> str:
    if settings.kafka_bootstrap_servers is None:
        raise ConfigurationError(f"{PREFIX}KAFKA_BOOTSTRAP_SERVERS is not set")
    return settings.kafka_bootstrap_servers


def client_config(settings: Settings, engine: dict[str, Any] | None = None) -> dict[str, Any]:
    """The brokers, the engine's own properties, then the configured pass-through ones."""
    return {
        "bootstrap.servers": bootstrap_servers(settings),
        **(engine or {}),
        **settings.kafka_config.as_dict(),
    }


def admin_config(settings: Settings) -> dict[str, Any]:
    return client_config(settings)


def consumer_config(settings: Settings) -> dict[str, Any]:
    """Offsets are committed by the worker only, after its batch is durable."""
    session_timeout = settings.kafka_session_timeout_ms
    return client_config(
        settings,
        {
            "group.id": settings.kafka_group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": session_timeout,
            "heartbeat.interval.ms": max(100, session_timeout // 10),
            "max.poll.interval.ms": 600_000,  # a long database outage must not evict the worker
            "partition.assignment.strategy": "range",
            "reconnect.backoff.max.ms": 2000,
            "topic.metadata.refresh.interval.ms": 10_000,
        },
    )


def producer_config(settings: Settings) -> dict[str, Any]:
    """Idempotent, fully acknowledged: a delivered message is on every in-sync replica."""
    return client_config(
        settings,
        {
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 10,
            "message.timeout.ms": 30_000,
            "reconnect.backoff.max.ms": 2000,
        },
    )
