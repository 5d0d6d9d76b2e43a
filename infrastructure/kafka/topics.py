"""Create the product's topics if they are missing, with the configured partitions."""

from __future__ import annotations

import structlog
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from infrastructure.kafka.config import admin_config
from infrastructure.settings import Settings

log = structlog.get_logger(__name__)


def product_topics(settings: Settings) -> list[str]:
    return [settings.kafka_requests_topic, settings.kafka_results_topic, settings.kafka_dlq_topic]


def ensure_topics(settings: Settings, topics: list[str] | None = None, timeout: float = 15) -> None:
    """Create each topic that does not exist yet; existing topics are left as they are."""
    admin = AdminClient(admin_config(settings))
    wanted = topics if topics is not None else product_topics(settings)
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [name for name in wanted if name not in existing]
    if not missing:
        return
    futures = admin.create_topics(
        [
            NewTopic(
                name,
                num_partitions=settings.kafka_partitions,
                replication_factor=settings.kafka_replication_factor,
            )
            for name in missing
        ],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    for name, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
        log.info("topic_created", topic=name, partitions=settings.kafka_partitions)
