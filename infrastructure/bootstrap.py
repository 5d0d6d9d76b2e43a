"""The composition root: the one place that wires adapters together.

``build(settings)`` is called by every entry point (CLI commands, the ASGI lifespan, workers).
It connects nothing at import time. ``services(settings)`` fills in any missing URL with an
embedded server (SPEC §9), migrating an embedded database on first start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis

from infrastructure.event_store.application import MasteryApplication
from infrastructure.ingest.service import IngestService
from infrastructure.projection.runner import Projector
from infrastructure.redis_views.keys import Keys
from infrastructure.redis_views.view import RedisMasteryView
from infrastructure.runtime.supervision import Workers
from infrastructure.settings import ConfigurationError, Settings

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    application: MasteryApplication
    ingest: IngestService
    workers: Workers = field(default_factory=Workers)  # the supervised workers running here
    _redis: redis.Redis | None = field(default=None, repr=False)
    _view: RedisMasteryView | None = field(default=None, repr=False)
    _projector: Projector | None = field(default=None, repr=False)

    @property
    def redis(self) -> redis.Redis:
        """The read models' Redis client, connected on first use."""
        if self._redis is None:
            if self.settings.redis_url is None:
                raise ConfigurationError("MASTERY_REDIS_URL is not set")
            self._redis = redis.Redis.from_url(
                self.settings.redis_url,
                socket_timeout=self.settings.redis_timeout_seconds,
                socket_connect_timeout=self.settings.redis_timeout_seconds,
                health_check_interval=30,
            )
        return self._redis

    @property
    def view(self) -> RedisMasteryView:
        if self._view is None:
            keys = Keys(self.settings.redis_prefix)
            self._view = RedisMasteryView(self.redis, keys, self.settings.snapshot_ttl_days)
        return self._view

    @property
    def projector(self) -> Projector:
        if self._projector is None:
            self._projector = Projector(
                self.application,
                self.view,
                self.settings.require_database_url(),
                batch_size=self.settings.projection_batch_size,
                settings=self.settings,
                workers=self.settings.projection_workers,
                registry=self.workers,
            )
        return self._projector

    def close(self) -> None:
        if self._projector is not None:
            self._projector.close()
        if self._redis is not None:
            self._redis.close()
        if self.application.keyring is not None:
            self.application.keyring.close()
        self.application.close()


@contextmanager
def build(settings: Settings) -> Iterator[Container]:
    application = MasteryApplication(settings)
    container = Container(
        settings=settings,
        application=application,
        ingest=IngestService(application, batch_size=settings.ingest_batch_size),
    )
    try:
        yield container
    finally:
        container.close()


@contextmanager
def services(settings: Settings, *, redis: bool = False, kafka: bool = False) -> Iterator[Settings]:
    """Settings with every needed URL: the configured ones, else embedded servers.

    Embedded servers live under ``settings.data_dir`` and stop when the block exits; their
    PostgreSQL data persists there between runs.
    """
    need_postgres = settings.database_url is None
    need_redis = redis and settings.redis_url is None
    need_kafka = kafka and settings.kafka_bootstrap_servers is None
    if not (need_postgres or need_redis or need_kafka):
        yield settings
        return
    from infrastructure.embedded.servers import EmbeddedServers  # noqa: PLC0415 - optional extra
    from infrastructure.migrate import upgrade  # noqa: PLC0415

    servers = EmbeddedServers(
        settings.data_dir, postgres=need_postgres, redis=need_redis, kafka=need_kafka
    )
    with servers as urls:
        resolved = settings.with_urls(
            urls.database_url, urls.redis_url, urls.kafka_bootstrap_servers
        )
        if need_postgres:
            log.info("using embedded PostgreSQL under %s", settings.data_dir)
            upgrade(resolved.require_database_url())
        yield resolved
