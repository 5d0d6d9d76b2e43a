"""The broker for Kafka integration tests.

With ``MASTERY_TEST_KAFKA_BOOTSTRAP_SERVERS`` (or ``MASTERY_KAFKA_BOOTSTRAP_SERVERS``) set,
tests use that cluster; otherwise the embedded broker (tansu) is started once per session.
Each test uses topics and a consumer group of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from infrastructure.settings import Settings, database_parts
from tests.e2e.http.support import CuttableProxy


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("MASTERY_TEST_KAFKA_BOOTSTRAP_SERVERS") or os.environ.get(
        "MASTERY_KAFKA_BOOTSTRAP_SERVERS"
    )
    if configured:
        yield configured
        return
    from infrastructure.embedded.servers import EmbeddedServers

    servers = EmbeddedServers(
        tmp_path_factory.mktemp("broker"), postgres=False, redis=False, kafka=True
    )
    urls = servers.start()
    assert urls.kafka_bootstrap_servers is not None
    yield urls.kafka_bootstrap_servers
    servers.stop()


def kafka_settings(base: Settings, bootstrap: str, **overrides: object) -> Settings:
    """``base`` pointed at ``bootstrap`` with topics and a group no other test uses."""
    run = uuid.uuid4().hex[:10]
    values: dict[str, object] = {
        "kafka_bootstrap_servers": bootstrap,
        "kafka_requests_topic": f"requests-{run}",
        "kafka_results_topic": f"results-{run}",
        "kafka_dlq_topic": f"dlq-{run}",
        "kafka_group_id": f"ingest-{run}",
        "kafka_partitions": 3,
        "kafka_session_timeout_ms": 3000,
        **overrides,
    }
    return replace(base, **values)  # type: ignore[arg-type]


@pytest.fixture
def kafka(settings: Settings, kafka_bootstrap: str) -> Settings:
    return kafka_settings(settings, kafka_bootstrap)


@pytest.fixture
def proxy(kafka: Settings) -> Iterator[CuttableProxy]:
    """A cuttable TCP proxy in front of the test's PostgreSQL (see ``through``)."""
    parts = database_parts(kafka.require_database_url())
    cuttable = CuttableProxy(parts.host, parts.port)
    yield cuttable
    cuttable.close()
