"""The composition root: the one place that wires adapters together.

Only entry points import it (the CLI commands, the ASGI lifespan; tests and benchmarks too):
use cases and workers get what they need as parameters. ``build(settings)`` connects nothing at
import time. ``with_servers(settings)`` fills in any missing URL with an embedded server (SPEC
§9), migrating an embedded database on first start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from domain.mastery.formulas import formula_named
from infrastructure.embedded.servers import EmbeddedServers
from infrastructure.event_store.application import MasteryApplication
from infrastructure.event_store.lifecycle import close_application
from infrastructure.generations.followers import Followers
from infrastructure.generations.registry import Generation, GenerationRegistry
from infrastructure.ingest.service import IngestService
from infrastructure.migrate import upgrade
from infrastructure.projection.runner import Projector
from infrastructure.redis_views.commands import RedisClient
from infrastructure.redis_views.connect import close_redis, mastery_view, redis_client
from infrastructure.redis_views.keys import Keys
from infrastructure.redis_views.view import RedisMasteryView
from infrastructure.runtime.supervision import Workers
from infrastructure.settings import ConfigurationError, Settings
from projections.queries import StudentQueries

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    application: MasteryApplication
    ingest: IngestService
    workers: Workers = field(default_factory=Workers)  # the supervised workers running here
    _redis: RedisClient | None = field(default=None, repr=False)
    _view: RedisMasteryView | None = field(default=None, repr=False)
    _projector: Projector | None = field(default=None, repr=False)
    _followers: Followers | None = field(default=None, repr=False)
    _views: dict[str, RedisMasteryView] = field(default_factory=dict, repr=False)

    @property
    def redis(self) -> RedisClient:
        """The read models' Redis client, connected on first use."""
        if self._redis is None:
            self._redis = redis_client(self.settings)
        return self._redis

    @property
    def view(self) -> RedisMasteryView:
        if self._view is None:
            self._view = mastery_view(self.redis, self.settings)
        return self._view

    @property
    def projector(self) -> Projector:
        """The main generation's projector; it also follows every other ready generation."""
        if self._projector is None:
            self._followers = Followers(
                self.generations, self.projector_of, self.settings.redis_prefix
            )
            self._projector = Projector(
                self.application,
                self.view,
                self.settings.require_database_url(),
                batch_size=self.settings.projection_batch_size,
                settings=self.settings,
                workers=self.settings.projection_workers,
                registry=self.workers,
                companions=self._followers,
            )
        return self._projector

    # --- generations (SPEC §4b) ------------------------------------------------------------

    @property
    def generations(self) -> GenerationRegistry:
        return GenerationRegistry(self.redis, self.settings.redis_prefix)

    def view_of(self, generation: Generation) -> RedisMasteryView:
        """The read models of one generation (kept per prefix)."""
        if generation.prefix == self.settings.redis_prefix:
            return self.view
        if generation.prefix not in self._views:
            self._views[generation.prefix] = RedisMasteryView(
                self.redis, Keys(generation.prefix), self.settings.snapshot_ttl_days
            )
        return self._views[generation.prefix]

    def queries_of(self, generation: Generation) -> StudentQueries:
        """What the API reads, over one generation: replays use the generation's formula."""
        return StudentQueries(
            self.view_of(generation),
            self.application,
            snapshot_ttl_days=self.settings.snapshot_ttl_days,
            formula=formula_named(generation.formula),
        )

    def generation_views(self) -> dict[str, RedisMasteryView]:
        """Every generation's view by name, as the registry says now (erasure seals all)."""
        return {g.name: self.view_of(g) for g in self.generations.all()}

    def projector_of(self, generation: Generation) -> Projector:
        """A projector of its own for one generation: its formula, its prefix (worker
        processes of a bulk pass get it through the settings), its tracked position."""
        settings = replace(self.settings, redis_prefix=generation.prefix)
        return Projector(
            self.application,
            self.view_of(generation),
            settings.require_database_url(),
            batch_size=settings.projection_batch_size,
            settings=settings,
            workers=settings.projection_workers,
            formula=generation.formula_policy(),
        )

    def close(self) -> None:
        if self._followers is not None:
            self._followers.close()
        if self._projector is not None:
            self._projector.close()
        if self._redis is not None:
            close_redis(self._redis)
        close_application(self.application)


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
def with_servers(
    settings: Settings, *, redis: bool = False, kafka: bool = False
) -> Iterator[Settings]:
    """Settings with every needed URL: the configured ones, else embedded servers.

    Embedded servers live under ``settings.data_dir`` and stop when the block exits; their
    PostgreSQL data persists there between runs.
    """
    need_postgres = settings.database_url is None
    need_redis = redis and settings.redis_url is None
    if need_redis and settings.redis_cluster:
        raise ConfigurationError(
            "MASTERY_REDIS_CLUSTER=true needs MASTERY_REDIS_URL (any node of the cluster): "
            "the embedded Redis is a single server"
        )
    need_kafka = kafka and settings.kafka_bootstrap_servers is None
    if not (need_postgres or need_redis or need_kafka):
        yield settings
        return
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
